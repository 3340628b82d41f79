package loopback

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// The hostile endpoints: what a client meets when a record points at the
// wrong thing. Each must make the attempt fail and the client move on
// (C3). A wrong-domain stream is StartXMPP with XMPPConfig.Domain set; a
// stream error is XMPPConfig.StreamError; a WebSocket without the xmpp
// subprotocol is HTTPConfig.OmitSubprotocol; a rogue CA or pin mismatch is
// any good endpoint given another certificate.

var discardLog = log.New(io.Discard, "", 0)

// Blackhole accepts TCP connections and never sends a byte: the dead
// address that Happy Eyeballs (C5) must not wait on for the full timeout.
type Blackhole struct{ *endpoint }

// StartBlackhole starts a blackhole on addr (loopback "ip:port"). Its
// contacts record the connections it swallowed (only Remote is set; a
// connection may be recorded a moment after the client's connect returns).
func StartBlackhole(addr string) (*Blackhole, error) {
	e, err := listenLoopback(addr)
	if err != nil {
		return nil, err
	}
	e.serve(func(c net.Conn) {
		e.newContact(c.RemoteAddr())
		io.Copy(io.Discard, c) // until the client or Close closes it
	})
	return &Blackhole{e}, nil
}

// RefusedAddr returns an address on loopback ip (e.g. "127.0.0.3") with
// nothing listening, so that a connection attempt is refused at once. It
// binds a free port and releases it; another process could take that port
// in between, which on a test machine is unlikely enough.
func RefusedAddr(ip string) (netip.AddrPort, error) {
	e, err := listenLoopback(net.JoinHostPort(ip, "0"))
	if err != nil {
		return netip.AddrPort{}, err
	}
	a := e.Addr()
	return a, e.Close()
}

// HTTPServer is a plain web server where XMPP was expected: plaintext
// HTTP (StartHTTPOnly), so a TLS client fails its handshake, or HTTPS
// (StartHTTPS), so the stream header gets "HTTP/1.1 400 Bad Request" and
// a WebSocket upgrade or BOSH POST gets an HTML page.
type HTTPServer struct{ *httpEndpoint }

// notXMPPPage is what the web server answers any request with.
const notXMPPPage = "<!DOCTYPE html>\n<html><head><title>It works</title></head><body>A web site, not XMPP.</body></html>\n"

func serveWebPage(w http.ResponseWriter, r *http.Request, _ int) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	io.WriteString(w, notXMPPPage)
}

// StartHTTPOnly starts a plaintext HTTP server on addr.
func StartHTTPOnly(addr string) (*HTTPServer, error) {
	he, err := startHTTP(addr, nil, serveWebPage)
	if err != nil {
		return nil, err
	}
	return &HTTPServer{he}, nil
}

// StartHTTPS starts an HTTPS web server on addr presenting cert.
func StartHTTPS(addr string, cert *tls.Certificate) (*HTTPServer, error) {
	if cert == nil {
		return nil, fmt.Errorf("loopback: StartHTTPS needs a certificate")
	}
	he, err := startHTTP(addr, cert, serveWebPage)
	if err != nil {
		return nil, err
	}
	return &HTTPServer{he}, nil
}

// SMTPBanner is the greeting the banner endpoint sends.
const SMTPBanner = "220 mail.example.net ESMTP hacxtest\r\n"

// BannerServer greets every connection with SMTPBanner, the way a mail
// server on a misconfigured port would, then holds the connection.
type BannerServer struct{ *endpoint }

// StartSMTP starts a banner endpoint on addr. With cert nil it speaks
// plaintext, so a TLS client fails its handshake; with a cert it completes
// TLS first (SMTPS-style), so the banner arrives where the stream header
// should (C3).
func StartSMTP(addr string, cert *tls.Certificate) (*BannerServer, error) {
	e, err := listenLoopback(addr)
	if err != nil {
		return nil, err
	}
	s := &BannerServer{e}
	e.serve(func(c net.Conn) {
		i := e.newContact(c.RemoteAddr())
		c.SetDeadline(time.Now().Add(endpointTimeout))
		var rw io.ReadWriter = c
		if cert != nil {
			tc := tls.Server(c, e.tlsConfig(cert, "", nil, func(*tls.ClientHelloInfo) int { return i }))
			if err := tc.HandshakeContext(e.ctx); err != nil {
				e.update(i, func(ct *Contact) { ct.Err = err.Error() })
				return
			}
			e.update(i, func(ct *Contact) { ct.TLSDone = true })
			rw = tc
		}
		io.WriteString(rw, SMTPBanner)
		io.Copy(io.Discard, rw)
	})
	return s, nil
}

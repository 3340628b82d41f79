package loopback

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/xmppstream"
)

// This file holds the loopback XMPP endpoints of the test bed: the good
// direct-TLS server (XEP-0368) and what all endpoints share. WebSocket and
// BOSH are in xmpp_http.go, the hostile endpoints in xmpp_hostile.go.
//
// A rogue-CA server or a pin mismatch (A9, A10) needs no endpoint of its
// own: start a good one with a certificate from another CA (NewCA("rogue")
// .Issue(...)), a SelfSigned one, or one whose key the document does not
// pin.

// endpointTimeout bounds every exchange an endpoint has with one client,
// so that a client that stalls never keeps a goroutine after the test.
const endpointTimeout = 30 * time.Second

// Contact is what an endpoint saw from one client connection (or, for
// WebSocket and BOSH, one HTTP request), so tests can assert the exact SNI
// and ALPN (A5, A6), the Host header and path (A8) and the stream's to.
type Contact struct {
	Remote netip.AddrPort // the client's address

	// SNI is the server name the client sent; empty when it sent no SNI
	// extension at all (A5).
	SNI string
	// ALPN lists the protocols the client offered, nil when it sent no
	// ALPN extension (A6). Negotiated is the one the server chose.
	ALPN       []string
	Negotiated string
	// TLSDone says the TLS handshake completed.
	TLSDone bool
	// ECHAccepted says the handshake decrypted the client's Encrypted
	// Client Hello (E4); SNI is then the inner ClientHello's name.
	ECHAccepted bool

	Host         string   // HTTP Host header (WebSocket, BOSH)
	Path         string   // HTTP request path (WebSocket, BOSH)
	Subprotocols []string // WebSocket subprotocols the client offered

	// To is the domain the client's stream header, <open/> or BOSH
	// session request asked for; empty when none was read. From is the
	// from= of a stream header (initiating servers name themselves).
	To, From string
	// Err says why the exchange ended early (handshake failure, a bad
	// client header); empty when it went as designed.
	Err string
}

// endpoint is what every test-bed server shares: a loopback listener, the
// connections in flight, the contacts, and a Close that leaves nothing
// running.
type endpoint struct {
	ln     net.Listener
	addr   netip.AddrPort
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	contacts []Contact
	closed   bool
}

// listenLoopback listens on addr, which must be a loopback address (the
// test bed never touches anything else).
func listenLoopback(addr string) (*endpoint, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("loopback: endpoint address %q: %w", addr, err)
	}
	if !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("loopback: endpoint address %q is not a loopback address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("loopback: listen %s: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &endpoint{
		ln:     ln,
		addr:   ln.Addr().(*net.TCPAddr).AddrPort(),
		ctx:    ctx,
		cancel: cancel,
		conns:  map[net.Conn]struct{}{},
	}, nil
}

// Addr is the address the endpoint listens on.
func (e *endpoint) Addr() netip.AddrPort { return e.addr }

// Contacts returns a copy of what the endpoint saw, one entry per client
// connection (or HTTP request), in arrival order.
func (e *endpoint) Contacts() []Contact {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.contacts)
}

// Last returns the latest contact, and false when there was none.
func (e *endpoint) Last() (Contact, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.contacts) == 0 {
		return Contact{}, false
	}
	return e.contacts[len(e.contacts)-1], true
}

// Close stops the endpoint, closes every connection it holds and waits
// until none of its goroutines is left.
func (e *endpoint) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	for c := range e.conns {
		c.Close()
	}
	e.mu.Unlock()
	e.cancel()
	err := e.ln.Close()
	e.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// newContact appends a contact for conn and returns its index.
func (e *endpoint) newContact(remote net.Addr) int {
	c := Contact{}
	if ta, ok := remote.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		c.Remote = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.contacts = append(e.contacts, c)
	return len(e.contacts) - 1
}

// update changes contact i under the lock, so that a test reading
// Contacts after the client got its answer sees what led to it.
func (e *endpoint) update(i int, f func(*Contact)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f(&e.contacts[i])
}

// track registers a connection so Close can close it; it reports false
// (and closes c) when the endpoint is already closed.
func (e *endpoint) track(c net.Conn) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		c.Close()
		return false
	}
	e.conns[c] = struct{}{}
	return true
}

func (e *endpoint) untrack(c net.Conn) {
	e.mu.Lock()
	delete(e.conns, c)
	e.mu.Unlock()
	c.Close()
}

// serve accepts connections until Close and runs handle on each in its
// own goroutine.
func (e *endpoint) serve(handle func(net.Conn)) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := e.ln.Accept()
			if err != nil {
				return // closed
			}
			if !e.track(c) {
				return
			}
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				defer e.untrack(c)
				handle(c)
			}()
		}
	}()
}

// tlsConfig returns a server configuration presenting cert that records
// the client's SNI and ALPN offer into contact i, and refuses the
// handshake when requireALPN is set and not offered.
func (e *endpoint) tlsConfig(cert *tls.Certificate, requireALPN string, nextProtos []string, i func(*tls.ClientHelloInfo) int) *tls.Config {
	return &tls.Config{
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			idx := i(h)
			var offered []string
			if h.SupportedProtos != nil {
				offered = slices.Clone(h.SupportedProtos)
			}
			e.update(idx, func(c *Contact) { c.SNI, c.ALPN = h.ServerName, offered })
			cfg := &tls.Config{Certificates: []tls.Certificate{*cert}, NextProtos: nextProtos, MinVersion: tls.VersionTLS12}
			if requireALPN != "" {
				if !slices.Contains(h.SupportedProtos, requireALPN) {
					return nil, fmt.Errorf("loopback: client did not offer ALPN %q (offered %q)", requireALPN, h.SupportedProtos)
				}
				cfg.NextProtos = []string{requireALPN}
			}
			return cfg, nil
		},
	}
}

// XMPPConfig configures a direct-TLS XMPP endpoint. Its zero value is a
// good client-to-server endpoint for whatever domain the client asks.
type XMPPConfig struct {
	// Domain is the from the server answers with. Empty: the domain the
	// client's header asked for (always right). Another domain makes the
	// wrong-domain endpoint of rule C3.
	Domain string
	// Kind selects jabber:client (zero) or jabber:server streams.
	Kind hacx.Kind
	// RequireALPN, when set, fails the TLS handshake unless the client
	// offers this protocol ID, and negotiates it (A6).
	RequireALPN string
	// StreamError, when set, answers the header with this stream error
	// condition (e.g. "host-unknown") instead of features.
	StreamError string
	// ECHKeys, when set, make the endpoint accept Encrypted Client Hello
	// with these keys and send the retry configurations they mark (E4).
	ECHKeys []tls.EncryptedClientHelloKey
}

// XMPPServer is a loopback direct-TLS XMPP endpoint (XEP-0368): it
// completes TLS with its certificate, reads the client's stream header,
// answers with its own header and features, then keeps the stream open
// until the client or Close ends it.
type XMPPServer struct {
	*endpoint
	cfg  XMPPConfig
	cert *tls.Certificate
}

// StartXMPP starts a direct-TLS XMPP endpoint on addr (a loopback
// "ip:port", port 0 for any) presenting cert.
func StartXMPP(addr string, cert *tls.Certificate, cfg XMPPConfig) (*XMPPServer, error) {
	if cert == nil {
		return nil, errors.New("loopback: StartXMPP needs a certificate")
	}
	e, err := listenLoopback(addr)
	if err != nil {
		return nil, err
	}
	s := &XMPPServer{endpoint: e, cfg: cfg, cert: cert}
	e.serve(s.handle)
	return s, nil
}

func (s *XMPPServer) handle(c net.Conn) {
	i := s.newContact(c.RemoteAddr())
	c.SetDeadline(time.Now().Add(endpointTimeout))
	tc := tls.Server(c, withECH(s.tlsConfig(s.cert, s.cfg.RequireALPN, nil, func(*tls.ClientHelloInfo) int { return i }), s.cfg.ECHKeys))
	fail := func(err error) { s.update(i, func(ct *Contact) { ct.Err = err.Error() }) }
	if err := tc.HandshakeContext(s.ctx); err != nil {
		fail(err)
		return
	}
	cs := tc.ConnectionState()
	s.update(i, func(ct *Contact) {
		ct.TLSDone, ct.Negotiated, ct.ECHAccepted = true, cs.NegotiatedProtocol, cs.ECHAccepted
	})
	serveStream(tc, s.cfg, func(h *xmppstream.Header) { s.update(i, func(ct *Contact) { ct.To, ct.From = h.To, h.From }) }, fail)
}

// serveStream is the XMPP part of a direct-TLS endpoint: read the
// client's header, answer, then hold the stream until the client ends it.
func serveStream(rw io.ReadWriter, cfg XMPPConfig, saw func(*xmppstream.Header), fail func(error)) {
	hdr, err := xmppstream.ReadClientOpen(rw, cfg.Kind)
	if err != nil {
		fail(err)
		return
	}
	saw(hdr)
	from := cfg.Domain
	if from == "" {
		from = hdr.To
	}
	if err := xmppstream.WriteServerOpen(rw, from, "hacxtest-1", cfg.Kind); err != nil {
		fail(err)
		return
	}
	if cfg.StreamError != "" {
		xmppstream.WriteStreamError(rw, cfg.StreamError, "hacxtest endpoint configured to refuse")
		return
	}
	if err := xmppstream.WriteFeatures(rw, Features(cfg.Kind)); err != nil {
		fail(err)
		return
	}
	// The stream stays open, as a real server's would, until the client
	// closes it (or the deadline, or Close).
	io.Copy(io.Discard, rw)
}

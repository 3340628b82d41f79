package hacxtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"hacx.dev/hacx"
)

// Publisher is an HTTPS server on loopback that stands in for the web
// server of every domain in a test: give its DialContext to a
// discover.Resolver and a fetch of https://NAME/... for any NAME lands
// here, verified against the certificate it was started with (issue one
// for the domains under test from a CA and trust CA.Pool()).
type Publisher struct {
	// Addr is the address it listens on.
	Addr netip.AddrPort

	srv  *http.Server
	done chan struct{}

	mu    sync.Mutex
	docs  map[string][]byte // well-known path → body
	inner http.Handler
}

// StartPublisher starts a publisher on addr (a loopback "ip:port", port 0
// for any) presenting cert. Requests are answered by the documents given
// to Publish, then by h; nil h answers 404, the "nothing published" of
// rule H4.
func StartPublisher(addr string, cert *tls.Certificate, h http.Handler) (*Publisher, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("hacxtest: publisher address %q is not a loopback ip:port", addr)
	}
	if cert == nil {
		return nil, errors.New("hacxtest: StartPublisher needs a certificate")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("hacxtest: publisher: %w", err)
	}
	p := &Publisher{Addr: ln.Addr().(*net.TCPAddr).AddrPort(), docs: map[string][]byte{}, inner: h, done: make(chan struct{})}
	p.srv = &http.Server{
		Handler:           http.HandlerFunc(p.serve),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12},
		ErrorLog:          log.New(io.Discard, "", 0), // refused handshakes are what some tests are about
		ReadHeaderTimeout: 30 * time.Second,
	}
	go func() {
		defer close(p.done)
		p.srv.ServeTLS(ln, "", "")
	}()
	return p, nil
}

// Publish serves doc, a HACX document, at the well-known path of kind
// (H1) for every host; nil stops serving it (404 again).
func (p *Publisher) Publish(kind hacx.Kind, doc []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if doc == nil {
		delete(p.docs, kind.WellKnownPath())
		return
	}
	p.docs[kind.WellKnownPath()] = doc
}

func (p *Publisher) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	doc, ok := p.docs[r.URL.Path]
	h := p.inner
	p.mu.Unlock()
	switch {
	case ok:
		w.Header().Set("Content-Type", "application/xml")
		w.Write(doc)
	case h != nil:
		h.ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}

// DialContext is a DialContext for a discover.Resolver: a connection to
// any NAME:443 goes to the publisher; one to a loopback ip:port goes
// there; anything else is refused, so that a test never leaves the
// machine.
func (p *Publisher) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	target := addr
	if ip, perr := netip.ParseAddr(host); perr != nil && port == "443" {
		target = p.Addr.String()
	} else if perr != nil || !ip.Unmap().IsLoopback() {
		return nil, fmt.Errorf("hacxtest: publisher: %s is outside the test", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", target)
}

// Close stops the publisher and waits for its requests to end.
func (p *Publisher) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	if err != nil {
		p.srv.Close()
	}
	<-p.done
	return err
}

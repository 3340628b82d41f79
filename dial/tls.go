package dial

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/xmppstream"
)

// try runs one attempt to its end: a verified stream or an error.
func (d *Dialer) try(ctx context.Context, a *attempt, domain string, kind hacx.Kind) (*Conn, error) {
	if a.route.ECH != nil && !echMethod(a.route.Method) {
		// E4: dialing it without ECH would be the downgrade ECH forbids.
		return nil, fmt.Errorf("%w: ECH is not supported on %s routes", ErrECHRejected, a.route.Method)
	}
	switch a.route.Method {
	case hacx.MethodTLS:
		return d.tryTLS(ctx, a, domain, kind)
	case hacx.MethodWebSocket:
		return d.tryWebSocket(ctx, a, domain, kind)
	case hacx.MethodBOSH:
		return d.tryBOSH(ctx, a, domain, kind)
	case hacx.MethodStartTLS:
		return d.tryStartTLS(ctx, a, domain, kind)
	case hacx.MethodQUIC:
		return d.tryQUIC(ctx, a, domain, kind)
	}
	// Future methods (E1) are skipped with a reason (C1).
	return nil, fmt.Errorf("%w %q", ErrUnsupportedMethod, a.route.Method)
}

// tlsaHost is the name DANE records are looked up under (X4): the name the
// address came from, else the URL host, else the XMPP domain.
func tlsaHost(r hacx.Route, domain, urlHost string) string {
	switch {
	case r.Host != "":
		return r.Host
	case urlHost != "":
		return urlHost
	}
	return domain
}

// tryTLS is direct TLS (XEP-0368 style): tcp, tls, verify, then our stream
// header and the server's, whose from must be domain (C4).
func (d *Dialer) tryTLS(ctx context.Context, a *attempt, domain string, kind hacx.Kind) (*Conn, error) {
	tl := d.startTLSA(ctx, a.route, tlsaHost(a.route, domain, ""))
	tc, err := d.connectTLS(ctx, a, []string{domain}, tl)
	if err != nil {
		return nil, err
	}
	a.setPhase(PhaseStream)
	hdr, feats, err := d.exchangeHeaders(ctx, tc, domain, kind)
	if err != nil {
		tc.Close()
		return nil, err
	}
	return &Conn{
		Domain: domain, Kind: kind, Route: a.route,
		Header: hdr, Features: feats, Verified: a.how(),
		TLS: tc.ConnectionState(), t: &tlsTransport{nc: tc},
	}, nil
}

// exchangeHeaders writes our stream header and reads the server's header
// and features under StreamTimeout.
func (d *Dialer) exchangeHeaders(ctx context.Context, tc net.Conn, domain string, kind hacx.Kind) (*xmppstream.Header, []byte, error) {
	var hdr *xmppstream.Header
	var feats []byte
	err := d.streamStep(ctx, tc, "xmpp stream header", func() error {
		err := xmppstream.WriteOpenFrom(tc, d.from(kind), domain, kind)
		if err == nil {
			hdr, feats, err = xmppstream.ReadOpen(tc, domain, kind)
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return hdr, feats, nil
}

// streamStep runs step, an exchange on c, under StreamTimeout. Reads and
// writes on a net.Conn ignore contexts: a past deadline unblocks them when
// the attempt is cancelled or times out, and then the error says which
// (op names the step). The deadline is lifted on success, so the
// connection outlives the dial's context.
func (d *Dialer) streamStep(ctx context.Context, c net.Conn, op string, step func() error) error {
	limit := d.streamTimeout()
	sctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	stop := context.AfterFunc(sctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	err := step()
	if !stop() {
		// The context fired: whatever I/O error we got, the reason is
		// the timeout or the cancellation.
		if err == nil {
			err = context.Cause(sctx)
		}
		return streamErr(ctx, sctx, err, op, limit)
	}
	if err != nil {
		return err
	}
	c.SetDeadline(time.Time{})
	return nil
}

// from is what our stream header names in from: the local domain of an
// initiating server (RFC 6120 section 4.7.1), nothing for a client.
func (d *Dialer) from(kind hacx.Kind) string {
	if kind == hacx.Server {
		return d.From
	}
	return ""
}

// tlsTransport is a direct TLS or STARTTLS connection, positioned just
// after the server's <stream:features/> (for STARTTLS, those of the
// stream restarted over TLS).
type tlsTransport struct{ nc net.Conn } // a *tls.Conn, but for tests

func (t *tlsTransport) stream(c *Conn) (net.Conn, error) {
	return &tlsStream{Conn: t.nc, open: opening{c: c}, abs: headerAbsorber{domain: c.Domain, kind: c.Kind}}, nil
}

func (t *tlsTransport) close() error {
	// A peer that does not read never holds Close up for long.
	t.nc.SetWriteDeadline(time.Now().Add(closeGrace))
	t.nc.Write([]byte("</stream:stream>"))
	return t.nc.Close()
}

// tlsStream is the stream conn of a TLS route: after the opening and the
// caller's header, bytes pass through both ways unchanged.
type tlsStream struct {
	net.Conn // deadlines, addresses, Read and Write once past the opening
	open     opening

	wrote   atomic.Bool // the caller has written: the stream is no longer the dialer's
	passing atomic.Bool // the caller's header is absorbed: writes go straight through
	wmu     sync.Mutex  // guards abs while the header is being absorbed
	abs     headerAbsorber
}

func (s *tlsStream) Write(p []byte) (int, error) {
	if s.passing.Load() {
		return s.Conn.Write(p)
	}
	s.wrote.Store(true)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.passing.Load() { // another writer finished the header meanwhile
		return s.Conn.Write(p)
	}
	rest, done, err := s.abs.write(p)
	if err != nil {
		return 0, fmt.Errorf("dial: stream conn: %w", err)
	}
	if !done {
		return len(p), nil
	}
	s.open.from.Store(&s.abs.hdr.From)
	s.passing.Store(true)
	if len(rest) == 0 {
		return len(p), nil
	}
	// Bytes after the header in the same write (a pipelining client)
	// belong to the server.
	n, err := s.Conn.Write(rest)
	if err != nil {
		return len(p) - len(rest) + n, err
	}
	return len(p), nil
}

func (s *tlsStream) Read(p []byte) (int, error) {
	if n, ok := s.open.read(p); ok {
		return n, nil
	}
	return s.Conn.Read(p)
}

// ConnectionState is the state of the server's TLS connection, for SASL
// channel binding.
func (s *tlsStream) ConnectionState() tls.ConnectionState {
	if tc, ok := s.Conn.(interface{ ConnectionState() tls.ConnectionState }); ok {
		return tc.ConnectionState()
	}
	return tls.ConnectionState{}
}

// CloseWrite ends the caller's side: a TLS close_notify.
func (s *tlsStream) CloseWrite() error {
	if cw, ok := s.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Close closes the connection; a stream the caller never wrote to is
// still the dialer's and gets its </stream:stream> first.
func (s *tlsStream) Close() error {
	if !s.wrote.Load() {
		s.Conn.SetWriteDeadline(time.Now().Add(closeGrace))
		s.Conn.Write([]byte("</stream:stream>"))
	}
	return s.Conn.Close()
}

package dial

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"hacx.dev/hacx"
)

// This file is the QUIC method (XEP-0467, Q1): one bidirectional QUIC
// stream carries the XMPP stream. The TLS configuration, the certificate
// checks (pins, DANE, WebPKI) and the stream proof (C4) are those of
// direct TLS; only the transport under them differs.

// ErrQUICThroughProxy is the error of a QUIC route dialed with a Proxy: a
// SOCKS5 proxy carries TCP only, and sending the route's UDP around it
// would reveal the client (T1). The route is skipped, never dialed.
var ErrQUICThroughProxy = errors.New("dial: quic route skipped: QUIC is UDP and the SOCKS5 proxy carries TCP only (T1)")

// quicKeepAlive keeps an idle XMPP stream's QUIC connection alive: without
// traffic quic-go closes it after its idle timeout (30 s), where a TCP
// stream would stay open for the server's own keepalives to test.
const quicKeepAlive = 15 * time.Second

// quicALPN is the protocol a QUIC route offers: exactly the route's ALPN
// when it has one (A6), else that of the kind. XEP-0467 requires ALPN and
// QUIC cannot run without it (RFC 9001 section 8.1), so "no ALPN" (A6)
// cannot be honoured on QUIC and the kind's ID is the one that works.
func quicALPN(r hacx.Route, kind hacx.Kind) []string {
	if r.ALPN != nil {
		return []string{string(r.ALPN)}
	}
	if kind == hacx.Server {
		return []string{"xmpp-server"}
	}
	return []string{"xmpp-client"}
}

// dialPacket opens the UDP socket of a QUIC route and the address to send
// to: DialPacket, else an unconnected socket to the route's ip:port.
func (d *Dialer) dialPacket(ctx context.Context, addr string) (net.PacketConn, net.Addr, error) {
	if d.DialPacket != nil {
		return d.DialPacket(ctx, "udp", addr)
	}
	raddr, err := net.ResolveUDPAddr("udp", addr) // an ip:port, never a name (A8)
	if err != nil {
		return nil, nil, err
	}
	pc, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, nil, err
	}
	return pc, raddr, nil
}

// tryQUIC is XMPP over QUIC: a QUIC handshake with the route's exact SNI,
// the route's ALPN (or the kind's, see quicALPN), the certificate checks
// of direct TLS, then one bidirectional stream on which our stream header
// and the server's are exchanged, whose from must be domain (C4).
func (d *Dialer) tryQUIC(ctx context.Context, a *attempt, domain string, kind hacx.Kind) (*Conn, error) {
	if d.proxy() != nil {
		return nil, ErrQUICThroughProxy // T1: never around the proxy
	}
	if !a.route.Addr.IsValid() {
		return nil, fmt.Errorf("dial: quic route %s has no address (A8)", a.route)
	}
	tl := d.startTLSA(ctx, a.route, tlsaHost(a.route, domain, ""))
	a.setPhase(PhaseTCP) // the UDP socket: QUIC has no connect of its own
	pc, raddr, err := d.dialPacket(ctx, a.route.Dest())
	if err != nil {
		return nil, fmt.Errorf("udp socket: %w", err)
	}
	qc, err := d.quicHandshake(ctx, a, pc, raddr, kind, []string{domain}, tl)
	if err != nil {
		pc.Close()
		return nil, err
	}
	nc := &quicConn{qc: qc, pc: pc}
	a.setPhase(PhaseStream)
	sctx, cancel := context.WithTimeout(ctx, d.streamTimeout())
	qs, err := qc.OpenStreamSync(sctx)
	cancel()
	if err != nil {
		nc.abort()
		return nil, streamErr(ctx, sctx, err, "quic stream", d.streamTimeout())
	}
	nc.Stream = qs
	hdr, feats, err := d.exchangeHeaders(ctx, nc, domain, kind)
	if err != nil {
		nc.abort()
		return nil, err
	}
	cs := qc.ConnectionState()
	return &Conn{
		Domain: domain, Kind: kind, Route: a.route,
		Header: hdr, Features: feats, Verified: a.how(),
		TLS: cs.TLS, t: &tlsTransport{nc: nc},
	}, nil
}

// quicHandshake runs the tls and verify phases over QUIC under
// HandshakeTimeout, as handshake does over TCP.
func (d *Dialer) quicHandshake(ctx context.Context, a *attempt, pc net.PacketConn, raddr net.Addr, kind hacx.Kind, names []string, tl *tlsaLookup) (*quic.Conn, error) {
	a.setPhase(PhaseTLS)
	limit := d.handshakeTimeout()
	hctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cfg, err := d.tlsConfig(hctx, a, names, tl)
	if err != nil {
		return nil, err
	}
	cfg.NextProtos = quicALPN(a.route, kind)
	cfg.MinVersion = tls.VersionTLS13 // QUIC is TLS 1.3 only (RFC 9001)
	qc, err := quic.Dial(hctx, pc, raddr, cfg, &quic.Config{
		HandshakeIdleTimeout: limit,
		KeepAlivePeriod:      quicKeepAlive,
	})
	if err != nil {
		var ve *verifyError
		if errors.As(err, &ve) {
			a.setPhase(PhaseVerify)
			if te := timedOut(ctx, hctx, ve.err, "quic verify (TLSA lookup)", "handshake timeout", limit); te != nil {
				return nil, te
			}
			return nil, ve.err
		}
		a.setPhase(PhaseTLS) // the certificate was fine, or never seen
		if te := timedOut(ctx, hctx, err, "quic handshake", "handshake timeout", limit); te != nil {
			return nil, te
		}
		return nil, fmt.Errorf("quic handshake: %w", err)
	}
	// QUIC has no connect apart from its handshake: both times are the
	// handshake's, so the adaptive stagger (RFC 8305) still learns the
	// round trip from it.
	a.mark(&a.connected)
	a.mark(&a.secured)
	v := qc.ConnectionState().Version.String()
	a.quic.Store(&v)
	return qc, nil
}

// quicConn is the QUIC stream of a route as a net.Conn: reads and writes
// and deadlines are the stream's, the addresses the connection's, so that
// StreamConn hands it over like a TLS connection.
type quicConn struct {
	*quic.Stream
	qc *quic.Conn
	pc net.PacketConn

	closeOnce sync.Once
	closeErr  error
}

func (c *quicConn) LocalAddr() net.Addr  { return c.qc.LocalAddr() }
func (c *quicConn) RemoteAddr() net.Addr { return c.qc.RemoteAddr() }

// ConnectionState is the QUIC connection's TLS state, for reports and
// SASL channel binding.
func (c *quicConn) ConnectionState() tls.ConnectionState { return c.qc.ConnectionState().TLS }

// CloseWrite ends our side of the stream (a FIN): the XMPP stream's end
// as the caller closes its writing half.
func (c *quicConn) CloseWrite() error { return c.Stream.Close() }

// Close ends the stream and the connection. A CONNECTION_CLOSE right
// after the last write could discard bytes not yet acknowledged (the
// </stream:stream> just written), so Close first sends the FIN and waits,
// within closeGrace, for the server to end its side too, as a closing
// XMPP server does.
func (c *quicConn) Close() error {
	c.closeOnce.Do(func() {
		if c.Stream != nil {
			c.Stream.Close()
			c.Stream.SetReadDeadline(time.Now().Add(closeGrace))
			io.Copy(io.Discard, c.Stream)
		}
		c.closeErr = c.qc.CloseWithError(0, "")
		c.pc.Close()
	})
	return c.closeErr
}

// abort closes at once: an attempt that failed owes the server nothing.
func (c *quicConn) abort() {
	c.closeOnce.Do(func() {
		c.qc.CloseWithError(0, "")
		c.pc.Close()
	})
}

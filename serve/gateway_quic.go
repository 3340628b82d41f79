package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"hacx.dev/hacx"
)

// This file is the gateway's QUIC listener (XEP-0467, Q1, G1): a QUIC
// connection with ALPN xmpp-client or xmpp-server whose first
// bidirectional stream carries the XMPP stream is relayed to the c2s or
// s2s upstream of its SNI's domain, like a direct-TLS stream on the HTTPS
// port.

// quicKeepAlive keeps a relayed stream's QUIC connection alive while the
// XMPP stream is quiet: the relay's own idle timeouts (G4) decide when a
// stream has been idle too long, not QUIC's 30 s default.
const quicKeepAlive = 15 * time.Second

// streamConn is what the stream relay needs of a client connection: the
// bytes, and the handshake's state (its SNI). A *tls.Conn is one; so is
// the stream of a QUIC connection (quicClient).
type streamConn interface {
	net.Conn
	ConnectionState() tls.ConnectionState
}

// quicTLS is the TLS configuration of the QUIC listener: the HTTPS
// listener's, certificates and all, offering only the XMPP protocols that
// some domain has an upstream for (HTTP/3 is not served), TLS 1.3 as QUIC
// requires. A client whose ALPN matches none fails the handshake (RFC
// 9001 section 8.1).
func (g *gateway) quicTLS() *tls.Config {
	// A configuration of its own: g.https is also the HTTP server's,
	// which net/http changes when it starts serving HTTP/2.
	cfg, _ := g.s.gatewayTLS()
	variant := cfg.GetConfigForClient
	xmppOnly := func(protos []string) []string {
		return slices.DeleteFunc(slices.Clone(protos), func(p string) bool { return p != alpnClient && p != alpnServer })
	}
	cfg.NextProtos = xmppOnly(cfg.NextProtos)
	cfg.MinVersion = tls.VersionTLS13
	cfg.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		if h.Conn != nil && g.quicOverLimit(h.Conn.RemoteAddr()) {
			return nil, errQUICLimit // G4: before any certificate work
		}
		c, err := variant(h)
		if err != nil || c == nil {
			return c, err
		}
		c = c.Clone()
		c.NextProtos = xmppOnly(c.NextProtos)
		c.MinVersion = tls.VersionTLS13
		return c, nil
	}
	return cfg
}

// errQUICLimit fails the handshake of a QUIC client over the connection
// limits.
var errQUICLimit = errors.New("serve: gateway connection limit reached")

// quicOverLimit reports whether a QUIC client at remote is over the
// connection limits (G4), and reports it refused when it is. It runs at
// the ClientHello, so that the limits apply before the handshake's
// certificate work as they do on TCP; admit applies them again, exactly,
// once the connection is handed over.
func (g *gateway) quicOverLimit(remote net.Addr) bool {
	var client netip.AddrPort
	if ua, ok := remote.(*net.UDPAddr); ok {
		ap := ua.AddrPort()
		client = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	gw := g.settings()
	g.mu.Lock()
	refused := g.closing ||
		gw.MaxConns > 0 && len(g.conns) >= gw.MaxConns ||
		gw.MaxConnsPerIP > 0 && g.perIP[client.Addr()] >= gw.MaxConnsPerIP
	g.mu.Unlock()
	if refused {
		gc := &gwConn{g: g, start: time.Now()}
		gc.info.Listener, gc.info.Client, gc.info.Outcome = "quic", client, OutcomeLimit
		g.report(gc)
	}
	return refused
}

// serveQUIC accepts QUIC connections on ln until it is closed.
func (g *gateway) serveQUIC(ln *quic.Listener) error {
	for {
		qc, err := ln.Accept(context.Background())
		if err != nil {
			if g.isClosing() || errors.Is(err, quic.ErrServerClosed) {
				return nil
			}
			return err
		}
		go g.handleQUIC(qc)
	}
}

// listenQUIC starts the QUIC listener on pc. Closing the listener stops
// accepting and leaves the relayed streams running (G4: shutdown lets
// them end by themselves); closing the transport ends them.
func (g *gateway) listenQUIC(pc net.PacketConn) (*quic.Transport, *quic.Listener, error) {
	gw := g.settings()
	tr := &quic.Transport{Conn: pc}
	ln, err := tr.Listen(g.quicTLS(), &quic.Config{
		HandshakeIdleTimeout: gw.HandshakeTimeout,
		KeepAlivePeriod:      quicKeepAlive,
	})
	if err != nil {
		tr.Close()
		return nil, nil, err
	}
	return tr, ln, nil
}

// handleQUIC relays the first stream of a QUIC connection whose handshake
// completed (G1: nothing reaches an upstream before). The connection
// limits (G4) were checked at its ClientHello (quicOverLimit) and apply
// exactly here, where the connection is counted.
func (g *gateway) handleQUIC(qc *quic.Conn) {
	qs := &quicClient{qc: qc}
	gc := g.admit(qs, "quic")
	if gc == nil {
		return
	}
	cs := qc.ConnectionState().TLS
	gc.mu.Lock()
	gc.info.ALPN, gc.info.Domain = cs.NegotiatedProtocol, cs.ServerName
	gc.mu.Unlock()
	// The first stream is the client's first byte (G4).
	ctx, cancel := context.WithTimeout(context.Background(), g.settings().FirstByteTimeout)
	st, err := qc.AcceptStream(ctx)
	cancel()
	if err != nil {
		outcome := OutcomeError
		if errors.Is(err, context.DeadlineExceeded) {
			outcome = OutcomeFirstByteTimeout
		}
		gc.end(outcome, err)
		gc.Close()
		return
	}
	qs.setStream(st)
	kind := hacx.Client
	if cs.NegotiatedProtocol == alpnServer {
		kind = hacx.Server
	}
	g.stream(gc, &quicGwConn{gwConn: gc, qs: qs}, kind, nil)
}

// quicClient is a QUIC connection's first stream as a net.Conn, with the
// connection's addresses; before the stream is accepted it only closes.
type quicClient struct {
	qc *quic.Conn

	mu sync.Mutex
	st *quic.Stream
}

func (c *quicClient) setStream(st *quic.Stream) {
	c.mu.Lock()
	c.st = st
	c.mu.Unlock()
}

func (c *quicClient) stream() *quic.Stream {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st
}

func (c *quicClient) Read(p []byte) (int, error) {
	if st := c.stream(); st != nil {
		return st.Read(p)
	}
	return 0, net.ErrClosed
}

func (c *quicClient) Write(p []byte) (int, error) {
	if st := c.stream(); st != nil {
		return st.Write(p)
	}
	return 0, net.ErrClosed
}

// Close ends the stream and then the connection. A CONNECTION_CLOSE
// right after the last write could discard bytes not yet acknowledged (a
// </stream:stream>, a stream error), so the stream's FIN goes first and
// the connection is closed in the background when the client has closed
// it or after closeGrace; Close itself does not wait, so that a shutdown
// closing many streams is not held up by each.
func (c *quicClient) Close() error {
	st := c.stream()
	if st == nil {
		return c.qc.CloseWithError(0, "")
	}
	st.Close()
	go func() {
		t := time.NewTimer(closeGrace)
		defer t.Stop()
		select {
		case <-c.qc.Context().Done():
		case <-t.C:
		}
		c.qc.CloseWithError(0, "")
	}()
	return nil
}

func (c *quicClient) CloseWrite() error {
	if st := c.stream(); st != nil {
		return st.Close()
	}
	return nil
}

func (c *quicClient) LocalAddr() net.Addr  { return c.qc.LocalAddr() }
func (c *quicClient) RemoteAddr() net.Addr { return c.qc.RemoteAddr() }

func (c *quicClient) SetDeadline(t time.Time) error {
	if st := c.stream(); st != nil {
		return st.SetDeadline(t)
	}
	return nil
}

func (c *quicClient) SetReadDeadline(t time.Time) error {
	if st := c.stream(); st != nil {
		return st.SetReadDeadline(t)
	}
	return nil
}

func (c *quicClient) SetWriteDeadline(t time.Time) error {
	if st := c.stream(); st != nil {
		return st.SetWriteDeadline(t)
	}
	return nil
}

// quicGwConn is the gateway connection of a QUIC stream as the relay uses
// it: bytes counted by gwConn, a half close that is the stream's FIN, and
// the handshake's state.
type quicGwConn struct {
	*gwConn
	qs *quicClient
}

func (c *quicGwConn) CloseWrite() error { return c.qs.CloseWrite() }

func (c *quicGwConn) ConnectionState() tls.ConnectionState {
	return c.qs.qc.ConnectionState().TLS
}

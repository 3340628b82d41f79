package serve

// This file is the gateway's front door (G1, G4): the TLS listeners, the
// connection limits, the handshake, routing by ALPN (or by the first byte
// when the client sent none), and the bookkeeping of every connection
// until its one log line and Metrics.Connection.

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"

	"hacx.dev/hacx"
)

// gateway serves a Server's TLS listeners: each connection is handshaken
// here, then relayed to an upstream or handed to the HTTP server.
type gateway struct {
	s      *Server
	log    *slog.Logger
	https  *tls.Config // the main listener: ALPN routed
	xmpps  *tls.Config // the direct-TLS listener: always c2s
	http   *http.Server
	httpLn *connListener

	mu      sync.Mutex
	conns   map[*gwConn]struct{}
	perIP   map[netip.Addr]int
	closing bool
	drained chan struct{} // closed when closing and conns is empty
}

func (s *Server) newGateway() *gateway {
	g := &gateway{
		s: s, log: s.Logger,
		conns:   map[*gwConn]struct{}{},
		perIP:   map[netip.Addr]int{},
		drained: make(chan struct{}),
		httpLn:  newConnListener(),
	}
	g.https, g.xmpps = s.gatewayTLS()
	st := s.Handler.state.Load()
	g.http = &http.Server{
		Handler: g,
		// The write and body deadlines are set per request (gateway_http.go):
		// a BOSH request is held for up to the session's wait, far longer
		// than a discovery answer may take, and net/http's ReadTimeout
		// would cancel it.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       st.gw.HTTPIdleTimeout,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelDebug),
		TLSConfig:         g.https, // so that Serve sets up HTTP/2 for conns that chose h2
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, gwConnKey{}, gwConnOf(c))
		},
	}
	return g
}

// gatewayTLS returns the TLS configurations of the two listeners. The
// main one offers xmpp-client and xmpp-server by ALPN only while some
// domain has an upstream of that kind, chosen per handshake from the
// configuration in service, so that a reload changes them and a client
// asking a plain publisher for XMPP gets a TLS alert as before.
func (s *Server) gatewayTLS() (https, xmpps *tls.Config) {
	base := s.TLSConfig()
	var variants [2][2]*tls.Config
	for c := range 2 {
		for v := range 2 {
			cfg := base.Clone()
			cfg.NextProtos = append([]string(nil), base.NextProtos...)
			if c == 1 {
				cfg.NextProtos = append(cfg.NextProtos, alpnClient)
			}
			if v == 1 {
				cfg.NextProtos = append(cfg.NextProtos, alpnServer)
			}
			variants[c][v] = cfg
		}
	}
	https = base.Clone()
	https.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c, v := 0, 0
		if st := s.Handler.state.Load(); st != nil {
			if st.defaultC2S != nil {
				c = 1
			}
			if st.defaultS2S != nil {
				v = 1
			}
		}
		return variants[c][v], nil
	}
	xmpps = base.Clone()
	xmpps.NextProtos = []string{alpnClient}
	return https, xmpps
}

// serveListener accepts connections on ln until it is closed.
func (g *gateway) serveListener(ln net.Listener, name string, cfg *tls.Config) error {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if g.isClosing() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: wait, as net/http
			// does, rather than spin or give up.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			g.log.Warn("gateway: accept failed", "listener", name, "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if gc := g.admit(c, name); gc != nil {
			go g.handle(gc, cfg)
		}
	}
}

// admit applies the connection limits (G4) before any TLS work, and
// starts tracking the connection; nil means it was refused and closed.
func (g *gateway) admit(c net.Conn, listener string) *gwConn {
	gc := &gwConn{Conn: c, g: g, start: time.Now()}
	gc.info.Listener = listener
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		gc.info.Client = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	gw := g.settings()
	ip := gc.info.Client.Addr()
	g.mu.Lock()
	refused := g.closing ||
		gw.MaxConns > 0 && len(g.conns) >= gw.MaxConns ||
		gw.MaxConnsPerIP > 0 && g.perIP[ip] >= gw.MaxConnsPerIP
	if !refused {
		g.conns[gc] = struct{}{}
		g.perIP[ip]++
	}
	g.mu.Unlock()
	if refused {
		c.Close()
		gc.info.Outcome = OutcomeLimit
		g.report(gc)
		return nil
	}
	return gc
}

// settings returns the gateway settings in service.
func (g *gateway) settings() *Gateway {
	if st := g.s.Handler.state.Load(); st != nil {
		return &st.gw
	}
	d := Gateway{}.withDefaults()
	return &d
}

// handle handshakes and routes one connection. Nothing reaches an
// upstream before the client's handshake completed (G1).
func (g *gateway) handle(gc *gwConn, cfg *tls.Config) {
	gw := g.settings()
	tc := tls.Server(gc, cfg)
	gc.SetDeadline(time.Now().Add(gw.HandshakeTimeout))
	if err := tc.Handshake(); err != nil {
		outcome := OutcomeHandshakeFailed
		if isTimeout(err) {
			outcome = OutcomeHandshakeTimeout
		}
		gc.end(outcome, err)
		gc.Close()
		return
	}
	gc.SetDeadline(time.Time{})
	cs := tc.ConnectionState()
	gc.mu.Lock()
	gc.info.ALPN, gc.info.Domain = cs.NegotiatedProtocol, cs.ServerName
	gc.mu.Unlock()
	switch proto := cs.NegotiatedProtocol; {
	case gc.info.Listener == "xmpps" || proto == alpnClient:
		g.stream(gc, tc, hacx.Client, nil)
	case proto == alpnServer:
		g.stream(gc, tc, hacx.Server, nil)
	case proto == "h2" || proto == "http/1.1":
		g.serveHTTP(gc, tc)
	case proto == acme.ALPNProto:
		tc.Close() // the handshake was the tls-alpn-01 answer
	default:
		g.sniff(gc, tc)
	}
}

// sniff routes a client that negotiated no ALPN by its first bytes: XMPP
// starts with '<' (a stream header or XML declaration), HTTP with a
// method name.
func (g *gateway) sniff(gc *gwConn, tc *tls.Conn) {
	first, ok := g.firstBytes(gc, tc)
	if !ok {
		return
	}
	if first[0] == '<' {
		g.stream(gc, tc, hacx.Client, first)
		return
	}
	g.serveHTTP(gc, &prefixConn{Conn: tc, pre: first})
}

// firstBytes reads what the client sends first, within FirstByteTimeout
// (G4): a client that completed its handshake and stays silent holds no
// upstream connection. On failure the connection is closed.
func (g *gateway) firstBytes(gc *gwConn, tc streamConn) ([]byte, bool) {
	tc.SetReadDeadline(time.Now().Add(g.settings().FirstByteTimeout))
	buf := make([]byte, 2048)
	n, err := tc.Read(buf)
	if n == 0 {
		switch {
		case isTimeout(err):
			gc.end(OutcomeFirstByteTimeout, err)
		case err != nil && !isEOF(err):
			gc.end(OutcomeError, err)
		}
		tc.Close()
		return nil, false
	}
	tc.SetReadDeadline(time.Time{})
	return buf[:n], true
}

// serveHTTP hands c to the HTTP server.
func (g *gateway) serveHTTP(gc *gwConn, c net.Conn) {
	gc.setRoute("http", "")
	if !g.httpLn.push(c) {
		gc.end(OutcomeShutdown, nil)
		c.Close()
	}
}

func (g *gateway) isClosing() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closing
}

// shutdown stops accepting (the caller closes the listeners), lets HTTP
// requests and relayed streams end by themselves until ctx is done, then
// closes what is left (G4).
func (g *gateway) shutdown(ctx context.Context) {
	g.mu.Lock()
	g.closing = true
	if len(g.conns) == 0 {
		closeOnce(g.drained)
	}
	g.mu.Unlock()
	g.httpLn.Close()
	httpDone := make(chan struct{})
	go func() {
		g.http.Shutdown(ctx)
		close(httpDone)
	}()
	select {
	case <-g.drained:
	case <-ctx.Done():
	}
	<-httpDone
	g.http.Close()
	g.mu.Lock()
	left := make([]*gwConn, 0, len(g.conns))
	for gc := range g.conns {
		left = append(left, gc)
	}
	g.mu.Unlock()
	for _, gc := range left {
		gc.end(OutcomeShutdown, nil)
		gc.Close()
	}
}

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// report writes a connection's log line and tells Metrics (G4).
func (g *gateway) report(gc *gwConn) {
	info := &gc.info
	info.In, info.Out = gc.in.Load(), gc.out.Load()
	info.Duration = time.Since(gc.start)
	if info.Outcome == "" {
		info.Outcome = OutcomeClosed
	}
	if m := g.s.Metrics; m != nil {
		m.Connection(info)
	}
	level := slog.LevelInfo
	if info.Outcome == OutcomeLimit {
		// A flood of refused connections must not become a flood of
		// log lines: the metrics count them.
		level = slog.LevelDebug
	}
	attrs := []slog.Attr{
		slog.String("listener", info.Listener),
		slog.String("client", info.Client.String()),
		slog.String("route", info.Route),
		slog.String("alpn", info.ALPN),
		slog.String("domain", info.Domain),
		slog.String("upstream", info.Upstream),
		slog.Int64("in", info.In),
		slog.Int64("out", info.Out),
		slog.Duration("duration", info.Duration.Round(time.Millisecond)),
		slog.String("outcome", info.Outcome),
	}
	if info.Err != nil {
		attrs = append(attrs, slog.String("err", info.Err.Error()))
	}
	g.log.LogAttrs(context.Background(), level, "gateway: connection", attrs...)
}

// gwConn is a client's TCP connection to the gateway: it counts bytes and
// activity, and reports the connection once when it is closed.
type gwConn struct {
	net.Conn
	g        *gateway
	start    time.Time
	in, out  atomic.Int64
	lastMove atomic.Int64 // time.Since(start) at the last byte, in ns

	mu   sync.Mutex // guards info until it is reported
	info ConnInfo
	once sync.Once
}

type gwConnKey struct{}

func (c *gwConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.in.Add(int64(n))
		c.lastMove.Store(int64(time.Since(c.start)))
	}
	return n, err
}

func (c *gwConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.out.Add(int64(n))
		c.lastMove.Store(int64(time.Since(c.start)))
	}
	return n, err
}

// Close closes the connection and, the first time, reports it.
func (c *gwConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		g := c.g
		g.mu.Lock()
		delete(g.conns, c)
		ip := c.info.Client.Addr()
		if g.perIP[ip]--; g.perIP[ip] <= 0 {
			delete(g.perIP, ip)
		}
		if g.closing && len(g.conns) == 0 {
			closeOnce(g.drained)
		}
		g.mu.Unlock()
		c.mu.Lock()
		defer c.mu.Unlock()
		g.report(c)
	})
	return err
}

// end records how the connection ended; the first outcome recorded wins,
// so that the cause (idle, shutdown) is not replaced by the read error it
// provokes.
func (c *gwConn) end(outcome string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.info.Outcome == "" {
		c.info.Outcome, c.info.Err = outcome, err
	}
}

// setRoute records the route, and the domain when not empty. A WebSocket
// route is kept over a later "bosh" or "http", since the upgrade ends
// the HTTP exchange on that connection.
func (c *gwConn) setRoute(route, domain string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.info.Route != "websocket" {
		c.info.Route = route
	}
	if domain != "" {
		c.info.Domain = domain
	}
}

func (c *gwConn) setUpstream(addr string) {
	c.mu.Lock()
	c.info.Upstream = addr
	c.mu.Unlock()
}

// watchIdle calls onIdle once no byte has moved on the connection for
// idle (G4), and stops watching when stop is called. A timer that reads
// the last activity costs nothing per byte beyond one store.
func (c *gwConn) watchIdle(idle time.Duration, onIdle func()) (stop func()) {
	if idle <= 0 {
		return func() {}
	}
	var t *time.Timer
	t = time.AfterFunc(idle, func() {
		quiet := time.Since(c.start) - time.Duration(c.lastMove.Load())
		if quiet < idle {
			t.Reset(idle - quiet)
			return
		}
		onIdle()
	})
	return func() { t.Stop() }
}

// gwConnOf finds the gwConn under a connection the HTTP server was given.
func gwConnOf(c net.Conn) *gwConn {
	for {
		switch v := c.(type) {
		case *gwConn:
			return v
		case *tls.Conn:
			c = v.NetConn()
		case *prefixConn:
			c = v.Conn
		default:
			return nil
		}
	}
}

// prefixConn gives back the bytes read to route a connection before the
// rest of it.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *prefixConn) CloseWrite() error { return closeWrite(c.Conn) }

// connListener is the HTTP server's listener: it yields the connections
// the gateway routed to HTTP, already past their TLS handshake.
type connListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnListener() *connListener {
	return &connListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

// push hands c to the HTTP server; false when the listener is closed.
func (l *connListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return gatewayAddr{} }

type gatewayAddr struct{}

func (gatewayAddr) Network() string { return "tcp" }
func (gatewayAddr) String() string  { return "gateway" }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

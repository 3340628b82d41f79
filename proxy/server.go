package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/xmppstream"
)

// Defaults of the Server's zero fields.
const (
	// DefaultMaxConns bounds the connections relayed at once.
	DefaultMaxConns = 1024
	// DefaultIdleTimeout ends a connection on which nothing moved for so
	// long. Clients send whitespace keepalives or pings far more often
	// (RFC 6120 section 4.6.1 suggests minutes), so only dead connections
	// reach it.
	DefaultIdleTimeout = 10 * time.Minute
	// DefaultHeaderTimeout bounds the wait for a client's stream header
	// (and, with local TLS, its STARTTLS handshake).
	DefaultHeaderTimeout = 30 * time.Second
	// DefaultDialTimeout bounds discovery and dialing of the upstream.
	DefaultDialTimeout = 30 * time.Second
)

// closeGrace is how long one side of a relay may take to finish after the
// other side ended (the peer's </stream:stream> answer, a BOSH terminate
// response) before both are closed.
const closeGrace = 2 * time.Second

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown
// or Close.
var ErrServerClosed = errors.New("proxy: server closed")

// Server accepts plain XMPP streams and relays each to the domain its
// header names, over the route the Dialer finds. Its zero value relays
// client-to-server streams with a zero dial.Dialer and the defaults below.
//
// Fields must not change once Serve has been called.
type Server struct {
	// Addr is the address ListenAndServe listens on; "" means
	// 127.0.0.1:5222 (127.0.0.1:5269 for Kind hacx.Server).
	Addr string

	// Kind says which streams the listener takes: hacx.Client (zero,
	// jabber:client, dialed with Dialer.Dial) or hacx.Server
	// (jabber:server, dialed with Dialer.DialServer).
	Kind hacx.Kind

	// Dialer finds and dials the upstream; nil means a zero dial.Dialer.
	Dialer *dial.Dialer

	// Logger gets one info record per connection (domain, route, bytes,
	// duration, outcome) and debug records of the steps; nil means silent.
	Logger *slog.Logger

	// MaxConns bounds the connections relayed at once; more are answered
	// with <resource-constraint/>. 0 means DefaultMaxConns, negative means
	// no bound.
	MaxConns int
	// MaxElement bounds one top-level element the client sends over
	// WebSocket or BOSH, where the stream is cut into elements (the
	// dial.Conn's MaxElement); larger is a <policy-violation/>. 0 means
	// xmppstream.DefaultMaxElement. (Direct TLS streams are copied as
	// bytes; the upstream server applies its own bound.)
	MaxElement int
	// IdleTimeout ends a connection on which no byte moved either way for
	// so long; 0 means DefaultIdleTimeout, negative means never.
	IdleTimeout time.Duration
	// HeaderTimeout bounds the wait for the client's stream header; 0
	// means DefaultHeaderTimeout.
	HeaderTimeout time.Duration
	// DialTimeout bounds discovery and dialing of the upstream; 0 means
	// DefaultDialTimeout.
	DialTimeout time.Duration

	// TLSConfig, when set, makes the proxy offer STARTTLS on the local
	// side with this configuration (it needs a certificate). STARTTLS is
	// answered by the proxy itself, never forwarded upstream.
	TLSConfig *tls.Config
	// TLSRequired refuses clients that do not start TLS first (it needs
	// TLSConfig).
	TLSRequired bool

	// Metrics, when set, counts connections, bytes, winning routes,
	// upstream failures and refusals; nil counts nothing.
	Metrics Metrics

	mu        sync.Mutex
	listeners map[*net.Listener]struct{}
	conns     map[*conn]struct{}
	shutdown  bool
	active    atomic.Int64
	wg        sync.WaitGroup
	done      chan struct{} // closed by Shutdown and Close
}

func (s *Server) dialer() *dial.Dialer {
	if s.Dialer != nil {
		return s.Dialer
	}
	return &dial.Dialer{}
}

func (s *Server) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (s *Server) maxConns() int64 {
	switch {
	case s.MaxConns < 0:
		return -1
	case s.MaxConns == 0:
		return DefaultMaxConns
	}
	return int64(s.MaxConns)
}

func orDefault(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout < 0 {
		return 0
	}
	return orDefault(s.IdleTimeout, DefaultIdleTimeout)
}

func (s *Server) initLocked() {
	if s.listeners == nil {
		s.listeners = map[*net.Listener]struct{}{}
		s.conns = map[*conn]struct{}{}
		s.done = make(chan struct{})
	}
}

// ListenAndServe listens on Addr and serves until Shutdown or Close.
func (s *Server) ListenAndServe(ctx context.Context) error {
	addr := s.Addr
	if addr == "" {
		addr = "127.0.0.1:5222"
		if s.Kind == hacx.Server {
			addr = "127.0.0.1:5269"
		}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Serve accepts connections on ln and relays each in its own goroutine
// until Shutdown or Close (it then returns ErrServerClosed) or ln fails.
// ctx is the parent of every connection's context: cancelling it ends
// the connections abruptly, as Close does; use Shutdown for a polite end.
// Serve closes ln when it returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	s.initLocked()
	if s.shutdown {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[&ln] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, &ln)
		s.mu.Unlock()
		ln.Close()
		s.wg.Done()
	}()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing() {
				return ErrServerClosed
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if temporaryAccept(err) {
				// Like net/http: a temporary failure (too many open files)
				// is waited out rather than ending the server.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(backoff):
				case <-s.done:
				case <-ctx.Done():
				}
				continue
			}
			return err
		}
		backoff = 0
		s.start(ctx, nc)
	}
}

// temporaryAccept reports whether an Accept error passes by itself: out of
// file descriptors or memory for sockets, a connection aborted before it
// was taken, or a timeout.
func temporaryAccept(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.ECONNRESET} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (s *Server) closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shutdown
}

// start tracks and runs one connection, or refuses it over the limit.
func (s *Server) start(ctx context.Context, nc net.Conn) {
	max := s.maxConns()
	if n := s.active.Add(1); max >= 0 && n > max {
		s.active.Add(-1)
		s.metrics().Refused(RefusedLimit)
		s.log().Warn("proxy: connection refused: too many connections", "remote", nc.RemoteAddr().String(), "max", max)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			refuse(nc, s.Kind, "resource-constraint", "this proxy relays at most its configured number of connections at once")
		}()
		return
	}
	c := newConn(ctx, s, nc)
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		s.active.Add(-1)
		c.cancel()
		nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer s.active.Add(-1)
		defer func() {
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
		c.serve()
	}()
}

// refuse answers a connection that is not served with a stream header and
// a stream error, without reading anything, and closes it.
func refuse(nc net.Conn, kind hacx.Kind, condition, text string) {
	defer nc.Close()
	nc.SetWriteDeadline(time.Now().Add(closeGrace))
	b := xmppstream.HeaderFromOpen(&xmppstream.Header{Version: "1.0"}, kind)
	nc.Write(append(b, streamError(condition, text)...))
}

// ActiveConns is the number of connections being relayed now.
func (s *Server) ActiveConns() int { return int(s.active.Load()) }

// Shutdown stops accepting, ends every stream politely (the upstream is
// closed as its transport closes a stream, and its goodbye reaches the
// client) and waits for the connections to finish. When ctx ends first,
// the remaining connections are closed at once and ctx's error returned.
func (s *Server) Shutdown(ctx context.Context) error {
	conns := s.stop()
	for _, c := range conns {
		c.goodbye()
	}
	finished := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		for _, c := range s.remaining() {
			c.abort()
		}
		<-finished
		return ctx.Err()
	}
}

// Close stops accepting and closes every connection at once.
func (s *Server) Close() error {
	// stop sets shutdown under the lock that adding a connection takes, so
	// its list is every connection there will be.
	for _, c := range s.stop() {
		c.abort()
	}
	s.wg.Wait()
	return nil
}

// stop marks the server closed, closes the listeners and returns the
// connections in flight.
func (s *Server) stop() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	if !s.shutdown {
		s.shutdown = true
		close(s.done)
	}
	for ln := range s.listeners {
		(*ln).Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	return conns
}

func (s *Server) remaining() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	return conns
}

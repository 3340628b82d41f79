package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// Server publishes a Handler over HTTPS (P1): certificates from files
// (reloaded when they change) or from ACME, an optional plain-HTTP listener
// that only redirects to HTTPS and answers ACME http-01 challenges, an
// optional private metrics listener, and configuration reload that never
// drops connections and never replaces a working configuration with a
// broken one.
//
// Like http.Server, it either listens itself (Run, on the Addr fields) or
// serves on listeners it is given (Serve, with the Listener fields for the
// optional plain-HTTP and metrics listeners). Only Load is required; every
// other field's zero value is usable. Set the fields before the first
// call of a method.
type Server struct {
	// Load returns the configuration to serve. It is called by Serve and by
	// every Reload; a failure keeps the configuration in service.
	Load func() (*Config, error)
	// Watch lists files (configuration, documents) whose change, seen by
	// polling their modification time and size, triggers Reload. CertFile
	// and KeyFile are always watched.
	Watch []string
	// PollInterval is how often watched files are checked; 0 means 5s,
	// negative disables polling (reload on SIGHUP only).
	PollInterval time.Duration

	// Addr is the HTTPS address Run listens on; empty means ":443". Its
	// port, unless 443, is also the one plain-HTTP redirects send clients
	// to, so set it with Serve too when clients reach HTTPS on another
	// port.
	Addr string
	// HTTPAddr, when set, is where Run listens for plain HTTP, which gets
	// only redirects to HTTPS and ACME http-01 answers (H1: discovery is
	// never served over HTTP). HTTPListener takes precedence.
	HTTPAddr string
	// HTTPListener, when set, is where Run and Serve answer plain HTTP as
	// HTTPAddr describes, in place of listening on HTTPAddr. They close it
	// when they return.
	HTTPListener net.Listener

	// XMPPSAddr, when set, is where Run listens for direct TLS
	// (XEP-0368) whose every connection is a client-to-server stream for
	// the c2s upstream of its SNI's domain, whatever its ALPN (G1).
	// XMPPSListener takes precedence. Unset, only the HTTPS listener
	// (routed by ALPN) takes XMPP.
	XMPPSAddr string
	// XMPPSListener, when set, is where Run and Serve take direct TLS as
	// XMPPSAddr describes. They close it when they return.
	XMPPSListener net.Listener

	// QUICAddr, when set, is the UDP address where Run takes XMPP over
	// QUIC (XEP-0467, Q1): a connection with ALPN xmpp-client or
	// xmpp-server whose first stream is relayed to the c2s or s2s
	// upstream of its SNI's domain, as on the HTTPS port (G1).
	// QUICPacketConn takes precedence.
	QUICAddr string
	// QUICPacketConn, when set, is where Run and Serve take QUIC as
	// QUICAddr describes. They close it when they return.
	QUICPacketConn net.PacketConn

	// MetricsAddr, when set, is where Run serves MetricsHandler, on a
	// listener of its own so that metrics are never public by accident.
	// MetricsListener takes precedence.
	MetricsAddr string
	// MetricsListener, when set, is where Run and Serve serve
	// MetricsHandler, in place of listening on MetricsAddr. They close it
	// when they return.
	MetricsListener net.Listener
	// MetricsHandler answers /metrics on the metrics listener (every other
	// path is 404); it is required when MetricsAddr or MetricsListener is
	// set. Package serve has no exporter of its own: hacx serve passes a
	// Prometheus handler publishing what Metrics counted.
	MetricsHandler http.Handler
	// Metrics receives what the Server counts: every load and the
	// certificates in service, and the requests Handler answers unless
	// Handler has Metrics of its own. Nil counts nothing.
	Metrics Metrics

	// CertFile and KeyFile are the PEM certificate chain and key. Unset,
	// ACME must be set.
	CertFile, KeyFile string
	// ACME obtains certificates when CertFile is unset. A nil HostPolicy
	// is set to allow exactly the configured domains.
	ACME *autocert.Manager
	// ECHKeyFiles are Encrypted Client Hello key files (ech.ReadKeyFile,
	// "hacx ech keygen"), read with every load together with those of the
	// configuration (Config.ECHKeyFiles) and watched like CertFile. With
	// any, the TLS listeners accept ECH with every key and send the newest
	// one's configuration to clients whose configuration is stale (E4).
	ECHKeyFiles []string

	// Handler is what is served; nil means a new Handler. When its
	// Metrics are nil they are set to the Server's.
	Handler *Handler
	// Logger receives reload and shutdown messages, and one line per
	// gateway connection (G4); nil discards them.
	Logger *slog.Logger
	// ShutdownTimeout bounds graceful shutdown: requests and relayed
	// streams still open then are closed; 0 means 10s.
	ShutdownTimeout time.Duration

	mu     sync.Mutex // serializes Reload
	cfg    *Config    // the configuration in service, once Reload accepted one
	cert   atomic.Pointer[tls.Certificate]
	ech    atomic.Pointer[echInService]
	certs  inService // what Metrics.Certificates last heard
	stamps map[string]fileStamp
	once   sync.Once
	// ports are those of the HTTPS and XMPPS listeners, the defaults of
	// Gateway.PublicPort and XMPPSPort (G2); 0 when unknown.
	ports struct{ https, xmpps, quic uint16 }
	// quicPC is the QUIC socket in service: QUICPacketConn, or the one Run
	// opened on QUICAddr; nil for none.
	quicPC net.PacketConn
}

func (s *Server) init() {
	s.once.Do(func() {
		if s.Handler == nil {
			s.Handler = new(Handler)
		}
		if s.Logger == nil {
			s.Logger = slog.New(slog.DiscardHandler)
		}
		if s.Handler.Metrics == nil {
			s.Handler.Metrics = s.Metrics
		}
		if s.ACME != nil && s.ACME.HostPolicy == nil {
			s.ACME.HostPolicy = func(_ context.Context, host string) error {
				if s.Handler.Serves(host) {
					return nil
				}
				return fmt.Errorf("serve: %q is not a configured domain", host)
			}
		}
	})
}

// TLSConfig is the server's TLS configuration: the loaded certificate, or
// ACME with its tls-alpn-01 protocol.
func (s *Server) TLSConfig() *tls.Config {
	s.init()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"},
		// Clones (the gateway's per-ALPN variants) share it, so retry
		// configurations go out whichever variant answers (E4).
		GetEncryptedClientHelloKeys: s.echKeys}
	if s.CertFile == "" && s.ACME != nil {
		cfg.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			c, err := s.ACME.GetCertificate(hello)
			if err == nil && !slices.Contains(hello.SupportedProtos, acme.ALPNProto) {
				// A served certificate, not a tls-alpn-01 challenge
				// answer: its expiry is what operators must watch.
				s.certs.served(s.Metrics, hostKey(hello.ServerName), c)
			}
			return c, err
		}
		cfg.NextProtos = append(cfg.NextProtos, acme.ALPNProto)
		return cfg
	}
	cfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		if c := s.cert.Load(); c != nil {
			return c, nil
		}
		return nil, errors.New("serve: no certificate loaded")
	}
	return cfg
}

func (s *Server) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10, // discovery requests are tiny
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelDebug),
	}
}

// Run loads the configuration and certificate, then listens on Addr, and
// on HTTPAddr, MetricsAddr and XMPPSAddr when set and their Listener
// fields are not,
// and serves until ctx is done, then shuts down gracefully. Loading comes
// first so that a missing or invalid file is reported as such (a
// *StartError) before any port is bound, not hidden behind a port that is
// taken or needs privileges.
func (s *Server) Run(ctx context.Context) error {
	addr := s.Addr
	if addr == "" {
		addr = ":443"
	}
	s.ports.https = addrPort(addr)
	s.ports.xmpps = addrPort(s.XMPPSAddr)
	if s.XMPPSListener != nil {
		s.ports.xmpps = addrPort(s.XMPPSListener.Addr().String())
	}
	s.ports.quic = addrPort(s.QUICAddr)
	if s.QUICPacketConn != nil {
		s.ports.quic = addrPort(s.QUICPacketConn.LocalAddr().String())
	}
	if err := s.start(); err != nil {
		closeAll([]net.Listener{s.HTTPListener, s.MetricsListener, s.XMPPSListener})
		closePC(s.QUICPacketConn)
		return err
	}
	s.quicPC = s.QUICPacketConn
	if s.quicPC == nil && s.QUICAddr != "" {
		pc, err := net.ListenPacket("udp", s.QUICAddr)
		if err != nil {
			closeAll([]net.Listener{s.HTTPListener, s.MetricsListener, s.XMPPSListener})
			return fmt.Errorf("serve: %w", err)
		}
		s.quicPC = pc
	}
	lns := []net.Listener{nil, s.HTTPListener, s.MetricsListener, s.XMPPSListener}
	for i, a := range []string{addr, s.HTTPAddr, s.MetricsAddr, s.XMPPSAddr} {
		if lns[i] != nil || a == "" {
			continue
		}
		ln, err := net.Listen("tcp", a)
		if err != nil {
			closeAll(lns)
			closePC(s.quicPC)
			return fmt.Errorf("serve: %w", err)
		}
		lns[i] = ln
	}
	return s.serve(ctx, lns[0], lns[1], lns[2], lns[3])
}

// addrPort is the port of a host:port address, 0 when it has none.
func addrPort(a string) uint16 {
	_, p, err := net.SplitHostPort(a)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return 0
	}
	return uint16(n)
}

// Serve is Run on listeners it is given: HTTPS on ln, plain HTTP on
// HTTPListener, MetricsHandler on MetricsListener and direct TLS on
// XMPPSListener when those are set.
// It binds nothing itself. It loads the configuration and certificate
// first and fails with a *StartError if that fails: a server must not
// start with nothing to serve. Every listener is closed when Serve
// returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.ports.https = addrPort(ln.Addr().String())
	if a := addrPort(s.Addr); a != 0 {
		s.ports.https = a // the port clients reach, as for redirects
	}
	if s.XMPPSListener != nil {
		s.ports.xmpps = addrPort(s.XMPPSListener.Addr().String())
	}
	if s.QUICPacketConn != nil {
		s.ports.quic = addrPort(s.QUICPacketConn.LocalAddr().String())
	}
	if err := s.start(); err != nil {
		closeAll([]net.Listener{ln, s.HTTPListener, s.MetricsListener, s.XMPPSListener})
		closePC(s.QUICPacketConn)
		return err
	}
	s.quicPC = s.QUICPacketConn
	return s.serve(ctx, ln, s.HTTPListener, s.MetricsListener, s.XMPPSListener)
}

// closePC closes a QUIC socket of a Run or Serve that fails before it
// serves; nil is skipped.
func closePC(pc net.PacketConn) {
	if pc != nil {
		pc.Close()
	}
}

// closeAll closes the listeners of a Run or Serve that fails before it
// serves; nil entries are skipped.
func closeAll(lns []net.Listener) {
	for _, l := range lns {
		if l != nil {
			l.Close()
		}
	}
}

// start is the first load of Run and Serve.
func (s *Server) start() error {
	s.init()
	if s.CertFile == "" && s.ACME == nil {
		return errors.New("serve: need a certificate (CertFile/KeyFile) or ACME")
	}
	if s.MetricsHandler == nil && (s.MetricsAddr != "" || s.MetricsListener != nil) {
		return errors.New("serve: a metrics listener needs a MetricsHandler")
	}
	return s.load(true)
}

// serve serves what start loaded on the listeners until ctx is done.
func (s *Server) serve(ctx context.Context, ln, httpLn, metricsLn, xmppsLn net.Listener) error {
	var servers []*http.Server
	errc := make(chan error, 5)
	start := func(srv *http.Server, l net.Listener) {
		servers = append(servers, srv)
		go func() {
			if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	// The HTTPS listener is the gateway's (G1): every connection is
	// handshaken there and routed by ALPN, to HTTP (the discovery files,
	// and WebSocket and BOSH for domains with an upstream) or to an XMPP
	// upstream.
	g := s.newGateway()
	go func() {
		if err := g.http.Serve(g.httpLn); !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			errc <- err
		}
	}()
	gwListeners := []net.Listener{ln}
	go func() {
		if err := g.serveListener(ln, "https", g.https); err != nil {
			errc <- err
		}
	}()
	s.Logger.Info("serving HTTPS", "addr", ln.Addr().String())
	if xmppsLn != nil {
		gwListeners = append(gwListeners, xmppsLn)
		go func() {
			if err := g.serveListener(xmppsLn, "xmpps", g.xmpps); err != nil {
				errc <- err
			}
		}()
		s.Logger.Info("serving direct TLS for XMPP", "addr", xmppsLn.Addr().String())
	}
	var quicTr interface{ Close() error }
	var quicLn interface{ Close() error }
	if s.quicPC != nil {
		tr, qln, err := g.listenQUIC(s.quicPC)
		if err != nil {
			s.quicPC.Close()
			closeAll(gwListeners)
			return fmt.Errorf("serve: quic: %w", err)
		}
		quicTr, quicLn = tr, qln
		go func() {
			if err := g.serveQUIC(qln); err != nil {
				errc <- err
			}
		}()
		s.Logger.Info("serving XMPP over QUIC", "addr", s.quicPC.LocalAddr().String())
	}
	if httpLn != nil {
		var h http.Handler = http.HandlerFunc(s.redirect)
		if s.ACME != nil {
			h = s.ACME.HTTPHandler(h) // answers http-01, redirects the rest
		}
		start(s.httpServer(h), httpLn)
		s.Logger.Info("redirecting HTTP", "addr", httpLn.Addr().String())
	}
	if metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", s.MetricsHandler)
		start(s.httpServer(mux), metricsLn)
		s.Logger.Info("serving metrics", "addr", metricsLn.Addr().String())
	}
	pollDone := make(chan struct{})
	go s.poll(ctx, pollDone)

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	close(pollDone)
	timeout := s.ShutdownTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// Stop accepting, then let the gateway's requests and streams end by
	// themselves until the timeout (G4).
	g.mu.Lock()
	g.closing = true
	g.mu.Unlock()
	closeAll(gwListeners)
	if quicLn != nil {
		quicLn.Close() // stop accepting; relayed streams go on (G4)
	}
	g.shutdown(sctx)
	if quicTr != nil {
		quicTr.Close()
		s.quicPC.Close()
	}
	for _, srv := range servers {
		if e := srv.Shutdown(sctx); e != nil && err == nil {
			err = e
		}
	}
	s.Logger.Info("stopped")
	return err
}

// redirect sends plain-HTTP requests for configured domains to HTTPS (H1:
// clients never fetch over HTTP); anything else gets 404.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request) {
	host := hostKey(r.Host)
	if !s.Handler.Serves(host) {
		http.NotFound(w, r)
		return
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if _, port, err := net.SplitHostPort(s.Addr); err == nil && port != "" && port != "443" {
		host += ":" + port
	}
	http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusMovedPermanently)
}

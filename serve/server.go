package serve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// Server publishes a Handler over HTTPS (P1): certificates from files
// (reloaded when they change) or from ACME, an optional plain-HTTP listener
// that only redirects to HTTPS and answers ACME http-01 challenges, an
// optional Prometheus endpoint, and configuration reload that never drops
// connections and never replaces a working configuration with a broken one.
//
// Only Load is required; every other field's zero value is usable.
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

	// Addr is the HTTPS listen address for Run; empty means ":443".
	Addr string
	// HTTPAddr, when set, is where Run listens for plain HTTP, which gets
	// only redirects to HTTPS and ACME http-01 answers.
	HTTPAddr string
	// MetricsAddr, when set, is where Run serves Prometheus /metrics, on a
	// private registry and a separate listener so it is never public by
	// accident.
	MetricsAddr string

	// CertFile and KeyFile are the PEM certificate chain and key. Unset,
	// ACME must be set.
	CertFile, KeyFile string
	// ACME obtains certificates when CertFile is unset. A nil HostPolicy
	// is set to allow exactly the configured domains.
	ACME *autocert.Manager

	// Handler is what is served; nil means a new Handler. Its Metrics are
	// set when MetricsAddr is.
	Handler *Handler
	// Logger receives reload and shutdown messages; nil discards them.
	Logger *slog.Logger
	// ShutdownTimeout bounds graceful shutdown; 0 means 10s.
	ShutdownTimeout time.Duration

	mu      sync.Mutex // serializes Reload
	cfg     *Config    // the configuration in service, once Reload accepted one
	cert    atomic.Pointer[tls.Certificate]
	stamps  map[string]fileStamp
	metrics *Metrics
	reg     *prometheus.Registry
	once    sync.Once
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func (s *Server) init() {
	s.once.Do(func() {
		if s.Handler == nil {
			s.Handler = new(Handler)
		}
		if s.Logger == nil {
			s.Logger = slog.New(slog.DiscardHandler)
		}
		s.reg = prometheus.NewRegistry()
		m, err := NewMetrics(s.reg)
		if err == nil { // a fresh registry cannot clash
			s.metrics = m
			s.Handler.Metrics = m
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

// MetricsHandler serves the Server's Prometheus metrics.
func (s *Server) MetricsHandler() http.Handler {
	s.init()
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})
}

// ReloadError says which part of a reload failed; what was serving before
// keeps serving.
type ReloadError struct {
	Part string // "config" or "certificate"
	Err  error
}

func (e *ReloadError) Error() string {
	return "serve: reload " + e.Part + " failed, still serving the previous one: " + e.Err.Error()
}
func (e *ReloadError) Unwrap() error { return e.Err }

// StartError is Serve's failure to load what it serves first: the
// configuration or the certificate files are unreadable or invalid, so
// nothing was served. Unlike a ReloadError, no previous version exists to
// fall back on. Err holds every problem found (a *ConfigError, a file
// error), each line of its text prefixed "serve: ".
type StartError struct {
	Err error
}

func (e *StartError) Error() string { return e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// Reload loads the configuration and the certificate files again. Each part
// is replaced only if its new version is valid; the error lists what was
// kept and why. A configuration whose HPKP policy has no pin of the
// certificate chain being served, or no backup pin, is invalid
// (Config.CheckChain, P2), and so is a new certificate that the
// configuration in service would leave without either. With ACME, any
// HPKP policy is invalid (Config.CheckACME). It is safe to call at any time, from any goroutine.
func (s *Server) Reload() error { return s.load(false) }

// load is Reload, or with start set the first load of Serve: then a
// failure is a *StartError, left for Serve's caller to report rather than
// logged, since there is no previous version still serving.
func (s *Server) load(start bool) error {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stamps = s.stampAll() // what we load now is what later polls compare to
	var errs []error
	fail := func(part string, err error) {
		switch {
		case !start:
			err = &ReloadError{Part: part, Err: err}
		case part == "certificate":
			err = fmt.Errorf("serve: certificate: %w", err)
		case !strings.HasPrefix(err.Error(), "serve: "):
			err = fmt.Errorf("serve: configuration: %w", err)
		}
		errs = append(errs, err)
	}
	var newCert *tls.Certificate
	if s.CertFile != "" {
		c, err := s.readCert()
		if err != nil {
			fail("certificate", err)
		} else {
			newCert = c
		}
	}
	serving := newCert
	if serving == nil {
		serving = s.cert.Load()
	}
	chain, _ := certChain(serving) // readCert parsed every certificate already
	if s.Load == nil {
		fail("config", errors.New("no Load function"))
	} else if cfg, err := s.Load(); err != nil {
		fail("config", err)
	} else if err := cfg.CheckChain(chain); err != nil {
		fail("config", err)
	} else if err := s.checkACME(cfg); err != nil {
		fail("config", err)
	} else if err := s.Handler.Load(cfg); err != nil {
		fail("config", err)
	} else {
		s.cfg = cfg
	}
	if newCert != nil {
		if s.cfg != nil {
			if err := s.cfg.CheckChain(chain); err != nil {
				// The configuration kept in service pins this chain
				// without a backup: serving it would strand clients.
				fail("certificate", err)
				newCert = nil
			}
		}
		if newCert != nil {
			s.cert.Store(newCert)
			if s.metrics != nil {
				s.metrics.certs.replace(newCert.Leaf)
			}
		}
	}
	err := errors.Join(errs...)
	s.metrics.reload(err == nil)
	switch {
	case err != nil && start:
		return &StartError{Err: err}
	case err != nil:
		s.Logger.Error("reload failed", "err", err)
	default:
		s.Logger.Info("configuration loaded", "domains", len(s.Handler.Domains()))
	}
	return err
}

// checkACME refuses HPKP policies when certificates come from ACME
// (Config.CheckACME, P2).
func (s *Server) checkACME(cfg *Config) error {
	if s.CertFile != "" || s.ACME == nil {
		return nil
	}
	return cfg.CheckACME()
}

// readCert loads and checks the certificate files without putting them in
// service.
func (s *Server) readCert() (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
	if err != nil {
		if _, isPath := errors.AsType[*fs.PathError](err); !isPath {
			// crypto/tls names neither file.
			err = fmt.Errorf("%s, %s: %w", s.CertFile, s.KeyFile, err)
		}
		return nil, err
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, err
		}
	}
	if _, err := certChain(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", s.CertFile, err)
	}
	if time.Now().After(c.Leaf.NotAfter) {
		return nil, fmt.Errorf("%s expired on %s", s.CertFile, c.Leaf.NotAfter.Format(time.RFC3339))
	}
	return &c, nil
}

func (s *Server) watched() []string {
	files := append([]string(nil), s.Watch...)
	if s.CertFile != "" {
		files = append(files, s.CertFile, s.KeyFile)
	}
	return files
}

func (s *Server) stampAll() map[string]fileStamp {
	m := map[string]fileStamp{}
	for _, f := range s.watched() {
		if fi, err := os.Stat(f); err == nil {
			m[f] = fileStamp{fi.ModTime(), fi.Size()}
		}
	}
	return m
}

// CheckFiles reloads when a watched file changed since the last reload, and
// reports whether it did. The poller calls it every PollInterval; tests and
// programs with their own file watching may call it directly.
func (s *Server) CheckFiles() (bool, error) {
	s.init()
	s.mu.Lock()
	changed := false
	now := s.stampAll()
	for f, st := range now {
		if old, ok := s.stamps[f]; !ok || !old.mod.Equal(st.mod) || old.size != st.size {
			changed = true
		}
	}
	s.mu.Unlock()
	if !changed {
		return false, nil
	}
	s.Logger.Info("watched file changed, reloading")
	return true, s.Reload()
}

// TLSConfig is the server's TLS configuration: the loaded certificate, or
// ACME with its tls-alpn-01 protocol.
func (s *Server) TLSConfig() *tls.Config {
	s.init()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	if s.CertFile == "" && s.ACME != nil {
		cfg.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			c, err := s.ACME.GetCertificate(hello)
			if err == nil && s.metrics != nil && !slices.Contains(hello.SupportedProtos, acme.ALPNProto) {
				// A served certificate, not a tls-alpn-01 challenge
				// answer: its expiry is what operators must watch.
				s.metrics.certs.set(c)
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

// Run loads the configuration and certificate, then listens on Addr (and
// HTTPAddr, MetricsAddr when set) and serves until ctx is done, then shuts
// down gracefully. Loading comes first so that a missing or invalid file
// is reported as such (a *StartError) before any port is bound, not hidden
// behind a port that is taken or needs privileges.
func (s *Server) Run(ctx context.Context) error {
	if err := s.start(); err != nil {
		return err
	}
	addr := s.Addr
	if addr == "" {
		addr = ":443"
	}
	var lns []net.Listener
	closeAll := func() {
		for _, l := range lns {
			if l != nil {
				l.Close()
			}
		}
	}
	for _, a := range []string{addr, s.HTTPAddr, s.MetricsAddr} {
		if a == "" {
			lns = append(lns, nil)
			continue
		}
		ln, err := net.Listen("tcp", a)
		if err != nil {
			closeAll()
			return fmt.Errorf("serve: %w", err)
		}
		lns = append(lns, ln)
	}
	return s.serve(ctx, lns[0], lns[1], lns[2])
}

// Serve is Run on given listeners; httpLn and metricsLn may be nil. It
// loads the configuration and certificate first and fails with a
// *StartError if that fails: a server must not start with nothing to serve.
func (s *Server) Serve(ctx context.Context, ln, httpLn, metricsLn net.Listener) error {
	if err := s.start(); err != nil {
		for _, l := range []net.Listener{ln, httpLn, metricsLn} {
			if l != nil {
				l.Close()
			}
		}
		return err
	}
	return s.serve(ctx, ln, httpLn, metricsLn)
}

// start is the first load of Run and Serve.
func (s *Server) start() error {
	s.init()
	if s.CertFile == "" && s.ACME == nil {
		return errors.New("serve: need a certificate (CertFile/KeyFile) or ACME")
	}
	return s.load(true)
}

// serve serves what start loaded on the listeners until ctx is done.
func (s *Server) serve(ctx context.Context, ln, httpLn, metricsLn net.Listener) error {
	var servers []*http.Server
	errc := make(chan error, 3)
	start := func(srv *http.Server, l net.Listener, tlsOn bool) {
		servers = append(servers, srv)
		go func() {
			var err error
			if tlsOn {
				err = srv.Serve(tls.NewListener(l, srv.TLSConfig))
			} else {
				err = srv.Serve(l)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	main := s.httpServer(s.Handler)
	main.TLSConfig = s.TLSConfig()
	start(main, ln, true)
	s.Logger.Info("serving HTTPS", "addr", ln.Addr().String())
	if httpLn != nil {
		var h http.Handler = http.HandlerFunc(s.redirect)
		if s.ACME != nil {
			h = s.ACME.HTTPHandler(h) // answers http-01, redirects the rest
		}
		start(s.httpServer(h), httpLn, false)
		s.Logger.Info("redirecting HTTP", "addr", httpLn.Addr().String())
	}
	if metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", s.MetricsHandler())
		start(s.httpServer(mux), metricsLn, false)
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
	for _, srv := range servers {
		if e := srv.Shutdown(sctx); e != nil && err == nil {
			err = e
		}
	}
	s.Logger.Info("stopped")
	return err
}

func (s *Server) poll(ctx context.Context, done <-chan struct{}) {
	if s.PollInterval < 0 {
		return
	}
	iv := s.PollInterval
	if iv == 0 {
		iv = 5 * time.Second
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-t.C:
			s.CheckFiles() // errors are logged by Reload
		}
	}
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

package serve

// This file is how a Server loads what it serves and loads it again:
// the first load, Reload, watching files, and the errors of both.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"
)

// ReloadError says which part of a reload failed; what was serving before
// keeps serving.
type ReloadError struct {
	Part string // "config", "certificate" or "ech keys"
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
	} else if err := s.use(cfg, chain); err != nil {
		fail("config", err)
	} else {
		s.cfg = cfg
	}
	if err := s.loadECH(s.cfg); err != nil {
		fail("ech keys", err)
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
			s.certs.replace(s.Metrics, newCert.Leaf)
		}
	}
	err := errors.Join(errs...)
	switch {
	case err != nil && start:
		err = &StartError{Err: err}
	case err != nil:
		s.Logger.Error("reload failed", "err", err)
	default:
		s.Logger.Info("configuration loaded", "domains", len(s.Handler.Domains()))
	}
	if s.Metrics != nil {
		s.Metrics.Reload(err)
	}
	return err
}

// use checks a newly loaded cfg against the certificate chain in service
// and puts it in service. Where cfg names no public ports for its gateway,
// those of the Server's listeners are used, for the records derived from
// them (G2).
func (s *Server) use(cfg *Config, chain []*x509.Certificate) error {
	if cfg.Gateway.PublicPort == 0 {
		cfg.Gateway.PublicPort = s.ports.https
	}
	if cfg.Gateway.XMPPSPort == 0 {
		cfg.Gateway.XMPPSPort = s.ports.xmpps
	}
	if cfg.Gateway.QUICPort == 0 {
		cfg.Gateway.QUICPort = s.ports.quic
	}
	if err := cfg.CheckChain(chain); err != nil {
		return err
	}
	if err := s.checkACME(cfg); err != nil {
		return err
	}
	return s.Handler.Load(cfg)
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

type fileStamp struct {
	mod  time.Time
	size int64
}

func (s *Server) watched() []string {
	files := append([]string(nil), s.Watch...)
	if s.CertFile != "" {
		files = append(files, s.CertFile, s.KeyFile)
	}
	return append(files, s.ECHKeyFiles...)
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

package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/net/proxy"

	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/discover"
	"hacx.dev/hacx/trust"
)

// netFlags are the flags every network command shares (lookup, check,
// proxy, demo...), so that they mean the same everywhere.
type netFlags struct {
	resolver string        // DNS server host:port; DNSSEC answers trusted only from loopback or this
	caFile   string        // extra PEM roots, added to the system pool
	cacheDir string        // document cache directory
	noCache  bool          // neither read nor write the document cache
	stateDir string        // HSTS / HPKP stores
	timeout  time.Duration // whole-operation timeout
	socks    string        // socks5h:// or socks5:// proxy URL, "none" to disable
}

func (n *netFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&n.resolver, "resolver", "", "DNS `server` (host:port) for SRV, A/AAAA and DNSSEC-validated TLSA lookups (default: system resolver)")
	fs.StringVar(&n.caFile, "ca-file", "", "PEM `file` of extra trusted root certificates")
	fs.StringVar(&n.cacheDir, "cache-dir", "", "document cache `dir` (default: the user cache dir + /hacx)")
	fs.BoolVar(&n.noCache, "no-cache", false, "do not read or write the document cache")
	fs.StringVar(&n.stateDir, "state-dir", "", "HSTS/HPKP state `dir` (default: $XDG_STATE_HOME/hacx, else ~/.local/state/hacx)")
	fs.DurationVar(&n.timeout, "timeout", 30*time.Second, "give up after this `duration`")
	fs.StringVar(&n.socks, "socks", "", "SOCKS5 proxy `URL` (socks5h://host:port resolves names through it); \"none\" ignores ALL_PROXY")
}

// testDialContext, set only by tests, maps host names to loopback servers.
var testDialContext func(ctx context.Context, network, addr string) (net.Conn, error)

// client builds the discovery resolver and the dialer the flags describe;
// the two agree on roots, DNS server, cache, HSTS/HPKP state and proxy.
func (n *netFlags) client() (*discover.Resolver, *dial.Dialer, error) {
	r := &discover.Resolver{DNSServer: n.resolver, DialContext: testDialContext}
	d := &dial.Dialer{}
	if n.caFile != "" {
		roots, err := loadRoots(n.caFile)
		if err != nil {
			return nil, nil, err
		}
		r.Roots, d.Roots = roots, roots
	}
	if !n.noCache {
		if dir := orUserDir(n.cacheDir, os.UserCacheDir); dir != "" {
			r.Cache = discover.DirCache(dir)
		}
	}
	if state := orUserDir(n.stateDir, userStateDir); state != "" {
		if err := os.MkdirAll(state, 0o700); err != nil {
			return nil, nil, fmt.Errorf("--state-dir: %w", err)
		}
		r.HSTS = &trust.HSTSStore{Path: filepath.Join(state, "hsts.json")}
		r.HPKP = &trust.HPKPStore{Path: filepath.Join(state, "hpkp.json")}
	}
	dialCtx, remoteDNS, err := socksDialer(n.socks)
	if err != nil {
		return nil, nil, err
	}
	if dialCtx != nil {
		// T1: every connection through the proxy, never around it.
		r.DialContext, d.DialContext = dialCtx, dialCtx
		if remoteDNS {
			r.NoDNS = true       // no local SRV, A/AAAA or TLSA query
			d.TLSA = dial.NoDANE // and so no DANE for routes either
		}
	}
	d.Routes = dial.Discovery{Resolver: r}
	return r, d, nil
}

// orUserDir is dir, or base()/hacx when dir is empty ("" if neither).
func orUserDir(dir string, base func() (string, error)) string {
	if dir != "" {
		return dir
	}
	if b, err := base(); err == nil {
		return filepath.Join(b, "hacx")
	}
	return ""
}

// userStateDir is where state that should survive restarts but is not
// configuration lives, per the XDG base directory spec: $XDG_STATE_HOME
// (when absolute), else ~/.local/state. HSTS and HPKP memories are such
// state (X5, X6); keeping them out of the config dir means deleting or
// syncing configuration never forgets a pinned host.
func userStateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no state dir: neither $XDG_STATE_HOME nor $HOME is set: %w", err)
	}
	return filepath.Join(home, ".local", "state"), nil
}

// loadRoots is the system pool plus the certificates of a PEM file.
func loadRoots(file string) (*x509.CertPool, error) {
	pemData, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if !roots.AppendCertsFromPEM(pemData) {
		return nil, fmt.Errorf("--ca-file %s: no PEM certificate found", file)
	}
	return roots, nil
}

// socksDialer turns --socks (or ALL_PROXY when the flag is empty) into a
// dial function; remoteDNS is true for socks5h, which resolves names at
// the proxy (T1). "none" means no proxy whatever ALL_PROXY says.
func socksDialer(flagValue string) (fn func(ctx context.Context, network, addr string) (net.Conn, error), remoteDNS bool, err error) {
	raw := flagValue
	if raw == "" {
		raw = os.Getenv("ALL_PROXY")
		if raw == "" {
			raw = os.Getenv("all_proxy")
		}
	}
	if raw == "" || raw == "none" {
		return nil, false, nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, false, fmt.Errorf("--socks %q: want socks5h://host:port or socks5://host:port", raw)
	}
	switch u.Scheme {
	case "socks5h":
		remoteDNS = true
	case "socks5":
	default:
		return nil, false, fmt.Errorf("--socks %q: scheme must be socks5h or socks5", raw)
	}
	var auth *proxy.Auth
	if u.User != nil {
		pw, _ := u.User.Password()
		auth = &proxy.Auth{User: u.User.Username(), Password: pw}
	}
	// The forward dialer only reaches the proxy itself: nothing bypasses it.
	p, err := proxy.SOCKS5("tcp", u.Host, auth, &net.Dialer{Timeout: dial.DefaultConnectTimeout})
	if err != nil {
		return nil, false, fmt.Errorf("--socks: %w", err)
	}
	cd, ok := p.(proxy.ContextDialer)
	if !ok {
		return nil, false, errors.New("--socks: proxy dialer cannot take a context")
	}
	return cd.DialContext, remoteDNS, nil
}

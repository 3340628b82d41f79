package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/discover"
	"hacx.dev/hacx/dnssec"
	"hacx.dev/hacx/socks"
	"hacx.dev/hacx/trust"
)

// netFlags are the flags every network command shares (lookup, check,
// proxy, demo...), so that they mean the same everywhere.
type netFlags struct {
	resolver string          // DNS server as dnssec.ParseServer reads it, "none" for no DNS, "" for the default
	dnssec   discover.DNSSEC // how DNS answers are trusted (D1, X4)
	anchors  []dns.RR        // --trust-anchor records, in the order given
	caFile   string          // extra PEM roots, added to the system pool
	cacheDir string          // document cache directory
	noCache  bool            // neither read nor write the document cache
	stateDir string          // HSTS / HPKP stores
	timeout  time.Duration   // whole-operation timeout
	socks    string          // socks5h:// or socks5:// proxy URL, "none" to disable
}

func (n *netFlags) register(fs *flag.FlagSet) {
	fs.Func("resolver", "DNS `server` for every lookup (SRV, TLSA, the addresses of web hosts): IP[:PORT] (plain DNS, port 53 if left out), tcp://IP[:PORT], tls://HOST[:PORT] (DNS over TLS, port 853), https://HOST[:PORT]/PATH (DNS over HTTPS by POST; a PATH ending in {?dns} asks by GET), or none (no DNS at all). --ca-file roots verify TLS and HTTPS servers. Default: the system resolver; with --socks, "+defaultProxyResolver+". With --socks every query goes through the proxy, over TCP, TLS or HTTPS, never outside it (T1)", func(v string) (err error) {
		n.resolver, err = parseNetResolver(v)
		return err
	})
	fs.Func("dnssec", "how DNS answers are trusted (D1): `validate` (the default: hacx checks the DNSSEC signatures itself, from the trust anchors), resolver (believe the AD bit of --resolver, or of a resolver on loopback) or off (no validation, no DANE)", func(v string) (err error) {
		n.dnssec, err = discover.ParseDNSSEC(v)
		if err != nil {
			err = errors.New("want validate, resolver or off")
		}
		return err
	})
	fs.Func("trust-anchor", "`file` of DS or DNSKEY records (zone-file format) DNSSEC validation starts from, repeatable; an anchor for \".\" replaces the built-in IANA root keys, others are added to them", func(v string) error {
		f, err := os.Open(v)
		if err != nil {
			return err
		}
		defer f.Close()
		rrs, err := dnssec.ParseAnchors(f, v)
		if err != nil {
			return err
		}
		n.anchors = append(n.anchors, rrs...)
		return nil
	})
	fs.StringVar(&n.caFile, "ca-file", "", "PEM `file` of extra trusted root certificates")
	fs.StringVar(&n.cacheDir, "cache-dir", "", "document cache `dir` (default: the user cache dir + /hacx)")
	fs.BoolVar(&n.noCache, "no-cache", false, "do not read or write the document cache")
	fs.StringVar(&n.stateDir, "state-dir", "", "HSTS/HPKP state `dir` (default: $XDG_STATE_HOME/hacx, else ~/.local/state/hacx)")
	fs.DurationVar(&n.timeout, "timeout", 30*time.Second, "give up after this `duration`")
	fs.StringVar(&n.socks, "socks", "", "SOCKS5 proxy `URL`: socks5h://host:port has the proxy resolve host names, socks5://host:port gets IP addresses from hacx; either way hacx's own DNS queries go to --resolver through the proxy (T1); \"none\" ignores ALL_PROXY")
}

// defaultProxyResolver is the DNS server asked through a --socks proxy
// when --resolver names none (T1): the system's resolver cannot be
// reached through a proxy (it is often on this machine's loopback or
// LAN), and asking it around the proxy would tell the network which
// service is being reached. DNS over HTTPS on port 443 passes where the
// proxy does (Tor exits allow HTTPS), and an IP address needs no lookup
// of its own. Cloudflare's resolver returns DNSSEC records, so answers
// are validated here as always (D1).
const defaultProxyResolver = "https://1.1.1.1/dns-query"

// parseNetResolver is the DNS server --resolver names, in the form
// dnssec.ParseServer reads, "none", or "" (the default) for an empty
// value. Anything hacx cannot ask is refused here, as bad usage, rather
// than failing query by query.
func parseNetResolver(v string) (string, error) {
	switch v {
	case "", "none":
		return v, nil
	}
	s, err := dnssec.ParseServer(v)
	if err != nil {
		return "", errors.New(strings.TrimPrefix(err.Error(), "dnssec: "))
	}
	return s.String(), nil
}

// plainResolver is the --resolver server's IP:PORT when it speaks plain
// DNS, else "".
func (n *netFlags) plainResolver() string {
	if s, err := dnssec.ParseServer(n.resolver); err == nil && s.Proto == dnssec.Plain {
		return s.Addr
	}
	return ""
}

// parseResolver is a plain DNS server (the exporter's --resolver and
// module resolvers), as IP:PORT, or "" (the system resolver) for an
// empty value. Anything else is refused here, as bad usage, rather than
// failing query by query: the user chose that server to keep queries
// away from the system resolver, and a host name would itself be looked
// up through the system resolver.
func parseResolver(v string) (string, error) {
	const want = "want the DNS server's IP address, with a port if not 53 (127.0.0.1:53, [::1]:5353)"
	if v == "" {
		return "", nil
	}
	if strings.Contains(v, "://") {
		return "", errors.New("hacx asks plain DNS (UDP, then TCP) only, not DNS over TLS or HTTPS; " + want)
	}
	if ip, err := netip.ParseAddr(v); err == nil {
		return netip.AddrPortFrom(ip, 53).String(), nil
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", errors.New(want)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "", fmt.Errorf("%q is not an IP address (a name would be looked up through the system resolver); %s", host, want)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return "", fmt.Errorf("port %q is not 1-65535; %s", port, want)
	}
	return netip.AddrPortFrom(ip, uint16(p)).String(), nil
}

// testDialContext, set only by tests, maps host names to loopback servers.
var testDialContext func(ctx context.Context, network, addr string) (net.Conn, error)

// testRouteDialContext, set only by tests, maps the ip:port of routes to
// loopback servers (the F1 fallback's customary ports, say).
var testRouteDialContext func(ctx context.Context, network, addr string) (net.Conn, error)

// client builds the discovery resolver and the dialer the flags describe;
// the two agree on roots, DNS server, cache, HSTS/HPKP state and proxy.
// Its warnings are c's diagnostics on sio.
func (n *netFlags) client(sio *stdio, c *command) (*discover.Resolver, *dial.Dialer, error) {
	r := &discover.Resolver{DNSSEC: n.dnssec, DialContext: testDialContext}
	if len(n.anchors) > 0 {
		r.TrustAnchors = n.anchors
		if !slices.ContainsFunc(n.anchors, func(rr dns.RR) bool { return rr.Header().Name == "." }) {
			r.TrustAnchors = append(dnssec.RootAnchors(), n.anchors...)
		}
	}
	d := &dial.Dialer{DialContext: testRouteDialContext}
	if n.caFile != "" {
		roots, err := loadRoots(n.caFile)
		if err != nil {
			return nil, nil, err
		}
		r.Roots, d.Roots = roots, roots
	}
	// Route memory (the last winner first, recent stalls last) lives
	// next to the cached documents, and --no-cache turns both off.
	d.Memory = dial.NoMemory
	if !n.noCache {
		if dir := orUserDir(n.cacheDir, os.UserCacheDir); dir != "" {
			r.Cache = discover.DirCache(dir)
			d.Memory = discover.DirCache(dir)
		}
	}
	if state := orUserDir(n.stateDir, userStateDir); state != "" {
		if err := os.MkdirAll(state, 0o700); err != nil {
			return nil, nil, fmt.Errorf("--state-dir: %w", err)
		}
		r.HSTS = &trust.HSTSStore{Path: filepath.Join(state, "hsts.json")}
		r.HPKP = &trust.HPKPStore{Path: filepath.Join(state, "hpkp.json")}
	}
	p, err := n.proxy()
	if err != nil {
		return nil, nil, err
	}
	// T1: every connection through the proxy, never around it, DNS
	// included: to --resolver, or to defaultProxyResolver, through the
	// proxy (the Resolver then makes no UDP query and none outside it).
	switch {
	case n.resolver == "none":
		r.NoDNS = true
	case n.resolver != "":
		r.DNSServer = n.resolver
	case p != nil:
		r.DNSServer = defaultProxyResolver
	}
	r.Proxy, d.Proxy = p, p
	d.Routes = r
	return r, d, nil
}

// withTimeout bounds ctx by --timeout (none when it is not positive);
// the caller must call the returned cancel.
func (n *netFlags) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if n.timeout > 0 {
		return context.WithTimeout(ctx, n.timeout)
	}
	return ctx, func() {}
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

// proxy is the proxy --socks names, or ALL_PROXY (all_proxy) when the
// flag is empty; nil for none. "--socks none" ignores ALL_PROXY.
func (n *netFlags) proxy() (*socks.Proxy, error) {
	switch n.socks {
	case "none":
		return nil, nil
	case "":
		return socks.FromEnvironment()
	}
	p, err := socks.Parse(n.socks)
	if err != nil {
		return nil, fmt.Errorf("--socks: %w", err)
	}
	return p, nil
}

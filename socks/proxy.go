package socks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"

	"golang.org/x/net/proxy"
)

// Schemes of a proxy URL.
const (
	// SchemeRemoteDNS has the proxy resolve host names (Tor's default, T1).
	SchemeRemoteDNS = "socks5h"
	// SchemeLocalDNS resolves host names locally and sends the proxy IPs.
	SchemeLocalDNS = "socks5"
)

// Proxy is a SOCKS5 proxy. The zero Scheme means socks5h, so a Proxy that
// only names Addr never resolves names locally. A Proxy is safe for
// concurrent use; do not change its fields while it is in use.
type Proxy struct {
	// Scheme is SchemeRemoteDNS ("socks5h", also when empty) or
	// SchemeLocalDNS ("socks5").
	Scheme string

	// Addr is the proxy's host:port.
	Addr string

	// Username and Password, when Username is set, are offered to the
	// proxy (RFC 1929); Tor isolates streams by them. Each is at most 255
	// bytes.
	Username string
	Password string

	// Forward opens the TCP connection to the proxy itself; nil means a
	// net.Dialer. It is only ever called with Addr.
	Forward func(ctx context.Context, network, addr string) (net.Conn, error)

	// LookupHost resolves host names for socks5 (never for socks5h); nil
	// means net.DefaultResolver.
	LookupHost func(ctx context.Context, host string) ([]netip.Addr, error)
}

// Error is a failure to connect through a proxy. It names the proxy the
// way String does, without credentials.
type Error struct {
	Proxy string // the proxy URL without credentials
	Addr  string // the target host:port
	Err   error
}

func (e *Error) Error() string {
	return "socks: via proxy " + e.Proxy + ": connect " + e.Addr + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrURL is wrapped by every error of Parse and FromEnvironment.
var ErrURL = errors.New("invalid SOCKS proxy URL (want socks5h://[user:pass@]host:port or socks5://...)")

// Parse builds a Proxy from a socks5h:// or socks5:// URL. A missing port
// means 1080. Errors never quote the password: they show the URL with
// everything up to its last '@' hidden, because a password holding an
// unencoded '/', '?' or '#' ends the authority early and url.URL would
// take the secret for a path, query or fragment (and Redacted would
// show it).
func Parse(rawURL string) (*Proxy, error) {
	shown := redact(rawURL)
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("socks: %q: %w", shown, ErrURL)
	}
	switch {
	case strings.Contains(u.Opaque+u.Path+u.RawQuery+u.Fragment, "@"):
		return nil, fmt.Errorf("socks: %q: '@' after the host (percent-encode '/', '?', '#' and '@' in the password): %w", shown, ErrURL)
	case u.Scheme != SchemeRemoteDNS && u.Scheme != SchemeLocalDNS:
		return nil, fmt.Errorf("socks: %q: scheme must be socks5h or socks5: %w", shown, ErrURL)
	case u.Hostname() == "":
		return nil, fmt.Errorf("socks: %q: no host: %w", shown, ErrURL)
	case u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("socks: %q: unexpected path or query: %w", shown, ErrURL)
	}
	p := &Proxy{Scheme: u.Scheme, Addr: u.Host}
	if u.Port() == "" {
		p.Addr = net.JoinHostPort(u.Hostname(), "1080")
	}
	if u.User != nil {
		p.Username = u.User.Username()
		p.Password, _ = u.User.Password()
		// RFC 1929: each is one length byte long, and a user name is
		// required for the method.
		if p.Username == "" || len(p.Username) > 255 || len(p.Password) > 255 {
			return nil, fmt.Errorf("socks: %q: user name must be 1-255 bytes, password at most 255: %w", shown, ErrURL)
		}
	}
	return p, nil
}

// FromEnvironment is the proxy ALL_PROXY (or all_proxy) names: nil and no
// error when neither is set or the value is "none".
func FromEnvironment() (*Proxy, error) {
	raw := os.Getenv("ALL_PROXY")
	if raw == "" {
		raw = os.Getenv("all_proxy")
	}
	if raw == "" || raw == "none" {
		return nil, nil
	}
	p, err := Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("ALL_PROXY: %w", err)
	}
	return p, nil
}

// RemoteDNS reports whether the proxy resolves host names (socks5h), so
// that the client hands it names and makes no DNS query of its own
// outside the proxy (T1).
func (p *Proxy) RemoteDNS() bool { return p.Scheme != SchemeLocalDNS }

// String is the proxy's URL without credentials, fit for reports and
// logs: "socks5h://127.0.0.1:9050".
func (p *Proxy) String() string {
	scheme := p.Scheme
	if scheme == "" {
		scheme = SchemeRemoteDNS
	}
	return scheme + "://" + p.Addr
}

// DialContext connects to addr (host:port) through the proxy. With
// socks5h a host name goes to the proxy as it is; with socks5 it is
// resolved first and each address tried in turn. A failure is an *Error;
// nothing is ever dialed around the proxy.
func (p *Proxy) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, p.fail(addr, fmt.Errorf("network %q not supported (CONNECT is TCP only)", network))
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, p.fail(addr, err)
	}
	if p.RemoteDNS() {
		return p.connect(ctx, network, addr)
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return p.connect(ctx, network, addr)
	}
	ips, err := p.lookup(ctx, host)
	if err != nil {
		return nil, p.fail(addr, fmt.Errorf("resolving %s locally (socks5): %w", host, err))
	}
	if len(ips) == 0 {
		return nil, p.fail(addr, fmt.Errorf("resolving %s locally (socks5): no address", host))
	}
	var errs []error
	for _, ip := range ips {
		c, err := p.connect(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func (p *Proxy) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if p.LookupHost != nil {
		return p.LookupHost(ctx, host)
	}
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// connect makes one CONNECT request for addr.
func (p *Proxy) connect(ctx context.Context, network, addr string) (net.Conn, error) {
	if p.Addr == "" {
		return nil, p.fail(addr, errors.New("no proxy address"))
	}
	var auth *proxy.Auth
	if p.Username != "" {
		auth = &proxy.Auth{User: p.Username, Password: p.Password}
	}
	var fwd proxy.Dialer = &net.Dialer{}
	if p.Forward != nil {
		fwd = forward(p.Forward)
	}
	d, err := proxy.SOCKS5("tcp", p.Addr, auth, fwd)
	if err != nil {
		return nil, p.fail(addr, err)
	}
	c, err := d.(proxy.ContextDialer).DialContext(ctx, network, addr)
	if err != nil {
		// The x/net error repeats both addresses; keep its reason only.
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			err = oe.Err
		}
		return nil, p.fail(addr, err)
	}
	return c, nil
}

func (p *Proxy) fail(addr string, err error) error {
	return &Error{Proxy: p.String(), Addr: addr, Err: err}
}

// forward adapts a dial function to proxy.Dialer and proxy.ContextDialer.
type forward func(ctx context.Context, network, addr string) (net.Conn, error)

func (f forward) Dial(network, addr string) (net.Conn, error) {
	return f(context.Background(), network, addr)
}

func (f forward) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return f(ctx, network, addr)
}

// redact hides the user information of a URL: everything between the
// scheme and the last '@', wherever url.Parse would put it.
func redact(raw string) string {
	if i := strings.LastIndex(raw, "@"); i >= 0 {
		start := strings.Index(raw, "://")
		if start < 0 || start > i {
			start = -3
		}
		return raw[:start+3] + "xxxxx" + raw[i:]
	}
	return raw
}

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// The exporter's guard against server-side request forgery. Whoever can
// ask the exporter for a probe chooses the domain, and the domain's
// publication chooses the addresses: a HACX record or an SRV target may
// name 127.0.0.1:6379, 10.0.0.5:22 or 169.254.169.254:80, and the probe
// would connect there from inside the operator's network and report what
// it found. So every connection a probe makes, the HTTPS fetches by name
// and the routes by ip:port, passes ssrfGuard: names are resolved first
// and the addresses checked, then the connection goes to a checked
// address (never to the name again, which a second answer could point
// elsewhere), and special-purpose addresses are refused unless
// --allow-private.

// specialPrefixes are the IANA special-purpose address registries (IPv4
// and IPv6) and multicast: nothing a public XMPP service is reached at.
// Decision: the few "globally reachable" entries of the registries (some
// anycast services) are refused too; no XMPP service lives there.
var specialPrefixes = func() []struct {
	p      netip.Prefix
	reason string
} {
	var out []struct {
		p      netip.Prefix
		reason string
	}
	for _, s := range []struct{ prefix, reason string }{
		{"0.0.0.0/8", "\"this network\" (RFC 791)"},
		{"10.0.0.0/8", "private (RFC 1918)"},
		{"100.64.0.0/10", "shared address space (RFC 6598)"},
		{"127.0.0.0/8", "loopback (RFC 1122)"},
		{"169.254.0.0/16", "link-local (RFC 3927)"},
		{"172.16.0.0/12", "private (RFC 1918)"},
		{"192.0.0.0/24", "IETF protocol assignments (RFC 6890)"},
		{"192.0.2.0/24", "documentation (RFC 5737)"},
		{"192.88.99.0/24", "6to4 relay anycast (RFC 7526)"},
		{"192.168.0.0/16", "private (RFC 1918)"},
		{"198.18.0.0/15", "benchmarking (RFC 2544)"},
		{"198.51.100.0/24", "documentation (RFC 5737)"},
		{"203.0.113.0/24", "documentation (RFC 5737)"},
		{"224.0.0.0/4", "multicast (RFC 5771)"},
		{"240.0.0.0/4", "reserved (RFC 1112)"},
		{"::/128", "unspecified (RFC 4291)"},
		{"::1/128", "loopback (RFC 4291)"},
		{"64:ff9b:1::/48", "local-use IPv4/IPv6 translation (RFC 8215)"},
		{"100::/64", "discard-only (RFC 6666)"},
		{"2001::/23", "IETF protocol assignments (RFC 2928)"},
		{"2001:db8::/32", "documentation (RFC 3849)"},
		{"2002::/16", "6to4 (RFC 3056)"},
		{"3fff::/20", "documentation (RFC 9637)"},
		{"5f00::/16", "segment routing (RFC 9602)"},
		{"fc00::/7", "unique local (RFC 4193)"},
		{"fe80::/10", "link-local (RFC 4291)"},
		{"fec0::/10", "site-local (RFC 3879)"},
		{"ff00::/8", "multicast (RFC 4291)"},
	} {
		out = append(out, struct {
			p      netip.Prefix
			reason string
		}{netip.MustParsePrefix(s.prefix), s.reason})
	}
	return out
}()

// nat64Prefix is the well-known NAT64 prefix (RFC 6052): the IPv4 address
// inside is what is reached, so it is judged instead.
var nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")

// specialPurpose says why ip is not a public unicast address, or "" when
// it is one. IPv4-mapped and NAT64 addresses are judged by the IPv4
// address they carry.
func specialPurpose(ip netip.Addr) string {
	ip = ip.WithZone("")
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	if nat64Prefix.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	for _, s := range specialPrefixes {
		if s.p.Contains(ip) {
			return s.reason
		}
	}
	return ""
}

// blockedError is a connection the guard refused.
type blockedError struct {
	Addr   string // what was to be dialed: host:port or ip:port
	IP     netip.Addr
	Reason string
}

func (e *blockedError) Error() string {
	what := e.IP.String()
	if !strings.HasPrefix(e.Addr, what) && !strings.HasPrefix(e.Addr, "["+what+"]") {
		what = e.Addr + " (" + what + ")"
	} else {
		what = e.Addr
	}
	return fmt.Sprintf("exporter: refused to connect to %s: %s address; the exporter probes public addresses only, unless --allow-private", what, e.Reason)
}

// ssrfGuard checks every address a probe connects to.
type ssrfGuard struct {
	allowPrivate bool
	// lookup resolves a host name to addresses.
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	// dial opens the connection to a checked ip:port.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// blocked, when set, counts a refusal.
	blocked func()
}

// DialContext connects to addr (host:port or ip:port) if its address is
// allowed: a name is resolved, each address checked, and the allowed
// ones tried in order.
func (g *ssrfGuard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		if ips, err = g.lookup(ctx, host); err != nil {
			return nil, err
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("exporter: %s has no address", host)
		}
	}
	var errs []error
	for _, ip := range ips {
		if !g.allowPrivate {
			if why := specialPurpose(ip); why != "" {
				if g.blocked != nil {
					g.blocked()
				}
				errs = append(errs, &blockedError{Addr: addr, IP: ip, Reason: why})
				continue
			}
		}
		c, err := g.dial(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 1 {
		return nil, errs[0]
	}
	return nil, errors.Join(errs...)
}

// lookupWith resolves names through r (nil: the system's resolver).
func lookupWith(r *net.Resolver) func(ctx context.Context, host string) ([]netip.Addr, error) {
	if r == nil {
		r = net.DefaultResolver
	}
	return func(ctx context.Context, host string) ([]netip.Addr, error) {
		ips, err := r.LookupNetIP(ctx, "ip", host)
		for i := range ips {
			ips[i] = ips[i].Unmap()
		}
		return ips, err
	}
}

package dnssec

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Proto is how a Server is spoken to.
type Proto string

// The transports of DNS a Client speaks.
const (
	// Plain is classic DNS: UDP, then TCP when the answer is truncated
	// (TCP only with Client.StreamOnly).
	Plain Proto = "dns"
	// TCP is DNS over TCP only (RFC 7766).
	TCP Proto = "tcp"
	// TLS is DNS over TLS (RFC 7858), port 853 by default.
	TLS Proto = "tls"
	// HTTPS is DNS over HTTPS (RFC 8484).
	HTTPS Proto = "https"
)

// Server is one upstream DNS server, as ParseServer reads it.
type Server struct {
	Proto Proto
	// Addr is the host:port connected to: an IP address for Plain and
	// TCP, an IP address or a host name for TLS and HTTPS.
	Addr string
	// Host is the name the server's certificate must hold (TLS, HTTPS):
	// Addr's host, a name or an IP address.
	Host string
	// URL is the DoH endpoint (HTTPS), without a {?dns} template.
	URL string
	// GET sends DoH queries as GET ?dns=... instead of POST (RFC 8484
	// section 4.1): the URL was given as a template ending in {?dns}.
	GET bool
}

// String is the server as ParseServer reads it back.
func (s Server) String() string {
	switch s.Proto {
	case TCP:
		return "tcp://" + s.Addr
	case TLS:
		return "tls://" + s.Addr
	case HTTPS:
		if s.GET {
			return s.URL + "{?dns}"
		}
		return s.URL
	}
	return s.Addr
}

const serverWant = "want IP[:PORT] (plain DNS), tcp://IP[:PORT], tls://HOST[:PORT] (DNS over TLS, port 853) or https://HOST[:PORT]/PATH (DNS over HTTPS; a path ending in {?dns} asks by GET)"

// ParseServer reads a DNS server address:
//
//	192.0.2.53, 192.0.2.53:5353, [2001:db8::53]:53   plain DNS (UDP, then TCP)
//	tcp://192.0.2.53[:53]                            DNS over TCP
//	tls://dns.example[:853]                          DNS over TLS (RFC 7858)
//	https://dns.example[:443]/dns-query              DNS over HTTPS by POST (RFC 8484)
//	https://dns.example/dns-query{?dns}              DNS over HTTPS by GET
//
// Plain and TCP servers must be IP addresses: a name would itself have
// to be looked up through some other resolver. TLS and HTTPS servers may
// be names, which are verified against the server's certificate and
// resolved by whatever connects (the system resolver, or a socks5h
// proxy); an IP address avoids that lookup.
func ParseServer(s string) (Server, error) {
	if s == "" {
		return Server{}, errors.New("dnssec: empty DNS server; " + serverWant)
	}
	if !strings.Contains(s, "://") {
		addr, err := ipPort(s, 53)
		if err != nil {
			return Server{}, err
		}
		return Server{Proto: Plain, Addr: addr}, nil
	}
	get := false
	raw := s
	if strings.HasSuffix(raw, "{?dns}") {
		get, raw = true, strings.TrimSuffix(raw, "{?dns}")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Server{}, fmt.Errorf("dnssec: DNS server %q: %v; %s", s, err, serverWant)
	}
	if u.User != nil {
		return Server{}, fmt.Errorf("dnssec: DNS server %q: credentials are not supported", redactURL(u))
	}
	if get && u.Scheme != "https" {
		return Server{}, fmt.Errorf("dnssec: DNS server %q: {?dns} is for https:// only", s)
	}
	switch u.Scheme {
	case "tcp":
		if u.Path != "" || u.RawQuery != "" {
			return Server{}, fmt.Errorf("dnssec: DNS server %q: tcp:// takes no path", s)
		}
		addr, err := ipPort(u.Host, 53)
		if err != nil {
			return Server{}, err
		}
		return Server{Proto: TCP, Addr: addr}, nil
	case "tls":
		if u.Path != "" || u.RawQuery != "" {
			return Server{}, fmt.Errorf("dnssec: DNS server %q: tls:// takes no path", s)
		}
		host, addr, err := hostPort(u, 853)
		if err != nil {
			return Server{}, fmt.Errorf("dnssec: DNS server %q: %v", s, err)
		}
		return Server{Proto: TLS, Addr: addr, Host: host}, nil
	case "https":
		host, addr, err := hostPort(u, 443)
		if err != nil {
			return Server{}, fmt.Errorf("dnssec: DNS server %q: %v", s, err)
		}
		if u.Path == "" {
			u.Path = "/dns-query" // the path RFC 8484's examples and most servers use
		}
		u.Fragment = ""
		return Server{Proto: HTTPS, Addr: addr, Host: host, URL: u.String(), GET: get}, nil
	}
	return Server{}, fmt.Errorf("dnssec: DNS server %q: scheme %q; %s", s, u.Scheme, serverWant)
}

func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// ipPort reads IP or IP:PORT.
func ipPort(s string, defPort uint16) (string, error) {
	bare := s
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		bare = s[1 : len(s)-1]
	}
	if ip, err := netip.ParseAddr(bare); err == nil && ip.Zone() == "" {
		return netip.AddrPortFrom(ip.Unmap(), defPort).String(), nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if strings.ContainsAny(s, "[]:") {
			return "", fmt.Errorf("dnssec: DNS server %q: %s", s, serverWant)
		}
		host, port = s, "53" // a name without port: say why a name will not do
	}
	ip, err := netip.ParseAddr(host)
	if err == nil && ip.Zone() != "" {
		return "", fmt.Errorf("dnssec: DNS server %q: an address with a zone is not supported", s)
	}
	if err != nil {
		return "", fmt.Errorf("dnssec: DNS server %q: %q is not an IP address (a name would be looked up through the system resolver); %s", s, host, serverWant)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return "", fmt.Errorf("dnssec: DNS server %q: port %q is not 1-65535", s, port)
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(p)).String(), nil
}

// hostPort is the host (for the certificate) and host:port (to dial) of u.
func hostPort(u *url.URL, defPort uint16) (string, string, error) {
	host := u.Hostname()
	if host == "" {
		return "", "", errors.New("no host")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return "", "", errors.New("an address with a zone is not supported")
		}
		host = ip.Unmap().String()
	} else if !validName(host) {
		return "", "", fmt.Errorf("bad host %q", host)
	}
	port := defPort
	if ps := u.Port(); ps != "" {
		p, err := strconv.ParseUint(ps, 10, 16)
		if err != nil || p == 0 {
			return "", "", fmt.Errorf("port %q is not 1-65535", ps)
		}
		port = uint16(p)
	}
	return strings.ToLower(host), net.JoinHostPort(host, strconv.Itoa(int(port))), nil
}

// validName reports whether h is a plausible host name (letters, digits,
// '-', '_' and dots, no empty label).
func validName(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

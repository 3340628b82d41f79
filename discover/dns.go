package discover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"hacx.dev/hacx/dnssec"
	"hacx.dev/hacx/trust"
)

const dnsTimeout = 5 * time.Second

// errNoDNS is the error of every DNS query when Resolver.NoDNS is set (T1).
var errNoDNS = errors.New("discover: local DNS disabled (NoDNS)")

// dnsServer returns the server to ask and whether its AD bit is trusted
// (X4, for DNSSECResolver): an explicitly configured server is, one from
// resolv.conf only on loopback.
func (r *Resolver) dnsServer() (string, bool, error) {
	if r.DNSServer != "" {
		return r.dnsServerFrom(nil)
	}
	if r.systemDNS != "" {
		return r.systemDNS, true, nil
	}
	f, err := os.Open("/etc/resolv.conf")
	if err != nil {
		return "", false, fmt.Errorf("discover: no DNS server: %w", err)
	}
	defer f.Close()
	return r.dnsServerFrom(f)
}

// dnsServerFrom is dnsServer with the resolv.conf contents given.
func (r *Resolver) dnsServerFrom(conf io.Reader) (string, bool, error) {
	if r.DNSServer != "" {
		return r.DNSServer, !r.dnsUntrusted, nil
	}
	cfg, err := dns.ClientConfigFromReader(conf)
	if err != nil {
		return "", false, fmt.Errorf("discover: no DNS server: %w", err)
	}
	if len(cfg.Servers) == 0 {
		return "", false, errors.New("discover: no DNS server in /etc/resolv.conf")
	}
	addr := net.JoinHostPort(cfg.Servers[0], cfg.Port)
	ip, err := netip.ParseAddr(cfg.Servers[0])
	// X4: an AD bit means something only if the path to the validating
	// resolver cannot be tampered with: loopback.
	return addr, err == nil && ip.IsLoopback(), nil
}

// tlsaBogus reports whether a TLSA lookup error must stop the connection
// rather than leave it to WebPKI: an answer found bogus (trust.ErrBogus).
// RFC 6698 section 4.1 says a bogus TLSA answer MUST abort TLS. With
// DNSSECValidate that is this process's own verdict (a signature that
// does not verify, a key that does not match its anchor: D1); with
// DNSSECResolver it is a SERVFAIL from a resolver trusted to validate,
// which is how such a resolver says "bogus", and which cannot be told
// apart from an unreachable zone without an extended error, so both fail
// closed, as RFC 7672 section 2.2 does for SMTP. Transport errors do not:
// a DNS server that cannot be reached leaves WebPKI in charge, as when
// there is no DNS at all.
func tlsaBogus(err error) bool {
	return errors.Is(err, trust.ErrBogus)
}

// tlsaName is the owner of the TLSA records of host:port. Built by hand:
// dns.TLSAName would do, but keep one spelling for all service names
// (GO-NOTES).
func tlsaName(host string, port uint16) string {
	return "_" + strconv.Itoa(int(port)) + "._tcp." + dns.Fqdn(strings.TrimSuffix(host, "."))
}

// LookupTLSA queries the TLSA records at _port._tcp.host (X4). secure is
// true only for a DNSSEC-secure answer: proven in this process from the
// trust anchors (DNSSECValidate, D1), or carrying the AD bit of a
// resolver trusted to validate (DNSSECResolver: one on loopback or one
// set explicitly in DNSServer). A name without TLSA records gives no
// records and no error; a bogus answer is an error wrapping
// trust.ErrBogus, which refuses the route. With DNSSECOff, or without
// DNS behind a proxy (T1), nothing is asked.
func (r *Resolver) LookupTLSA(ctx context.Context, host string, port uint16) (recs []*dns.TLSA, secure bool, err error) {
	recs, a, err := r.tlsa(ctx, host, port)
	return recs, a != nil && a.sec == dnssec.Secure, err
}

// tlsa is LookupTLSA with the answer itself, for reports; a nil answer
// and no error when nothing was asked.
func (r *Resolver) tlsa(ctx context.Context, host string, port uint16) ([]*dns.TLSA, *dnsAnswer, error) {
	if r.noDNS() || r.DNSSEC == DNSSECOff {
		// T1: behind socks5h without a DNS server reached through the
		// proxy, no name leaves this machine, not even the TLSA owner;
		// DANE is then unavailable, WebPKI decides.
		return nil, nil, nil
	}
	name := tlsaName(host, port)
	a, err := r.query(ctx, name, dns.TypeTLSA)
	if err != nil {
		return nil, nil, err
	}
	if a.sec == dnssec.Bogus {
		c, _ := r.dns()
		return nil, a, bogusError(name, "TLSA", c.server, a.how)
	}
	var recs []*dns.TLSA
	for _, rr := range a.records {
		if t, ok := rr.(*dns.TLSA); ok {
			recs = append(recs, t)
		}
	}
	return recs, a, nil
}

// srvRecord is one SRV answer.
type srvRecord struct {
	target                 string
	port, priority, weight uint16
}

// lookupSRV returns the SRV records of name; none (nil) for NXDOMAIN or
// NODATA. A bogus answer is an error wrapping trust.ErrBogus: its
// records are ignored (D1).
func (r *Resolver) lookupSRV(ctx context.Context, name string) ([]srvRecord, error) {
	a, err := r.query(ctx, name, dns.TypeSRV)
	if err != nil {
		return nil, err
	}
	if a.sec == dnssec.Bogus {
		c, _ := r.dns()
		return nil, bogusError(dns.Fqdn(name), "SRV", c.server, a.how)
	}
	var out []srvRecord
	for _, rr := range a.records {
		if s, ok := rr.(*dns.SRV); ok {
			out = append(out, srvRecord{target: s.Target, port: s.Port, priority: s.Priority, weight: s.Weight})
		}
	}
	return out, nil
}

// lookupIPs resolves host to its IPv6 and IPv4 addresses (AAAA first, as
// RFC 8305 prefers), following CNAMEs. An answer found bogus gives no
// address and an error wrapping trust.ErrBogus (D1).
func (r *Resolver) lookupIPs(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	var out []netip.Addr
	var errs []error
	for _, qt := range []uint16{dns.TypeAAAA, dns.TypeA} {
		a, err := r.query(ctx, host, qt)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if a.sec == dnssec.Bogus {
			c, _ := r.dns()
			errs = append(errs, bogusError(dns.Fqdn(host), dns.TypeToString[qt], c.server, a.how))
			continue
		}
		for _, rr := range a.records {
			switch a := rr.(type) {
			case *dns.A:
				if ip, ok := netip.AddrFromSlice(a.A.To4()); ok {
					out = append(out, ip)
				}
			case *dns.AAAA:
				if ip, ok := netip.AddrFromSlice(a.AAAA); ok {
					out = append(out, ip)
				}
			}
		}
	}
	if len(out) == 0 && len(errs) > 0 {
		return nil, joinAddrErrors(errs)
	}
	return out, nil
}

// joinAddrErrors is the one-line error of a name's failed AAAA and A
// queries, for reports that give each source one line: the same failure
// at the same server (it is down, say) reads once, as "DNS AAAA/A name at
// server: ...", with the AAAA query's cause; different ones are joined.
func joinAddrErrors(errs []error) error {
	if len(errs) == 2 {
		a, okA := errs[0].(*DNSError)
		b, okB := errs[1].(*DNSError)
		if okA && okB && a.Name == b.Name && a.Server == b.Server && a.Rcode == b.Rcode && a.EDE == b.EDE {
			both := *a
			both.Type = a.Type + "/" + b.Type
			return &both
		}
	}
	return joinLine(errs)
}

// joinLine is errors.Join on one line ("; " between the errors), so that
// a source's error stays one line of a report.
func joinLine(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	args := make([]any, len(errs))
	for i, e := range errs {
		args[i] = e
	}
	return fmt.Errorf(strings.TrimSuffix(strings.Repeat("%w; ", len(errs)), "; "), args...)
}

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

	"hacx.dev/hacx/trust"
)

const dnsTimeout = 5 * time.Second

// errNoDNS is the error of every DNS query when Resolver.NoDNS is set (T1).
var errNoDNS = errors.New("discover: local DNS disabled (NoDNS)")

// dnsServer returns the server to ask and whether its AD bit is trusted
// (X4): an explicitly configured server is, one from resolv.conf only on
// loopback.
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

// exchange asks one question with the DO bit, over UDP and then TCP when
// truncated. NXDOMAIN and NOERROR come back as a message; other rcodes and
// transport failures as a *DNSError.
func (r *Resolver) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, bool, error) {
	tname := dns.TypeToString[qtype]
	if r.noDNS() {
		return nil, false, &DNSError{Name: name, Type: tname, Err: errNoDNS}
	}
	server, trusted, err := r.dnsServer()
	if err != nil {
		return nil, false, &DNSError{Name: name, Type: tname, Err: err}
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	// The DO bit asks a validating resolver to say (AD) whether the data
	// is DNSSEC-secure (X4).
	m.SetEdns0(4096, true)
	m.AuthenticatedData = true
	var resp *dns.Msg
	for _, netw := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: netw, Timeout: dnsTimeout}
		resp, _, err = c.ExchangeContext(ctx, m, server)
		if err != nil {
			return nil, false, &DNSError{Name: name, Type: tname, Server: server, Err: err}
		}
		if !resp.Truncated {
			break
		}
	}
	if resp.Id != m.Id {
		return nil, false, &DNSError{Name: name, Type: tname, Server: server, Err: errors.New("answer ID mismatch")}
	}
	if resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError {
		de := &DNSError{Name: name, Type: tname, Server: server, Rcode: dns.RcodeToString[resp.Rcode],
			EDE: extendedError(resp)}
		if trusted && resp.Rcode == dns.RcodeServerFailure {
			// A validating resolver answers bogus data with SERVFAIL; an
			// unreachable zone looks the same, and both fail closed (X4).
			de.Err = trust.ErrBogus
		}
		return nil, false, de
	}
	return resp, trusted && resp.AuthenticatedData, nil
}

// extendedError formats the first RFC 8914 extended DNS error of resp, or
// "" when there is none.
func extendedError(resp *dns.Msg) string {
	opt := resp.IsEdns0()
	if opt == nil {
		return ""
	}
	for _, o := range opt.Option {
		if e, ok := o.(*dns.EDNS0_EDE); ok {
			s := strconv.Itoa(int(e.InfoCode))
			if name, ok := dns.ExtendedErrorCodeToString[e.InfoCode]; ok {
				s += " (" + name + ")"
			}
			if e.ExtraText != "" {
				s += ": " + e.ExtraText
			}
			return s
		}
	}
	return ""
}

// tlsaBogus reports whether a TLSA lookup error must stop the connection
// rather than leave it to WebPKI: a SERVFAIL from a resolver trusted to
// validate. That is how a validating resolver says "bogus" (a signature
// that does not verify, a key that does not match the anchor), and RFC
// 6698 section 4.1 says a bogus TLSA answer MUST abort TLS. A SERVFAIL
// for another reason (the zone's servers unreachable) cannot be told
// apart without an extended error, and an attacker on the resolver's path
// can cause either, so both fail closed, as RFC 7672 section 2.2 does for
// SMTP. Transport errors to the local resolver itself do not: nobody off
// the machine can cause them.
func tlsaBogus(err error) bool {
	return errors.Is(err, trust.ErrBogus)
}

// LookupTLSA queries the TLSA records at _port._tcp.host (X4) with the
// DNSSEC OK bit set. secure is true only when the answer carries the AD bit
// and came from a resolver trusted to validate: one on loopback or one set
// explicitly in DNSServer. A name without TLSA records gives no records and
// no error.
func (r *Resolver) LookupTLSA(ctx context.Context, host string, port uint16) (recs []*dns.TLSA, secure bool, err error) {
	if r.noDNS() {
		// T1: behind socks5h no name leaves this machine, not even the
		// TLSA owner; DANE is then unavailable, WebPKI decides.
		return nil, false, nil
	}
	// Built by hand: dns.TLSAName would do, but keep one spelling for all
	// service names (GO-NOTES).
	name := "_" + strconv.Itoa(int(port)) + "._tcp." + dns.Fqdn(strings.TrimSuffix(host, "."))
	resp, secure, err := r.exchange(ctx, name, dns.TypeTLSA)
	if err != nil {
		return nil, false, err
	}
	for _, rr := range resp.Answer {
		if t, ok := rr.(*dns.TLSA); ok && strings.EqualFold(t.Hdr.Name, name) {
			recs = append(recs, t)
		}
	}
	return recs, secure, nil
}

// srvRecord is one SRV answer.
type srvRecord struct {
	target                 string
	port, priority, weight uint16
}

// lookupSRV returns the SRV records of name; none (nil) for NXDOMAIN or
// NODATA.
func (r *Resolver) lookupSRV(ctx context.Context, name string) ([]srvRecord, error) {
	resp, _, err := r.exchange(ctx, name, dns.TypeSRV)
	if err != nil {
		return nil, err
	}
	var out []srvRecord
	for _, rr := range resp.Answer {
		if s, ok := rr.(*dns.SRV); ok && strings.EqualFold(s.Hdr.Name, dns.Fqdn(name)) {
			out = append(out, srvRecord{target: s.Target, port: s.Port, priority: s.Priority, weight: s.Weight})
		}
	}
	return out, nil
}

// lookupIPs resolves host to its IPv6 and IPv4 addresses (AAAA first, as
// RFC 8305 prefers), following CNAMEs the server included in the answer.
func (r *Resolver) lookupIPs(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	var out []netip.Addr
	var errs []error
	for _, qt := range []uint16{dns.TypeAAAA, dns.TypeA} {
		resp, _, err := r.exchange(ctx, host, qt)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, rr := range resp.Answer {
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

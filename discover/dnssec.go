package discover

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"

	"hacx.dev/hacx/dnssec"
	"hacx.dev/hacx/trust"
)

// DNSSEC says how a Resolver trusts DNS answers (D1, X4).
type DNSSEC int

const (
	// DNSSECValidate proves every SRV, TLSA and A/AAAA answer in this
	// process, from the Resolver's TrustAnchors (the IANA root keys by
	// default), whatever the DNS server does (D1): secure answers are
	// believed, bogus ones refused, insecure ones leave WebPKI to decide.
	DNSSECValidate DNSSEC = iota
	// DNSSECResolver believes the AD bit of a resolver trusted to
	// validate: one named in DNSServer or one on loopback (X4).
	DNSSECResolver
	// DNSSECOff uses DNS answers unvalidated and does no DANE at all: no
	// TLSA query is made.
	DNSSECOff
)

func (d DNSSEC) String() string {
	switch d {
	case DNSSECResolver:
		return "resolver"
	case DNSSECOff:
		return "off"
	}
	return "validate"
}

// ParseDNSSEC reads "validate", "resolver" or "off".
func ParseDNSSEC(s string) (DNSSEC, error) {
	for _, d := range []DNSSEC{DNSSECValidate, DNSSECResolver, DNSSECOff} {
		if s == d.String() {
			return d, nil
		}
	}
	return 0, fmt.Errorf("discover: DNSSEC mode %q: want validate, resolver or off", s)
}

// dnsClient is how a Resolver asks DNS: its server, the transport to
// it, the answer cache and, when validating, the validator.
type dnsClient struct {
	server  string // as reports name it
	trusted bool   // DNSSECResolver: the AD bit is believed
	proxied bool   // queries go through the Resolver's Proxy (T1)
	client  *dnssec.Client
	cache   *dnssec.Cache
	val     *dnssec.Validator
}

// dns returns the Resolver's DNS client, built on first use.
func (r *Resolver) dns() (*dnsClient, error) {
	r.dnsOnce.Do(func() { r.dnsc, r.dnsErr = r.newDNSClient() })
	return r.dnsc, r.dnsErr
}

func (r *Resolver) newDNSClient() (*dnsClient, error) {
	server, trusted, err := r.dnsServer()
	if err != nil {
		return nil, err
	}
	srv, err := dnssec.ParseServer(server)
	if err != nil {
		return nil, err
	}
	c := &dnsClient{server: srv.String(), trusted: trusted}
	cl := &dnssec.Client{Server: srv, Roots: r.Roots, Timeout: dnsTimeout}
	switch {
	case r.Proxy != nil && r.DNSServer != "":
		// T1: DNS goes through the proxy, over TCP, TLS or HTTPS, never
		// as UDP from this machine.
		if !r.Proxy.RemoteDNS() && srv.Host != "" && !isIP(srv.Host) {
			return nil, fmt.Errorf("discover: DNS server %s is a name, which a socks5:// proxy would have resolved outside it: give its IP address", srv)
		}
		cl.DialContext, cl.StreamOnly, c.proxied = r.Proxy.DialContext, true, true
	case r.DialContext != nil && (srv.Proto == dnssec.TLS || srv.Proto == dnssec.HTTPS):
		cl.DialContext = r.DialContext
	}
	c.client = cl
	// Stored answers are kept apart per server when its word (the AD
	// bit) is what they are trusted for; validated ones are checked again
	// whenever used, whoever served them.
	prefix := "dns-validated"
	if r.DNSSEC != DNSSECValidate {
		sum := sha256.Sum256([]byte(srv.String() + "|" + r.DNSSEC.String()))
		prefix = "dns-" + hex.EncodeToString(sum[:6])
	}
	c.cache = &dnssec.Cache{Exchanger: cl, Prefix: prefix, Now: r.now}
	if r.Cache != nil {
		// Raw answers only: they are validated again when used, so the
		// cache directory proves nothing by itself.
		c.cache.Store = r.Cache
	}
	if r.DNSSEC == DNSSECValidate {
		c.val = &dnssec.Validator{Exchanger: c.cache, Anchors: r.TrustAnchors, Now: r.now}
	}
	return c, nil
}

// dnsAnswer is one DNS answer the Resolver relies on, and how far it can
// be trusted.
type dnsAnswer struct {
	records []dns.RR // of the type asked, at the name or the end of its CNAME chain
	sec     dnssec.Security
	how     string // for reports: "secure", "insecure (...)", "AD bit from ..."
	cached  bool   // no query left the process
}

// query asks one question of the Resolver's DNS server and validates
// the answer as its DNSSEC mode says. NXDOMAIN and NODATA come back as
// an answer without records; error rcodes and transport failures as a
// *DNSError. A bogus answer is an answer, Security Bogus, no records.
func (r *Resolver) query(ctx context.Context, name string, qtype uint16) (*dnsAnswer, error) {
	tname := dns.TypeToString[qtype]
	if r.noDNS() {
		return nil, &DNSError{Name: name, Type: tname, Err: errNoDNS}
	}
	c, err := r.dns()
	if err != nil {
		return nil, &DNSError{Name: name, Type: tname, Err: err}
	}
	var a *dnsAnswer
	if c.val != nil {
		v, err := c.val.Lookup(ctx, name, qtype)
		if err != nil {
			return nil, c.dnsError(name, tname, err)
		}
		a = &dnsAnswer{records: v.Records, sec: v.Security, cached: v.Queries == 0, how: v.Security.String()}
		if v.Reason != "" {
			a.how += " (" + v.Reason + ")"
		}
	} else {
		a, err = r.queryUnvalidated(ctx, c, name, qtype)
		if err != nil {
			return nil, err
		}
	}
	if n, ok := ctx.Value(dnsNotesKey{}).(*dnsNotes); ok {
		n.add(strings.TrimSuffix(name, "."), tname, a.how, a.cached)
	}
	return a, nil
}

// queryUnvalidated is query for DNSSECResolver and DNSSECOff: the answer
// as the server gives it, secure only by a trusted resolver's AD bit.
func (r *Resolver) queryUnvalidated(ctx context.Context, c *dnsClient, name string, qtype uint16) (*dnsAnswer, error) {
	tname := dns.TypeToString[qtype]
	m := dnssec.NewQuery(name, qtype, false)
	// The DO bit (and AD) ask a validating resolver to say whether the
	// data is DNSSEC-secure (X4).
	m.AuthenticatedData = true
	resp, cached, err := c.cache.ExchangeCached(ctx, m)
	if err != nil {
		return nil, &DNSError{Name: name, Type: tname, Server: c.server, Err: err}
	}
	if resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError {
		de := &DNSError{Name: name, Type: tname, Server: c.server, Rcode: dns.RcodeToString[resp.Rcode], EDE: dnssec.ExtendedError(resp)}
		if c.trusted && r.DNSSEC == DNSSECResolver && resp.Rcode == dns.RcodeServerFailure {
			// A validating resolver answers bogus data with SERVFAIL; an
			// unreachable zone looks the same, and both fail closed (X4).
			de.Err = trust.ErrBogus
		}
		return nil, de
	}
	a := &dnsAnswer{records: chainRecords(resp.Answer, dns.Fqdn(name), qtype), cached: cached, sec: dnssec.Insecure}
	switch {
	case r.DNSSEC == DNSSECOff:
		a.how = "not validated (DNSSEC off)"
	case c.trusted && resp.AuthenticatedData:
		a.sec, a.how = dnssec.Secure, "secure (AD bit from "+c.server+")"
	case resp.AuthenticatedData:
		a.how = "insecure (AD bit from " + c.server + " not trusted: neither on loopback nor named)"
	default:
		a.how = "insecure (no AD bit from " + c.server + ")"
	}
	return a, nil
}

// chainRecords are the records of qtype at name, or at the end of the
// CNAME chain from name that the answer section holds.
func chainRecords(answer []dns.RR, name string, qtype uint16) []dns.RR {
	cur := name
	for range 9 {
		var out []dns.RR
		next := ""
		for _, rr := range answer {
			h := rr.Header()
			if !strings.EqualFold(h.Name, cur) {
				continue
			}
			if h.Rrtype == qtype {
				out = append(out, rr)
			} else if cn, ok := rr.(*dns.CNAME); ok {
				next = cn.Target
			}
		}
		if len(out) > 0 || next == "" {
			return out
		}
		cur = next
	}
	return nil
}

// dnsError turns a validator's error into a *DNSError: the question's
// own failure as it is, a failure of the chain of trust (a DNSKEY or DS
// query) naming that query.
func (c *dnsClient) dnsError(name, tname string, err error) *DNSError {
	de := &DNSError{Name: name, Type: tname, Server: c.server, Err: err}
	var re *dnssec.RcodeError
	var qe *dnssec.QueryError
	switch {
	case errors.As(err, &re) && re.Name == dns.CanonicalName(name) && dns.TypeToString[re.Type] == tname:
		de.Rcode, de.EDE, de.Err = dns.RcodeToString[re.Rcode], re.EDE, nil
	case errors.As(err, &qe) && qe.Name == dns.CanonicalName(name) && dns.TypeToString[qe.Type] == tname:
		de.Err = qe.Err
	}
	return de
}

// bogusError is the error of a DNS answer found bogus: it wraps
// trust.ErrBogus, which fails DANE closed (X4, D1).
func bogusError(name, tname, server, how string) *DNSError {
	return &DNSError{Name: name, Type: tname, Server: server, Err: fmt.Errorf("%w: %s", trust.ErrBogus, how)}
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// dnsNotes collects how the DNS answers of one source were validated,
// for its DNSSEC report; it travels in the context.
type dnsNotes struct {
	mu      sync.Mutex
	order   []string            // "name|how" keys in first-seen order
	types   map[string][]string // key -> types asked
	answers int
	cached  int
}

type dnsNotesKey struct{}

func withDNSNotes(ctx context.Context) (context.Context, *dnsNotes) {
	n := &dnsNotes{types: map[string][]string{}}
	return context.WithValue(ctx, dnsNotesKey{}, n), n
}

func (n *dnsNotes) add(name, tname, how string, cached bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := name + "|" + how
	if _, ok := n.types[k]; !ok {
		n.order = append(n.order, k)
	}
	if !slices.Contains(n.types[k], tname) {
		n.types[k] = append(n.types[k], tname)
	}
	n.answers++
	if cached {
		n.cached++
	}
}

// String is the report: "NAME TYPE[/TYPE]: how" for each, joined by "; ".
func (n *dnsNotes) String() string {
	if n == nil {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	var parts []string
	for _, k := range n.order {
		name, how, _ := strings.Cut(k, "|")
		parts = append(parts, name+" "+strings.Join(n.types[k], "/")+": "+how)
	}
	return strings.Join(parts, "; ")
}

// allCached reports whether there were answers and all came from the cache.
func (n *dnsNotes) allCached() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.answers > 0 && n.cached == n.answers
}

package discover

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/miekg/dns"

	"hacx.dev/hacx"
	"hacx.dev/hacx/socks"
)

// HSTSStore is the part of trust.HSTSStore a Resolver uses (X5).
type HSTSStore interface {
	// Observe records the Strict-Transport-Security header of a verified
	// HTTPS response from host.
	Observe(host, header string) error
	// Upgrade rewrites an http:// URL to a known HSTS host to https://.
	Upgrade(u *url.URL) (*url.URL, bool)
}

// HPKPStore is the part of trust.HPKPStore a Resolver uses (X6).
type HPKPStore interface {
	// Observe records the Public-Key-Pins header of a validated response.
	Observe(host, header string, verifiedChain []*x509.Certificate) error
	// Check enforces the stored policy for host on a verified chain.
	Check(host string, chain []*x509.Certificate) error
}

// Fallback says when a Resolver also consults SRV records and host-meta.
type Fallback int

const (
	// FallbackAuto consults SRV and host-meta only when the HACX document
	// gives no routes: the domain publishes none (404), or the fetch failed
	// and nothing is cached, or the document has no usable record.
	FallbackAuto Fallback = iota
	// FallbackAlways merges SRV and host-meta routes with the HACX ones.
	FallbackAlways
	// FallbackNever uses the HACX document only.
	FallbackNever
)

func (f Fallback) String() string {
	switch f {
	case FallbackAlways:
		return "always"
	case FallbackNever:
		return "never"
	}
	return "auto"
}

// DefaultTimeout bounds one HTTPS fetch, redirects included (H6).
const DefaultTimeout = 10 * time.Second

// Resolver discovers the routes into XMPP services. Its zero value is ready
// to use: system roots and resolver, DNSSEC validated in the process from
// the IANA root keys (D1), no cache (DNS answers are still remembered in
// memory for their TTLs), no HSTS/HPKP state, 10 s fetches, automatic
// fallback. A Resolver is safe for concurrent use; do not change its fields
// after the first Lookup.
type Resolver struct {
	// Transport, if set, makes the HTTPS fetches (the Resolver's own
	// redirect policy and timeout still apply, H3). Nil means a transport
	// of the Resolver's own, with no proxy, which verifies each connection
	// against Roots, HPKP and DANE. A Transport of the caller's makes its
	// own connections, which the Resolver cannot check: the result then
	// says HPKP is "not enforced (custom transport)" and DANE "not
	// checked", and no HSTS or HPKP header from them is stored (X5, X6).
	Transport http.RoundTripper

	// Roots are the trusted CAs for the bootstrap HTTPS connection; nil
	// means the system roots.
	Roots *x509.CertPool

	// DNSServer is the DNS server for SRV, A/AAAA and TLSA queries, in
	// a form dnssec.ParseServer reads: IP[:PORT] for plain DNS (UDP,
	// then TCP), tcp://IP[:PORT], tls://HOST[:PORT] for DNS over TLS
	// (RFC 7858) or https://HOST[:PORT]/PATH for DNS over HTTPS (RFC
	// 8484; a path ending in {?dns} asks by GET). Roots verify the
	// servers of the last two. "" means the first nameserver of
	// /etc/resolv.conf. With DNSSECResolver an explicitly set server is
	// trusted to validate DNSSEC (X4), one from resolv.conf only when it
	// is on loopback. With a Proxy, queries to an explicitly set server
	// go through the proxy, as DNS over TCP, TLS or HTTPS (T1).
	DNSServer string

	// DNSSEC says how DNS answers are trusted: the zero value,
	// DNSSECValidate, proves them in this process from TrustAnchors (D1).
	DNSSEC DNSSEC

	// TrustAnchors are the DS or DNSKEY records (dnssec.ParseAnchors
	// reads them from a file) DNSSEC validation starts from; nil means
	// dnssec.RootAnchors, the IANA root keys.
	TrustAnchors []dns.RR

	// Cache keeps documents across lookups (H5); nil means no cache.
	Cache Cache

	// HSTS and HPKP are the stores of Strict-Transport-Security and
	// Public-Key-Pins state (X5, X6), normally *trust.HSTSStore and
	// *trust.HPKPStore; nil means none is kept or enforced.
	HSTS HSTSStore
	HPKP HPKPStore

	// Timeout bounds each HTTPS fetch including redirects; 0 means
	// DefaultTimeout.
	Timeout time.Duration

	// Rand drives the RFC 2782 weighted ordering (C2); nil means the
	// process-wide source. Tests set a seeded one. The Resolver serialises
	// its use.
	Rand *rand.Rand

	// Logger receives debug and warning messages; nil means silent.
	Logger *slog.Logger

	// Fallback says when SRV and host-meta are consulted.
	Fallback Fallback

	// DialContext, if set, opens every TCP connection of the HTTPS fetches
	// and of DNS over TLS or HTTPS (tests map names to loopback); nil
	// means a net.Dialer with a 5 s timeout. It is not used when Proxy is
	// set.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// Proxy, if set, carries every HTTPS fetch, by host name with socks5h
	// (T1); Transport is then not used, so nothing goes
	// around the proxy, and a failing proxy is an error, never a reason to
	// connect directly. DNS goes through the proxy too, to DNSServer, as
	// DNS over TCP, TLS or HTTPS (never UDP from this machine). Without
	// DNSServer, socks5h (RemoteDNS) means no DNS query at all, as if
	// NoDNS were set; socks5 asks the system's resolver directly, as the
	// user chose by naming a proxy that resolves nothing (the results
	// say so). With socks5 the proxy gets IP addresses.
	Proxy *socks.Proxy

	// NoDNS skips every local DNS query (SRV, A/AAAA, TLSA), as needed
	// behind a socks5h proxy (T1); the result says that they were skipped.
	NoDNS bool

	// Now is the clock for cache freshness; nil means time.Now.
	Now func() time.Time

	once sync.Once
	rt   http.RoundTripper

	dnsOnce sync.Once
	dnsc    *dnsClient
	dnsErr  error
	// dnsUntrusted makes tests treat the configured server like a
	// non-loopback resolv.conf one (X4).
	dnsUntrusted bool
	// systemDNS stands in for the resolv.conf server in tests, so that
	// they can see every query a Resolver without DNSServer makes (T1).
	systemDNS string
	randMu    sync.Mutex
}

// Status is what one discovery source yielded.
type Status string

const (
	StatusFound   Status = "found"   // the source gave a document or records
	StatusNone    Status = "none"    // a definite "nothing published" (404, NXDOMAIN, target ".")
	StatusError   Status = "error"   // the source failed; Err says why
	StatusSkipped Status = "skipped" // not consulted; Note says why
)

// SourceResult reports one source a lookup consulted.
type SourceResult struct {
	Source hacx.Source
	// Query is what was asked: a URL or a DNS name and type.
	Query  string
	Status Status
	// Routes is how many routes the source contributed.
	Routes int
	Err    error
	// Note explains a skip or a partial result in words.
	Note string

	// Cached is set when the answer came from the cache; Stale when that
	// cached copy had expired and a refetch failed (H5). FetchedAt is when
	// the answer was fetched from the network.
	Cached    bool
	Stale     bool
	FetchedAt time.Time

	// Redirects are the URLs redirected to, in order (H3); FinalURL is the
	// one that answered.
	Redirects []string
	FinalURL  string

	// TLS facts about the bootstrap connection that answered (H2).
	HSTS string // "none", "observed", "invalid: ...", "observed, not stored (custom transport)" (X5)
	HPKP string // "none", "enforced", "observed", "not stored: ...", "not enforced (custom transport)[, observed, not stored]" (X6)
	DANE string // "unsigned", "not validated", "no-tlsa", "verified", "bogus: ...", "lookup failed: ...", "skipped ...", "not checked (custom transport)" (X4)

	// DNSSEC says how each DNS answer the source relied on (SRV, TLSA,
	// A/AAAA) was validated (D1): "NAME TYPE: secure", "...: insecure
	// (why)", "...: bogus (why)" (that answer was ignored), "...:
	// indeterminate (why)", "...: secure (AD bit from SERVER)", "...: not
	// validated (DNSSEC off)", joined by "; ". "" when it asked no DNS.
	DNSSEC string

	// unavailable: an SRV answer of the single target "." (X1), which
	// turns the F1 fallback off for that service.
	unavailable bool
}

// SourceReport is the JSON form of a SourceResult, the one every report
// shares (hacx lookup, check and demo). Its members are stable. The rule
// for absence is one for all: numbers and booleans are always present
// (routes, cached, stale), strings are left out when empty (query, note,
// error, final_url, hsts, hpkp, dane, dnssec), and so are fetched_at when
// the answer was not fetched over the network and redirects when there
// were none.
type SourceReport struct {
	Source    hacx.Source `json:"source"`
	Query     string      `json:"query,omitempty"`
	Status    Status      `json:"status"`
	Routes    int         `json:"routes"`
	Cached    bool        `json:"cached"`
	Stale     bool        `json:"stale"`
	FetchedAt *time.Time  `json:"fetched_at,omitempty"`
	Redirects []string    `json:"redirects,omitempty"`
	FinalURL  string      `json:"final_url,omitempty"`
	HSTS      string      `json:"hsts,omitempty"`
	HPKP      string      `json:"hpkp,omitempty"`
	DANE      string      `json:"dane,omitempty"`
	DNSSEC    string      `json:"dnssec,omitempty"`
	Note      string      `json:"note,omitempty"`
	Error     string      `json:"error,omitempty"`
}

// Report is s in its JSON form.
func (s SourceResult) Report() SourceReport {
	r := SourceReport{Source: s.Source, Query: s.Query, Status: s.Status, Routes: s.Routes,
		Cached: s.Cached, Stale: s.Stale, Redirects: s.Redirects, FinalURL: s.FinalURL,
		HSTS: s.HSTS, HPKP: s.HPKP, DANE: s.DANE, DNSSEC: s.DNSSEC, Note: s.Note}
	if !s.FetchedAt.IsZero() {
		t := s.FetchedAt
		r.FetchedAt = &t
	}
	if s.Err != nil {
		r.Error = s.Err.Error()
	}
	return r
}

// MarshalJSON writes s as its SourceReport, so that every report shows a
// source the same way.
func (s SourceResult) MarshalJSON() ([]byte, error) { return json.Marshal(s.Report()) }

// Result is the outcome of a Lookup.
type Result struct {
	Domain string
	Kind   hacx.Kind
	// Routes are every route found, in the order to try them (C2).
	Routes []hacx.Route
	// Document is the HACX document the routes came from, if any.
	Document *hacx.Document
	// Sources lists every source consulted or skipped, in the order
	// consulted.
	Sources []SourceResult
	// Stale is set when the HACX document is an expired cached copy used
	// because the refetch failed (H5); StaleSince is when it expired.
	Stale      bool
	StaleSince time.Time
}

// Failed lists the sources that failed (StatusError), in the order
// consulted.
func (r *Result) Failed() []SourceResult {
	var failed []SourceResult
	for _, s := range r.Sources {
		if s.Status == StatusError {
			failed = append(failed, s)
		}
	}
	return failed
}

// Published reports whether any source gave a definite answer with
// routes. The F1 fallback's routes are not published by anyone: a result
// with only those is not published, though a client would try them.
func (r *Result) Published() bool {
	for _, rt := range r.Routes {
		if rt.Source != hacx.SourceFallback {
			return true
		}
	}
	return false
}

// noDNS reports whether local DNS queries are off: NoDNS, or a socks5h
// Proxy without an explicitly chosen DNS server (T1).
func (r *Resolver) noDNS() bool {
	return r.NoDNS || (r.Proxy != nil && r.Proxy.RemoteDNS() && r.DNSServer == "")
}

// noDNSReason is the note for a source skipped by noDNS.
func (r *Resolver) noDNSReason() string {
	if r.Proxy != nil && !r.NoDNS {
		return "unavailable over SOCKS (T1)"
	}
	return "no local DNS (T1)"
}

// outsideProxy is the note for a source whose DNS queries went with a
// Proxy set: through it to the DNS server (T1), or, with socks5 and no
// DNSServer, straight from this machine to the system's resolver. It is
// "" without a proxy or when no query is made.
func (r *Resolver) outsideProxy() string {
	if r.Proxy == nil || r.noDNS() {
		return ""
	}
	c, err := r.dns()
	if err != nil {
		return ""
	}
	if c.proxied {
		return "asked " + c.server + " through the proxy"
	}
	return "queried directly at " + c.server + ", outside the proxy"
}

// joinNote appends a note to a source's note.
func joinNote(note, more string) string {
	switch {
	case more == "":
		return note
	case note == "":
		return more
	}
	return note + "; " + more
}

// dialProxy connects through Proxy: a host name as it is with socks5h,
// else resolved through the Resolver's own DNS server first, so that
// socks5 and direct lookups ask the same server.
func (r *Resolver) dialProxy(ctx context.Context, network, addr string) (_ net.Conn, err error) {
	if pt, ok := ctx.Value(proxyTraceKey{}).(*proxyTrace); ok {
		pt.mu.Lock()
		pt.pending[addr]++
		pt.mu.Unlock()
		defer func() {
			pt.mu.Lock()
			pt.pending[addr]--
			if err != nil {
				pt.err = err
			}
			pt.mu.Unlock()
		}()
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || r.Proxy.RemoteDNS() || net.ParseIP(host) != nil {
		return r.Proxy.DialContext(ctx, network, addr)
	}
	if tr, ok := ctx.Value(traceKey{}).(*fetchTrace); ok {
		tr.asked("A/AAAA")
	}
	ips, err := r.lookupIPs(ctx, host)
	if err != nil {
		return nil, &socks.Error{Proxy: r.Proxy.String(), Addr: addr, Err: err}
	}
	var errs []error
	for _, ip := range ips {
		c, err := r.Proxy.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, &socks.Error{Proxy: r.Proxy.String(), Addr: addr, Err: errors.New("no address")}
	}
	return nil, errors.Join(errs...)
}

// proxyTrace tracks the proxy connects of one fetch still waiting for the
// proxy, so that a fetch timing out on a stalled proxy says so: the HTTP
// client itself only reports its own deadline.
type proxyTrace struct {
	mu      sync.Mutex
	pending map[string]int // target host:port -> connects in flight
	err     error          // the last connect that failed
}

type proxyTraceKey struct{}

func (r *Resolver) traceProxy(ctx context.Context) context.Context {
	if r.Proxy == nil {
		return ctx
	}
	return context.WithValue(ctx, proxyTraceKey{}, &proxyTrace{pending: map[string]int{}})
}

// proxyStalled turns the error of a fetch that ran out of time while a
// connect through the proxy failed or was still unanswered into a
// *socks.Error naming the proxy (T1); other errors are returned as they
// are.
func (r *Resolver) proxyStalled(ctx context.Context, err error) error {
	pt, ok := ctx.Value(proxyTraceKey{}).(*proxyTrace)
	if !ok || ctx.Err() == nil {
		return err
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if pt.err != nil {
		return pt.err
	}
	for addr, n := range pt.pending {
		if n > 0 {
			return &socks.Error{Proxy: r.Proxy.String(), Addr: addr, Err: fmt.Errorf("no answer from the proxy: %w", err)}
		}
	}
	return err
}

package discover

import (
	"context"
	"crypto/x509"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"hacx.dev/hacx"
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
// to use: system roots and resolver, no cache, no HSTS/HPKP state, 10 s
// fetches, automatic fallback. A Resolver is safe for concurrent use; do not
// change its fields after the first Lookup.
type Resolver struct {
	// HTTPClient, if set, supplies the Transport used for HTTPS fetches
	// (its redirect policy and timeout are replaced by the Resolver's own,
	// H3). Nil means a Transport of the Resolver's own, with no proxy,
	// which verifies each connection against Roots, HPKP and DANE.
	HTTPClient *http.Client

	// Roots are the trusted CAs for the bootstrap HTTPS connection; nil
	// means the system roots.
	Roots *x509.CertPool

	// DNSServer is the host:port of the DNS server for SRV, A/AAAA and
	// TLSA queries; "" means the first nameserver of /etc/resolv.conf.
	// An explicitly set server is trusted to validate DNSSEC (X4); one
	// from resolv.conf only when it is on loopback.
	DNSServer string

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
	// (a SOCKS proxy plugs in here, tests map names to loopback); nil
	// means a net.Dialer with a 5 s timeout.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// NoDNS skips every local DNS query (SRV, A/AAAA, TLSA), as needed
	// behind a socks5h proxy (T1); the result says that they were skipped.
	NoDNS bool

	// Now is the clock for cache freshness; nil means time.Now.
	Now func() time.Time

	once sync.Once
	rt   http.RoundTripper
	// dnsUntrusted makes tests treat the configured server like a
	// non-loopback resolv.conf one (X4).
	dnsUntrusted bool
	randMu       sync.Mutex
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
	HSTS string // "none", "observed", "invalid: ..." (X5)
	HPKP string // "none", "enforced", "observed", "invalid: ..." (X6)
	DANE string // "unsigned", "no-tlsa", "verified", "skipped" (X4)
}

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

// Published reports whether any source gave a definite answer with routes.
func (r *Result) Published() bool { return len(r.Routes) > 0 }

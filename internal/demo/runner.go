package demo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/discover"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/serve"
	"hacx.dev/hacx/socks"
)

// DefaultStagger is the attempt stagger of the demo's dialer: small, so
// that blackholes cost little (C5), and still a real overlap.
const DefaultStagger = 50 * time.Millisecond

// World is what a scenario's setup works on: the shared bed, and this
// run's own client (network with firewall, resolver with a fresh cache,
// dialer, clock).
type World struct {
	Bed      *testbed.Bed
	Net      *testbed.Network
	Resolver *discover.Resolver
	Dialer   *dial.Dialer

	ctx    context.Context
	mu     sync.Mutex
	offset time.Duration

	// via and defaultStagger come from the Runner (see ThroughSOCKS).
	via            *socks.Proxy
	defaultStagger bool
	// socks is the in-process proxy of a proxy scenario (the client is
	// given it as Resolver.Proxy), direct the dials the censor refused.
	socks    *loopback.SOCKSServer
	direct   atomic.Int64
	cleanups []func()
}

// cleanup registers f to run when the scenario ends.
func (w *World) cleanup(f func()) { w.cleanups = append(w.cleanups, f) }

// Advance moves the client's clock forward, so a cached document ages
// (H5) without sleeping.
func (w *World) Advance(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.offset += d
}

func (w *World) now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return time.Now().Add(w.offset)
}

// Publish serves records as the domain's HACX client document, through
// the serve package, with host-meta derivation off so that only HACX
// speaks for the domain.
func (w *World) Publish(ttl uint32, records ...hacx.Record) error {
	h, err := serve.NewHandler(&serve.Config{Domains: []serve.Domain{{
		Name:       w.Bed.Domain,
		Client:     serve.Publication{TTL: ttl, Records: records},
		NoHostMeta: true,
	}}})
	if err != nil {
		return fmt.Errorf("demo: publish: %w", err)
	}
	w.Bed.SetSite(h)
	return nil
}

// Runner plays scenarios on one bed, one after the other (they share its
// publisher and DNS zone).
type Runner struct {
	Bed *testbed.Bed
	// Stagger is the dialer's stagger; 0 means DefaultStagger.
	Stagger time.Duration
	// Timeout bounds each scenario; 0 means 20 s.
	Timeout time.Duration
	// Via, if set, carries every connection the client makes to the
	// in-process SOCKS proxy of a proxy scenario ("hacx demo --socks"): a
	// check that one's own proxy reaches loopback. The in-process proxy
	// still resolves the bed's names, which no real proxy knows, and keeps
	// the CONNECT log. nil means the client talks to it directly.
	Via *socks.Proxy
}

// Source is one discovery source consulted, as reported: the form every
// hacx report shares.
type Source = discover.SourceReport

// Attempt is one route tried, as reported.
type Attempt struct {
	Route    string            `json:"route"`
	Phase    string            `json:"phase"` // dial.Phase name: tcp, tls, verify, stream, done
	StartMS  float64           `json:"start_ms"`
	TookMS   float64           `json:"took_ms"`
	OK       bool              `json:"ok"`
	Verified dial.Verification `json:"verified,omitempty"`
	Error    string            `json:"error,omitempty"`
	// LostRace marks an attempt cancelled because another route won.
	LostRace bool `json:"lost_race,omitempty"`
	// Note says why route memory tried the route at this point.
	Note string `json:"note,omitempty"`
}

// Expected is Expect as reported, phases by name.
type Expected struct {
	Winner  *Winner  `json:"winner,omitempty"`
	Fail    string   `json:"fail,omitempty"`
	Phases  []string `json:"phases"`
	Stale   bool     `json:"stale,omitempty"`
	Proxied bool     `json:"proxied,omitempty"`
}

// ProxyReport is what the SOCKS proxy of a proxy scenario saw (T1).
type ProxyReport struct {
	// URL is the proxy the client was given, without credentials.
	URL string `json:"url"`
	// Via is the external proxy that carried every connection to it
	// (Runner.Via), without credentials; "" when none.
	Via string `json:"via,omitempty"`
	// Connects are the CONNECT requests the proxy received, in order.
	Connects []Connect `json:"connects"`
	// DirectDials counts connections the client tried around the proxy;
	// the censor refused each one.
	DirectDials int `json:"direct_dials"`
	// DANE is what the HACX fetch's DANE check said of the bootstrap
	// connection: with no local DNS there is no TLSA to check.
	DANE string `json:"dane"`
}

// Connect is one CONNECT request the proxy received.
type Connect struct {
	Target string `json:"target"`  // host:port as requested
	ByName bool   `json:"by_name"` // a host name for the proxy to resolve (socks5h), not an IP
	Reply  int    `json:"reply"`   // the SOCKS5 reply code, 0 succeeded
}

// Result is the outcome of one scenario: the story as it happened, and
// whether it matched the expectation.
type Result struct {
	Name  string `json:"name"`
	Story string `json:"story"`
	Rules string `json:"rules"`

	Sources  []Source  `json:"sources"`
	Stale    bool      `json:"stale"`
	Routes   []string  `json:"routes"`
	Attempts []Attempt `json:"attempts"`
	// Winner is the route that won, nil when none did.
	Winner *Winner `json:"winner,omitempty"`
	// Fail is the failure kind, Error the full error, when none won.
	Fail  string `json:"fail,omitempty"`
	Error string `json:"error,omitempty"`
	// ConnectMS is the time from the start of discovery to the verified
	// stream (or to the final failure).
	ConnectMS float64 `json:"connect_ms"`
	// DNSQueries counts the queries the world's DNS server received from
	// the client while it connected (setup not included).
	DNSQueries int `json:"dns_queries"`
	// Proxy is what the SOCKS proxy saw, in a proxy scenario; nil
	// otherwise.
	Proxy *ProxyReport `json:"proxy,omitempty"`
	// Reconnect is the second connection of a reconnect scenario, nil
	// otherwise.
	Reconnect *Reconnect `json:"reconnect,omitempty"`

	Expected Expected `json:"expected"`
	// AsExpected is true when the outcome is exactly Expected; Mismatch
	// says what differed.
	AsExpected bool   `json:"as_expected"`
	Mismatch   string `json:"mismatch,omitempty"`
}

// Reconnect is the second connection of the same client to the same
// domain: route memory starts with the route that won the first.
type Reconnect struct {
	Attempts  []Attempt `json:"attempts"`
	Winner    *Winner   `json:"winner,omitempty"`
	ConnectMS float64   `json:"connect_ms"`
	Error     string    `json:"error,omitempty"`
}

// Run plays one scenario.
func (r *Runner) Run(ctx context.Context, sc Scenario) Result {
	res := Result{Name: sc.Name, Story: sc.Story, Rules: sc.Rules,
		Expected: Expected{Winner: sc.Expect.Winner, Fail: sc.Expect.Fail, Stale: sc.Expect.Stale, Phases: phaseNames(sc.Expect.Phases), Proxied: sc.Expect.Proxied}}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	b := r.Bed
	b.Reset()
	defer b.Reset()
	w := &World{Bed: b, Net: b.Network(), ctx: ctx, via: r.Via, defaultStagger: r.Stagger == 0}
	defer func() {
		for i := len(w.cleanups) - 1; i >= 0; i-- {
			w.cleanups[i]()
		}
	}()
	w.Resolver = &discover.Resolver{
		Roots:     b.CA.Pool(),
		DNSServer: b.DNS.Addr,
		// The bed's DNS server stands in for a validating resolver: its
		// AD bit says which answers are secure (X4), as --dnssec
		// resolver trusts one; it serves no signed zones to validate.
		DNSSEC:      discover.DNSSECResolver,
		Cache:       &discover.MemCache{},
		DialContext: w.Net.HTTPSDial,
		Timeout:     5 * time.Second,
		Now:         w.now,
	}
	stagger := r.Stagger
	if stagger == 0 {
		stagger = DefaultStagger
	}
	w.Dialer = &dial.Dialer{
		Routes:      w.Resolver,
		Roots:       b.CA.Pool(),
		DialContext: w.Net.RouteDial,
		Stagger:     stagger,
		// A blackhole holds a handshake until this runs out; one second
		// is plenty on loopback and keeps "all routes dead" short.
		ConnectTimeout:   time.Second,
		HandshakeTimeout: time.Second,
		StreamTimeout:    2 * time.Second,
		// Each scenario starts with a client that remembers nothing.
		Memory: &discover.MemCache{},
	}
	if sc.setup != nil {
		if err := sc.setup(w); err != nil {
			res.Error = "setup: " + err.Error()
			res.Mismatch = res.Error
			return res
		}
	}

	// Count only what the client asks while connecting, not the setup's
	// own lookups (stale-cache primes its cache).
	b.DNS.ResetQueries()
	start := time.Now()
	lr, lerr := w.Resolver.Lookup(ctx, b.Domain, hacx.Client)
	var conn *dial.Conn
	var derr error
	if lr != nil {
		res.Stale = lr.Stale
		for _, s := range lr.Sources {
			res.Sources = append(res.Sources, s.Report())
		}
		for _, rt := range lr.Routes {
			res.Routes = append(res.Routes, rt.String())
		}
	}
	if lerr == nil && lr != nil && lr.Published() {
		conn, derr = w.Dialer.DialRoutes(ctx, b.Domain, hacx.Client, lr.Routes)
	}
	res.ConnectMS = ms(time.Since(start))
	res.DNSQueries = len(b.DNS.Queries())

	var attempts []dial.Attempt
	switch {
	case conn != nil:
		attempts = conn.Attempts
		res.Winner = &Winner{Source: conn.Route.Source, Index: conn.Route.Index, Method: conn.Route.Method, Verified: conn.Verified}
		conn.Close()
	case derr != nil:
		var de *dial.Error
		if errors.As(derr, &de) {
			attempts = de.Attempts
		}
		res.Fail, res.Error = FailAllRoutes, derr.Error()
	case lerr != nil:
		res.Fail, res.Error = classify(lerr), lerr.Error()
	default:
		res.Fail, res.Error = FailNothingPublished, "no source published a route"
	}
	res.Attempts = reportAttempts(attempts)
	if sc.reconnect && conn != nil {
		res.Reconnect = r.reconnect(ctx, w)
	}
	if w.socks != nil {
		res.Proxy = w.proxyReport(lr)
	}
	if sc.Expect.Proxied {
		// A broken T1 promise says more than the outcome it led to.
		res.Mismatch = compareProxy(b.Domain, &res, attempts)
	}
	if res.Mismatch == "" {
		res.Mismatch = compare(sc.Expect, &res)
	}
	if res.Mismatch == "" && sc.reconnect {
		res.Mismatch = compareReconnect(&res)
	}
	res.AsExpected = res.Mismatch == ""
	return res
}

// reportAttempts is attempts as reported.
func reportAttempts(attempts []dial.Attempt) []Attempt {
	var out []Attempt
	for _, a := range attempts {
		ra := Attempt{Route: a.Route.String(), Phase: a.Phase.String(), StartMS: ms(a.Start), TookMS: ms(a.Duration), OK: a.OK(), Verified: a.Verified, Note: a.Note}
		if a.Err != nil {
			ra.Error = a.Err.Error()
			ra.LostRace = errors.Is(a.Err, dial.ErrLostRace)
		}
		out = append(out, ra)
	}
	return out
}

// reconnect connects a second time, as the same client: the cached
// document and the route memory of the first connection.
func (r *Runner) reconnect(ctx context.Context, w *World) *Reconnect {
	rc := &Reconnect{}
	start := time.Now()
	conn, err := w.Dialer.Dial(ctx, w.Bed.Domain)
	rc.ConnectMS = ms(time.Since(start))
	if err != nil {
		rc.Error = err.Error()
		var de *dial.Error
		if errors.As(err, &de) {
			rc.Attempts = reportAttempts(de.Attempts)
		}
		return rc
	}
	rc.Attempts = reportAttempts(conn.Attempts)
	rc.Winner = &Winner{Source: conn.Route.Source, Index: conn.Route.Index, Method: conn.Route.Method, Verified: conn.Verified}
	conn.Close()
	return rc
}

// classify names the failure of a lookup.
func classify(err error) string {
	var re *discover.RedirectError
	if errors.As(err, &re) {
		switch re.Reason {
		case "not https":
			return FailRedirectHTTP
		case "loop":
			return FailRedirectLoop
		}
	}
	return FailDiscovery
}

// compare says how the result differs from the expectation, "" if not.
// compareReconnect checks that the second connection took the first's
// winner at once, in one attempt, as route memory promises.
func compareReconnect(r *Result) string {
	rc := r.Reconnect
	switch {
	case rc == nil:
		return "no second connection"
	case rc.Winner == nil:
		return "the second connection failed: " + rc.Error
	case *rc.Winner != *r.Winner:
		return fmt.Sprintf("the second connection won over %s, the first over %s", rc.Winner, r.Winner)
	case len(rc.Attempts) != 1:
		return fmt.Sprintf("the second connection made %d attempts, want 1 (the remembered route)", len(rc.Attempts))
	}
	return ""
}

func compare(e Expect, r *Result) string {
	switch {
	case e.Winner == nil && r.Winner != nil:
		return fmt.Sprintf("expected failure %q, but %s won", e.Fail, r.Winner)
	case e.Winner != nil && r.Winner == nil:
		return fmt.Sprintf("expected %s to win, but it failed (%s): %s", e.Winner, r.Fail, r.Error)
	case e.Winner != nil && *e.Winner != *r.Winner:
		return fmt.Sprintf("expected %s to win, got %s", e.Winner, r.Winner)
	case e.Winner == nil && e.Fail != r.Fail:
		return fmt.Sprintf("expected failure %q, got %q: %s", e.Fail, r.Fail, r.Error)
	case e.Stale != r.Stale:
		return fmt.Sprintf("expected stale=%t, got %t", e.Stale, r.Stale)
	}
	// A route after the winner that a slow (loaded) machine started before
	// the win and that the win then cancelled says nothing about the
	// scenario: only timing decided whether it ran, so it is not compared.
	var got []string
	won := false
	for _, a := range r.Attempts {
		if won && a.LostRace {
			continue
		}
		won = won || a.OK
		got = append(got, a.Phase)
	}
	if want := phaseNames(e.Phases); !slices.Equal(got, want) {
		return fmt.Sprintf("expected attempt phases %v, got %v", want, got)
	}
	return ""
}

func phaseNames(ps []dial.Phase) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Select resolves scenario names: nil or empty means the Tour, "all"
// every scenario.
func Select(names ...string) ([]Scenario, error) {
	if len(names) == 0 {
		names = Tour
	}
	if len(names) == 1 && names[0] == "all" {
		return slices.Clone(Scenarios), nil
	}
	var out []Scenario
	for _, n := range names {
		s, ok := Find(n)
		if !ok {
			return nil, fmt.Errorf("demo: no scenario %q (try --list)", n)
		}
		out = append(out, s)
	}
	return out, nil
}

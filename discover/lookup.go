package discover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/socks"
)

// cacheEntry is what the Cache holds for one document (H5): the body as
// fetched, when, and for how long it is fresh. A 404 is cached too.
type cacheEntry struct {
	Version   int       `json:"v"`
	URL       string    `json:"url"`
	FetchedAt time.Time `json:"fetched_at"`
	TTL       uint32    `json:"ttl"`
	NotFound  bool      `json:"not_found,omitempty"`
	Body      []byte    `json:"body,omitempty"`
}

func (e *cacheEntry) expires() time.Time {
	return e.FetchedAt.Add(time.Duration(e.TTL) * time.Second)
}

// cacheKey names the cache entry of a domain's document of one kind. It
// includes both, so a lookup never gets another domain's or the other
// kind's document (H5).
func cacheKey(source string, kind hacx.Kind, domain string) string {
	return source + "+" + kind.String() + "+" + domain
}

// normalizeDomain lower-cases domain, drops one trailing dot and checks it
// is a plausible DNS name (it ends up in URLs, DNS queries and file names).
func normalizeDomain(domain string) (string, error) {
	d := strings.ToLower(strings.TrimSuffix(domain, "."))
	if d == "" || len(d) > 253 {
		return "", fmt.Errorf("discover: invalid domain %q", domain)
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("discover: invalid domain %q: empty or long label", domain)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("discover: invalid domain %q: character %q", domain, c)
			}
		}
	}
	return d, nil
}

// Lookup discovers the routes into domain's service of the given kind.
//
// A nil error with no routes means the domain publishes nothing anywhere
// consulted. An error (*LookupError) means no route was found and at least
// one source failed; the Result is still returned, listing each source.
func (r *Resolver) Lookup(ctx context.Context, domain string, kind hacx.Kind) (*Result, error) {
	d, err := normalizeDomain(domain)
	if err != nil {
		return nil, err
	}
	res := &Result{Domain: d, Kind: kind}

	hctx, notes := withDNSNotes(ctx) // the fetch's TLSA and A/AAAA answers (D1)
	sr, doc := r.lookupHACX(hctx, d, kind, res)
	sr.DNSSEC = notes.String()
	res.Sources = append(res.Sources, sr)
	var routes []hacx.Route
	if doc != nil {
		res.Document = doc
		routes = doc.Routes(hacx.SourceHACX)
		for i := range routes {
			routes[i].Host = d
		}
	}

	useFallback := r.Fallback == FallbackAlways || (r.Fallback == FallbackAuto && len(routes) == 0)
	if useFallback {
		fb, srs := r.lookupFallbacks(ctx, d, kind)
		routes = append(routes, fb...)
		res.Sources = append(res.Sources, srs...)
		if len(routes) == 0 && !anyFound(res.Sources) {
			// F1: nothing published anywhere: the domain itself.
			rs, sr := dnsReported(ctx, func(ctx context.Context) ([]hacx.Route, SourceResult) {
				return r.fallbackRoutes(ctx, d, kind, res.Sources)
			})
			routes = append(routes, rs...)
			res.Sources = append(res.Sources, sr)
		}
	} else {
		note := "HACX document has routes (fallback auto)"
		if r.Fallback == FallbackNever {
			note = "fallback never"
		}
		res.Sources = append(res.Sources,
			SourceResult{Source: hacx.SourceHostMeta2, Status: StatusSkipped, Note: note},
			SourceResult{Source: hacx.SourceSRV, Status: StatusSkipped, Note: note})
	}

	r.randMu.Lock()
	res.Routes = Order(routes, r.Rand)
	r.randMu.Unlock()

	if len(res.Routes) == 0 && len(res.Failed()) > 0 {
		return res, &LookupError{Domain: d, Sources: res.Sources}
	}
	return res, nil
}

// Routes returns the routes Lookup finds for domain, in order (C2): with
// LookupTLSA, what makes a *Resolver the route source of a dial.Dialer.
func (r *Resolver) Routes(ctx context.Context, domain string, kind hacx.Kind) ([]hacx.Route, error) {
	res, err := r.Lookup(ctx, domain, kind)
	if err != nil {
		return nil, err
	}
	return res.Routes, nil
}

// SOCKSProxy is the proxy the Resolver discovers through (its Proxy field),
// nil for none: a dialer dials the routes it found through the same proxy,
// never around it (T1).
func (r *Resolver) SOCKSProxy() *socks.Proxy { return r.Proxy }

// anyFound reports whether a source published something, even without a
// route for this kind (a Host Meta 2 object): then F1 does not apply.
func anyFound(srs []SourceResult) bool {
	for _, s := range srs {
		if s.Status == StatusFound {
			return true
		}
	}
	return false
}

// lookupHACX gets the HACX document from the cache or the network (H1-H6).
func (r *Resolver) lookupHACX(ctx context.Context, domain string, kind hacx.Kind, res *Result) (SourceResult, *hacx.Document) {
	u := "https://" + domain + kind.WellKnownPath()
	sr := SourceResult{Source: hacx.SourceHACX, Query: u}
	key := cacheKey("hacx", kind, domain)
	now := r.now()

	var cached *cacheEntry
	if r.Cache != nil {
		if data, err := r.Cache.Get(ctx, key); err == nil {
			var e cacheEntry
			if jerr := json.Unmarshal(data, &e); jerr == nil && e.Version == 1 {
				cached = &e
			} else {
				r.logWarn("ignoring unreadable cache entry", "key", key)
			}
		} else if !errors.Is(err, ErrCacheMiss) {
			r.logWarn("cache read failed", "key", key, "err", err)
		}
	}

	// Fresh within ttl: no network at all (H5).
	if cached != nil && now.Before(cached.expires()) {
		sr.Cached, sr.FetchedAt, sr.FinalURL = true, cached.FetchedAt, cached.URL
		if cached.NotFound {
			sr.Status = StatusNone
			sr.Note = "404 (cached)"
			return sr, nil
		}
		doc, err := hacx.Parse(cached.Body)
		if err == nil {
			sr.Status, sr.Routes = StatusFound, len(doc.Records)
			return sr, doc
		}
		// A cached body that no longer parses (e.g. after a parser
		// change) is dropped and refetched.
		cached = nil
		sr.Cached, sr.FetchedAt, sr.FinalURL = false, time.Time{}, ""
	}

	f, err := r.fetch(ctx, u)
	var doc *hacx.Document
	if err == nil && !f.notFound {
		doc, err = hacx.Parse(f.body)
		if err != nil {
			err = &FetchError{URL: f.finalURL, Op: "parse", Err: err}
		}
	}
	if err != nil {
		sr.Err = err
		if cached != nil && !cached.NotFound {
			if sdoc, perr := hacx.Parse(cached.Body); perr == nil {
				// H5: the refetch failed (network blocked?): keep using
				// the stale copy, and say so.
				sr.Status, sr.Routes = StatusFound, len(sdoc.Records)
				sr.Cached, sr.Stale, sr.FetchedAt, sr.FinalURL = true, true, cached.FetchedAt, cached.URL
				sr.Note = "refetch failed, using stale copy: " + err.Error()
				res.Stale, res.StaleSince = true, cached.expires()
				r.logWarn("using stale HACX document", "domain", domain, "expired", cached.expires(), "err", err)
				return sr, sdoc
			}
		}
		sr.Status = StatusError
		return sr, nil
	}

	sr.setFetched(f, now)
	e := cacheEntry{Version: 1, URL: f.finalURL, FetchedAt: now, TTL: hacx.DefaultTTL, NotFound: f.notFound}
	if f.notFound {
		sr.Status, sr.Note = StatusNone, "404: no HACX document published"
	} else {
		sr.Status, sr.Routes = StatusFound, len(doc.Records)
		e.TTL, e.Body = doc.TTL, f.body
	}
	sr.Note = joinNote(sr.Note, f.dnsNote) // T1: say where local queries went
	if r.Cache != nil {
		if data, jerr := json.Marshal(&e); jerr == nil {
			if perr := r.Cache.Put(ctx, key, data); perr != nil {
				r.logWarn("cache write failed", "key", key, "err", perr)
			}
		}
	}
	return sr, doc
}

func (r *Resolver) logWarn(msg string, args ...any) {
	if r.Logger != nil {
		r.Logger.Warn("discover: "+msg, args...)
	}
}

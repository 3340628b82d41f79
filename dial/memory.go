package dial

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/discover"
)

// Route memory: what the last dials of a domain learnt, so that the next
// one starts where the last verified stream was found instead of paying
// the stagger of every dead route before it again. It never decides
// whether a route is trusted: the remembered winner is dialed and checked
// like any route (pins, DANE, stream from, C4); memory only changes the
// order, and a route is never dropped, only moved.

// DefaultFailureMemory is how long a route that timed out stays behind the
// others when Dialer.FailureMemory is 0.
const DefaultFailureMemory = 10 * time.Minute

// maxRemembered bounds the routes one memo keeps facts about, so that a
// document with thousands of records cannot grow a memory file without
// limit.
const maxRemembered = 64

// NoMemory is a Memory that remembers nothing: every dial takes the
// routes in the order given. hacx's --no-cache uses it.
var NoMemory discover.Cache = noMemory{}

type noMemory struct{}

func (noMemory) Get(context.Context, string) ([]byte, error) { return nil, discover.ErrCacheMiss }
func (noMemory) Put(context.Context, string, []byte) error   { return nil }
func (noMemory) Delete(context.Context, string) error        { return nil }

// processMemory is the Memory of Dialers that set none: it lives as long
// as the process.
var processMemory discover.MemCache

// memo is what is remembered for one domain and kind, as stored.
type memo struct {
	Version int `json:"v"`
	// Routes identifies the route set the facts are about (routeSetID):
	// when the routes change (a new document), the memo is void.
	Routes string `json:"routes"`
	// Winner is the routeKey of the route that last gave a verified
	// stream, WonAt when.
	Winner string    `json:"winner,omitempty"`
	WonAt  time.Time `json:"won_at,omitzero"`
	// Facts are per routeKey.
	Facts map[string]routeFact `json:"facts,omitempty"`
}

// routeFact is what the last attempt over one route showed.
type routeFact struct {
	// RTT is the TCP connect time in microseconds: about one round trip.
	RTT int64 `json:"rtt_us,omitempty"`
	// Failed is when the route last failed, Phase in which, TimedOut
	// whether by running out of its own time (a stall) rather than a
	// refusal.
	Failed   time.Time `json:"failed,omitzero"`
	Phase    string    `json:"phase,omitempty"`
	TimedOut bool      `json:"timed_out,omitempty"`
}

func (d *Dialer) memory() discover.Cache {
	if d.Memory != nil {
		return d.Memory
	}
	return &processMemory
}

func (d *Dialer) failureMemory() time.Duration {
	return orDefault(d.FailureMemory, DefaultFailureMemory)
}

func memoKey(domain string, kind hacx.Kind) string {
	return "routes+" + kind.String() + "+" + strings.ToLower(strings.TrimSuffix(domain, "."))
}

// routeKey names a route by what makes it the same way in: method,
// destination, URL and SNI, not by its position in a document.
func routeKey(r hacx.Route) string {
	sni := "-"
	if r.HasSNI {
		sni = r.SNI
	}
	return string(r.Method) + " " + r.Dest() + " " + r.URL + " " + sni
}

// routeSetID fingerprints a set of routes, order aside (the weighted order
// of C2 changes from lookup to lookup): keys, ALPN and pins, so a new
// document with other pins voids the memory too.
func routeSetID(routes []hacx.Route) string {
	keys := make([]string, len(routes))
	for i, r := range routes {
		k := routeKey(r) + " " + string(r.ALPN)
		for _, p := range r.Pins {
			k += " " + p.String()
		}
		keys[i] = k
	}
	slices.Sort(keys)
	h := sha256.Sum256([]byte(strings.Join(keys, "\n")))
	return hex.EncodeToString(h[:12])
}

// recall loads the memo for domain, nil when there is none for this route
// set. A memory that cannot be read is as good as none.
func (d *Dialer) recall(ctx context.Context, domain string, kind hacx.Kind, set string) *memo {
	data, err := d.memory().Get(ctx, memoKey(domain, kind))
	if err != nil {
		if !errors.Is(err, discover.ErrCacheMiss) {
			d.log().Debug("dial: route memory unreadable", "domain", domain, "err", err)
		}
		return nil
	}
	var m memo
	if json.Unmarshal(data, &m) != nil || m.Version != 1 || m.Routes != set {
		return nil
	}
	return &m
}

// remember stores what the attempts showed: the first working route as
// the winner, each attempt's round trip, and failures with their phase.
// The facts of routes not tried this time are kept.
func (d *Dialer) remember(ctx context.Context, domain string, kind hacx.Kind, set string, old *memo, attempts []Attempt, now time.Time) {
	m := memo{Version: 1, Routes: set, Facts: map[string]routeFact{}}
	if old != nil {
		m.Winner, m.WonAt = old.Winner, old.WonAt
		for k, f := range old.Facts {
			m.Facts[k] = f
		}
	}
	won := false
	for _, a := range attempts {
		k := routeKey(a.Route)
		f := m.Facts[k]
		if a.Connect > 0 {
			f.RTT = a.Connect.Microseconds()
		}
		switch {
		case a.OK():
			f.Failed, f.Phase, f.TimedOut = time.Time{}, "", false
			if !won {
				m.Winner, m.WonAt, won = k, now, true
			}
		case errors.Is(a.Err, ErrLostRace) || a.Err == nil:
			// Cancelled by a win: nothing learnt about this route.
		default:
			var te *TimeoutError
			f.Failed, f.Phase, f.TimedOut = now, a.Phase.String(), errors.As(a.Err, &te)
			if m.Winner == k {
				m.Winner, m.WonAt = "", time.Time{}
			}
		}
		m.Facts[k] = f
	}
	// Bounded: the facts of routes this dial did not try go first, then
	// any but the winner's; the bound is what matters.
	tried := make(map[string]bool, len(attempts))
	for _, a := range attempts {
		tried[routeKey(a.Route)] = true
	}
	for _, spare := range []func(string) bool{func(k string) bool { return !tried[k] }, func(string) bool { return true }} {
		for k := range m.Facts {
			if len(m.Facts) <= maxRemembered {
				break
			}
			if k != m.Winner && spare(k) {
				delete(m.Facts, k)
			}
		}
	}
	data, err := json.Marshal(&m)
	if err != nil {
		return
	}
	if err := d.memory().Put(ctx, memoKey(domain, kind), data); err != nil {
		d.log().Debug("dial: route memory not stored", "domain", domain, "err", err)
	}
}

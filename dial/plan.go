package dial

import (
	"context"
	"fmt"
	"time"

	"hacx.dev/hacx"
)

// PlannedRoute is a route in the order a dial tries it, with the reason
// when that order differs from the one given.
type PlannedRoute struct {
	Route hacx.Route
	// Note says why the route moved: "remembered: verified stream 2m ago"
	// for the last winner brought to the front, "moved last: timed out in
	// tls 40s ago" for a recent stall; "" otherwise.
	Note string
	// RTT is the round trip remembered for the route (its last TCP
	// connect time), 0 when none is.
	RTT time.Duration
}

// Plan returns routes in the order DialRoutes would try them for domain,
// without those Methods leaves out:
//
//   - within one priority, IPv6 and IPv4 addresses alternate, the family
//     of the first route leading (RFC 8305 section 4, XEP-0495), so one
//     broken family costs one stagger, not all of them;
//   - the route that last gave a verified stream for this domain, kind and
//     route set comes first (Memory);
//   - routes that timed out within FailureMemory move behind all others,
//     in their order: still tried, never dropped.
//
// The plan changes no check: whatever the order, every route must prove
// itself (C4). It is deterministic for a given memory.
func (d *Dialer) Plan(ctx context.Context, domain string, kind hacx.Kind, routes []hacx.Route) []PlannedRoute {
	plan, _, _ := d.plan(ctx, domain, kind, d.allowed(routes))
	return plan
}

// plan is Plan, also returning the route set's ID and its memo for
// remember.
func (d *Dialer) plan(ctx context.Context, domain string, kind hacx.Kind, routes []hacx.Route) ([]PlannedRoute, string, *memo) {
	routes = interleave(routes)
	set := routeSetID(routes)
	m := d.recall(ctx, domain, kind, set)
	now := d.now()
	var first, middle, last []PlannedRoute
	for _, r := range routes {
		p := PlannedRoute{Route: r}
		k := routeKey(r)
		if m != nil {
			f := m.Facts[k]
			p.RTT = time.Duration(f.RTT) * time.Microsecond
			switch {
			case k == m.Winner && len(first) == 0:
				p.Note = "remembered: verified stream " + ago(now, m.WonAt)
				first = append(first, p)
				continue
			case f.TimedOut && now.Sub(f.Failed) < d.failureMemory():
				p.Note = fmt.Sprintf("moved last: timed out in %s %s", f.Phase, ago(now, f.Failed))
				last = append(last, p)
				continue
			}
		}
		middle = append(middle, p)
	}
	return append(append(first, middle...), last...), set, m
}

func ago(now, t time.Time) string {
	d := now.Sub(t)
	if d < time.Second {
		return "just now"
	}
	return d.Round(time.Second).String() + " ago"
}

// interleave alternates address families within each run of routes of
// one priority, keeping each family's own order (RFC 8305 section 4). A
// route by name (no address) counts with the family of none and stays
// in place relative to its own kind.
func interleave(routes []hacx.Route) []hacx.Route {
	out := make([]hacx.Route, 0, len(routes))
	for i := 0; i < len(routes); {
		j := i
		for j < len(routes) && routes[j].Priority == routes[i].Priority {
			j++
		}
		out = append(out, alternate(routes[i:j])...)
		i = j
	}
	return out
}

func alternate(group []hacx.Route) []hacx.Route {
	var v6, v4, other []hacx.Route
	for _, r := range group {
		switch a := r.Addr.Addr(); {
		case !a.IsValid():
			other = append(other, r)
		case a.Is4() || a.Is4In6():
			v4 = append(v4, r)
		default:
			v6 = append(v6, r)
		}
	}
	if len(v6) == 0 || len(v4) == 0 {
		return group
	}
	lead, follow := v6, v4
	if a := group[0].Addr.Addr(); a.Is4() || a.Is4In6() {
		lead, follow = v4, v6
	}
	out := make([]hacx.Route, 0, len(group))
	for len(lead) > 0 || len(follow) > 0 {
		if len(lead) > 0 {
			out = append(out, lead[0])
			lead = lead[1:]
		}
		if len(follow) > 0 {
			out = append(out, follow[0])
			follow = follow[1:]
		}
	}
	return append(out, other...)
}

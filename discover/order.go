package discover

import (
	"math/rand/v2"
	"slices"

	"hacx.dev/hacx"
)

// Order returns routes in the order to try them (C2, RFC 2782): ascending
// priority, and within one priority a weighted random selection: entries
// with weight 0 go first in the list, a random number in [0, sum of
// weights] picks the first entry whose running sum reaches it, which is
// removed, and so on. rnd nil uses the process-wide random source. The input
// slice is not modified.
func Order(routes []hacx.Route, rnd *rand.Rand) []hacx.Route {
	in := slices.Clone(routes)
	// Stable, so that weight-0 entries keep their document order before
	// the weighted draw below.
	slices.SortStableFunc(in, func(a, b hacx.Route) int { return int(a.Priority) - int(b.Priority) })
	out := make([]hacx.Route, 0, len(in))
	for start := 0; start < len(in); {
		end := start
		for end < len(in) && in[end].Priority == in[start].Priority {
			end++
		}
		out = appendWeighted(out, in[start:end], rnd)
		start = end
	}
	return out
}

// appendWeighted appends one priority group in RFC 2782 weighted order.
func appendWeighted(out, group []hacx.Route, rnd *rand.Rand) []hacx.Route {
	// RFC 2782: "arrange all SRV RRs (that have not been ordered yet) in
	// any order, except that all those with weight 0 are placed at the
	// beginning of the list."
	g := make([]hacx.Route, 0, len(group))
	for _, r := range group {
		if r.Weight == 0 {
			g = append(g, r)
		}
	}
	for _, r := range group {
		if r.Weight != 0 {
			g = append(g, r)
		}
	}
	for len(g) > 0 {
		sum := 0
		for _, r := range g {
			sum += int(r.Weight)
		}
		// A uniform number in [0, sum] inclusive; with all weights zero
		// it is 0 and the first entry is taken.
		var n int
		if rnd != nil {
			n = rnd.IntN(sum + 1)
		} else {
			n = rand.IntN(sum + 1)
		}
		pick, running := 0, 0
		for i, r := range g {
			running += int(r.Weight)
			if running >= n {
				pick = i
				break
			}
		}
		out = append(out, g[pick])
		g = slices.Delete(g, pick, pick+1)
	}
	return out
}

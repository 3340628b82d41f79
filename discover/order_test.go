package discover

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"

	"hacx.dev/hacx"
)

func rt(name string, prio, weight uint16) hacx.Route {
	return hacx.Route{URL: name, Priority: prio, Weight: weight, Addr: netip.MustParseAddrPort("127.0.0.1:1")}
}

func names(rs []hacx.Route) string {
	s := ""
	for _, r := range rs {
		s += r.URL
	}
	return s
}

func TestOrder_AscendingPriority_C2(t *testing.T) {
	in := []hacx.Route{rt("c", 30, 5), rt("a", 10, 0), rt("b", 20, 9), rt("d", 65535, 0)}
	got := names(Order(in, rand.New(rand.NewPCG(7, 7))))
	if got != "abcd" {
		t.Errorf("order = %s, want abcd", got)
	}
	if names(in) != "cabd" {
		t.Error("Order modified its input")
	}
	if len(Order(nil, nil)) != 0 {
		t.Error("empty input")
	}
}

func TestOrder_AllWeightZeroKeepsOrder_C2(t *testing.T) {
	in := []hacx.Route{rt("a", 1, 0), rt("b", 1, 0), rt("c", 1, 0)}
	for i := range 20 {
		if got := names(Order(in, rand.New(rand.NewPCG(uint64(i), 1)))); got != "abc" {
			t.Fatalf("order = %s, want abc (all weights 0: the draw is always 0)", got)
		}
	}
}

// TestOrder_WeightedDistribution_C2 checks the first pick against the RFC
// 2782 probabilities: with weights 0, 1 and 3 the number is uniform in
// [0, 4], so the weight-0 entry (placed first) wins for 0, the weight-1
// entry for 1 and the weight-3 entry for 2..4: 1/5, 1/5, 3/5.
func TestOrder_WeightedDistribution_C2(t *testing.T) {
	in := []hacx.Route{rt("b", 5, 3), rt("a", 5, 1), rt("z", 5, 0), rt("p", 1, 100)}
	rnd := rand.New(rand.NewPCG(42, 54))
	const runs = 20000
	first := map[string]int{}
	for range runs {
		out := Order(in, rnd)
		if out[0].URL != "p" || len(out) != 4 {
			t.Fatalf("priority 1 not first: %s", names(out))
		}
		first[out[1].URL]++
	}
	want := map[string]float64{"z": 0.2, "a": 0.2, "b": 0.6}
	for k, p := range want {
		got := float64(first[k]) / runs
		// 5 standard deviations of a binomial proportion: a broken
		// implementation misses by far more, a correct one essentially never.
		tol := 5 * math.Sqrt(p*(1-p)/runs)
		if math.Abs(got-p) > tol {
			t.Errorf("P(%s first) = %.3f, want %.3f ± %.3f", k, got, p, tol)
		}
	}
}

func TestOrder_SeededIsReproducible_C2(t *testing.T) {
	in := []hacx.Route{rt("a", 1, 10), rt("b", 1, 10), rt("c", 1, 10), rt("d", 1, 10)}
	a := names(Order(in, rand.New(rand.NewPCG(9, 9))))
	b := names(Order(in, rand.New(rand.NewPCG(9, 9))))
	if a != b {
		t.Errorf("same seed, different orders %s %s", a, b)
	}
}

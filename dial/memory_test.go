package dial_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/discover"
)

func TestPlan_InterleavesFamiliesWithinPriority(t *testing.T) {
	r := func(ip string, prio uint16) hacx.Route {
		return hacx.Route{Method: hacx.MethodTLS, Addr: netip.AddrPortFrom(netip.MustParseAddr(ip), 5223), Priority: prio}
	}
	tests := []struct {
		name string
		in   []hacx.Route
		want []string
	}{
		{"v6 leads", []hacx.Route{r("::1", 0), r("::2", 0), r("127.0.0.1", 0), r("127.0.0.2", 0)},
			[]string{"[::1]:5223", "127.0.0.1:5223", "[::2]:5223", "127.0.0.2:5223"}},
		{"v4 leads when first", []hacx.Route{r("127.0.0.1", 0), r("127.0.0.2", 0), r("::1", 0)},
			[]string{"127.0.0.1:5223", "[::1]:5223", "127.0.0.2:5223"}},
		{"priorities never mix", []hacx.Route{r("::1", 0), r("::2", 0), r("127.0.0.1", 1)},
			[]string{"[::1]:5223", "[::2]:5223", "127.0.0.1:5223"}},
	}
	d := &dial.Dialer{Memory: dial.NoMemory}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range d.Plan(context.Background(), domain, hacx.Client, tt.in) {
				got = append(got, p.Route.Addr.String())
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("plan %v, want %v", got, tt.want)
			}
		})
	}
}

// TestMemory_WinnerFirstStallsLast_C5: the second dial of a domain tries
// the route that won the first one before anything else, and a route that
// timed out goes behind the others; each move is explained.
func TestMemory_WinnerFirstStallsLast_C5(t *testing.T) {
	ca := newCA(t)
	cert := issue(t, ca, domain)
	stall := startTLS(t, "127.0.0.2", cert, domain, modeBlackhole)
	wrong := startTLS(t, "127.0.0.3", cert, "other.test", modeXMPP)
	good := startTLS(t, "127.0.0.4", cert, domain, modeXMPP)
	routes := []hacx.Route{route(hacx.MethodTLS, stall.addr, 1), route(hacx.MethodTLS, wrong.addr, 2), route(hacx.MethodTLS, good.addr, 3)}
	d := newDialer(ca)
	d.Memory = &discover.MemCache{}
	d.Stagger = -1 // one after the other: the stall must time out to be learnt
	d.HandshakeTimeout = 200 * time.Millisecond

	c := dialOK(t, d, routes...)
	if c.Route.Index != 3 || len(c.Attempts) != 3 {
		t.Fatalf("first dial won over %v after %d attempts", c.Route, len(c.Attempts))
	}
	plan := d.Plan(context.Background(), domain, hacx.Client, routes)
	var order []int
	for _, p := range plan {
		order = append(order, p.Route.Index)
	}
	if len(order) != 3 || order[0] != 3 || order[1] != 2 || order[2] != 1 {
		t.Fatalf("plan %v, want the winner 3, then 2, then the stall 1", order)
	}
	if !strings.HasPrefix(plan[0].Note, "remembered: verified stream") || !strings.HasPrefix(plan[2].Note, "moved last: timed out in tls") || plan[1].Note != "" {
		t.Errorf("notes %q %q %q", plan[0].Note, plan[1].Note, plan[2].Note)
	}
	if plan[0].RTT <= 0 {
		t.Error("no round trip remembered for the winner")
	}
	c2 := dialOK(t, d, routes...)
	if c2.Route.Index != 3 || len(c2.Attempts) != 1 || c2.Attempts[0].Note == "" {
		t.Errorf("second dial: won over %v after %d attempts (note %q); want the remembered route at once", c2.Route, len(c2.Attempts), c2.Attempts[0].Note)
	}
}

// TestMemory_DeadWinnerStillDials_C3: the remembered winner has died; it
// fails at once and the others are still tried.
func TestMemory_DeadWinnerStillDials_C3(t *testing.T) {
	ca := newCA(t)
	cert := issue(t, ca, domain)
	a := startTLS(t, "127.0.0.2", cert, domain, modeXMPP)
	b := startTLS(t, "127.0.0.3", cert, domain, modeXMPP)
	d := newDialer(ca)
	d.Memory = &discover.MemCache{}
	routes := []hacx.Route{route(hacx.MethodTLS, a.addr, 1), route(hacx.MethodTLS, b.addr, 2)}
	dialOK(t, d, routes[1]) // a different route set: must not count
	dialOK(t, d, routes...)
	if p := d.Plan(context.Background(), domain, hacx.Client, routes); p[0].Route.Index != 1 {
		t.Fatalf("plan starts with %v, want route 1, the last winner of this route set", p[0].Route)
	}
	a.close()
	c := dialOK(t, d, routes...)
	if c.Route.Index != 2 || len(c.Attempts) != 2 {
		t.Errorf("won over %v after %d attempts; want route 2 after the dead winner", c.Route, len(c.Attempts))
	}
	if p := d.Plan(context.Background(), domain, hacx.Client, routes); p[0].Route.Index != 2 {
		t.Errorf("plan starts with %v, want the new winner", p[0].Route)
	}
}

// TestMemory_PersistsInDirCache: a DirCache memory outlives the Dialer,
// as hacx's cache directory does between runs, written as one file per
// domain and kind.
func TestMemory_PersistsInDirCache(t *testing.T) {
	ca := newCA(t)
	cert := issue(t, ca, domain)
	a := startTLS(t, "127.0.0.2", cert, "other.test", modeXMPP)
	b := startTLS(t, "127.0.0.3", cert, domain, modeXMPP)
	routes := []hacx.Route{route(hacx.MethodTLS, a.addr, 1), route(hacx.MethodTLS, b.addr, 2)}
	dir := t.TempDir()
	d := newDialer(ca)
	d.Memory = discover.DirCache(dir)
	dialOK(t, d, routes...)
	if _, err := os.Stat(filepath.Join(dir, "routes+client+"+domain)); err != nil {
		t.Fatal(err)
	}
	d2 := newDialer(ca)
	d2.Memory = discover.DirCache(dir)
	if p := d2.Plan(context.Background(), domain, hacx.Client, routes); p[0].Route.Index != 2 {
		t.Errorf("a new Dialer plans %v first, want the winner remembered on disk", p[0].Route)
	}
	// Nothing remembered for the other kind.
	if p := d2.Plan(context.Background(), domain, hacx.Server, routes); p[0].Route.Index != 1 || p[0].Note != "" {
		t.Errorf("server kind plans %v (%q) first", p[0].Route, p[0].Note)
	}
}

// TestStagger_AdaptsToRoundTrip_C5: with the default range, an attempt
// whose TCP connect took a loopback round trip and then stalls gets the
// next route started after the 100 ms floor, not the 250 ms ceiling.
func TestStagger_AdaptsToRoundTrip_C5(t *testing.T) {
	ca := newCA(t)
	cert := issue(t, ca, domain)
	stall := startTLS(t, "127.0.0.2", cert, domain, modeBlackhole)
	good := startTLS(t, "127.0.0.3", cert, domain, modeXMPP)
	d := newDialer(ca)
	d.Stagger = 0 // the default adaptive range
	c := dialOK(t, d, route(hacx.MethodTLS, stall.addr, 1), route(hacx.MethodTLS, good.addr, 2))
	if len(c.Attempts) != 2 {
		t.Fatalf("%d attempts", len(c.Attempts))
	}
	if s := c.Attempts[1].Start; s < dial.DefaultMinStagger || s >= dial.DefaultStagger {
		t.Errorf("second attempt started at %v, want within [%v, %v)", s, dial.DefaultMinStagger, dial.DefaultStagger)
	}

	// A Stagger set alone stays fixed: the caller chose it.
	d.Stagger = 300 * time.Millisecond
	c = dialOK(t, d, route(hacx.MethodTLS, stall.addr, 1), route(hacx.MethodTLS, good.addr, 2))
	if s := c.Attempts[1].Start; s < 300*time.Millisecond {
		t.Errorf("fixed stagger: second attempt started at %v, want at 300ms or later", s)
	}
}

// TestMemory_Bounded: a route set larger than the memory's bound keeps at
// most 64 routes' facts, the winner's among them.
func TestMemory_Bounded(t *testing.T) {
	ca := newCA(t)
	good := startTLS(t, "127.0.0.2", issue(t, ca, domain), domain, modeXMPP)
	dead := refusedAddr(t)
	var routes []hacx.Route
	for i := range 70 {
		r := route(hacx.MethodTLS, dead, i+1)
		r.SNI, r.HasSNI = fmt.Sprintf("r%d.%s", i, domain), true
		routes = append(routes, r)
	}
	routes = append(routes, route(hacx.MethodTLS, good.addr, 71))
	mem := &discover.MemCache{}
	d := newDialer(ca)
	d.Memory = mem
	if _, err := d.DialAll(context.Background(), domain, hacx.Client, routes); err != nil {
		t.Fatal(err)
	}
	data, err := mem.Get(context.Background(), "routes+client+"+domain)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Winner string                     `json:"winner"`
		Facts  map[string]json.RawMessage `json:"facts"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Facts[m.Winner]; len(m.Facts) > 64 || m.Winner == "" || !ok {
		t.Errorf("%d facts, winner %q kept %v; want at most 64 with the winner's", len(m.Facts), m.Winner, ok)
	}
	if p := d.Plan(context.Background(), domain, hacx.Client, routes); p[0].Route.Index != 71 {
		t.Errorf("plan starts with %v, want the winner", p[0].Route)
	}
}

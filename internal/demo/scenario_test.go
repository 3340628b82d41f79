package demo

import (
	"context"
	"slices"
	"strings"
	"testing"

	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/internal/testbed"
)

// newTestBed builds a bed for the test and closes it at the end.
func newTestBed(t *testing.T, cfg testbed.BedConfig) *testbed.Bed {
	t.Helper()
	b, err := testbed.NewBed(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("bed close: %v", err)
		}
	})
	return b
}

// TestScenarios plays every scenario of the table and asserts its exact
// outcome: the winning route (source, index, method, how verified) or the
// failure kind, the phase each attempt ended in, and stale use (H3-H5,
// A9, X1, X3, X4, C3-C5).
func TestScenarios(t *testing.T) {
	r := &Runner{Bed: newTestBed(t, testbed.BedConfig{})}
	for _, sc := range Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			res := r.Run(context.Background(), sc)
			if !res.AsExpected {
				t.Errorf("%s: %s\nsources: %+v\nattempts: %+v", sc.Name, res.Mismatch, res.Sources, res.Attempts)
			}
		})
	}
}

// TestRun_DetectsWrongExpectation: the runner's verdict is not vacuous; a
// scenario expecting another winner, failure, phases or staleness is
// reported as unexpected.
func TestRun_DetectsWrongExpectation(t *testing.T) {
	r := &Runner{Bed: newTestBed(t, testbed.BedConfig{})}
	normal, _ := Find("normal")
	dead, _ := Find("all-routes-dead")
	tests := []struct {
		name string
		sc   Scenario
		edit func(e *Expect)
	}{
		{"other winner index", normal, func(e *Expect) { w := *e.Winner; w.Index = 2; e.Winner = &w }},
		{"other verification", normal, func(e *Expect) { w := *e.Winner; w.Verified = "pin"; e.Winner = &w }},
		{"failure expected", normal, func(e *Expect) { e.Winner, e.Fail = nil, FailAllRoutes }},
		{"stale expected", normal, func(e *Expect) { e.Stale = true }},
		{"other phases", normal, func(e *Expect) { e.Phases = nil }},
		{"other failure kind", dead, func(e *Expect) { e.Fail = FailRedirectLoop }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := tt.sc
			tt.edit(&sc.Expect)
			if res := r.Run(context.Background(), sc); res.AsExpected || res.Mismatch == "" {
				t.Errorf("wrong expectation accepted: %+v", res)
			}
		})
	}
}

func TestSelect(t *testing.T) {
	if s, err := Select(); err != nil || len(s) != len(Tour) {
		t.Errorf("default: %d %v", len(s), err)
	}
	if s, err := Select("all"); err != nil || len(s) != len(Scenarios) {
		t.Errorf("all: %d %v", len(s), err)
	}
	if _, err := Select("normal", "nope"); err == nil {
		t.Error("unknown scenario accepted")
	}
	for _, n := range Tour {
		if _, ok := Find(n); !ok {
			t.Errorf("tour names unknown scenario %q", n)
		}
	}
}

// TestTorOnly_ProxyLog_T1: the tor-only scenario's report is what T1
// asks for, read from the proxy's own log and the DNS server's: the HACX
// fetch went to the proxy by name, the winning route by ip:port, and the
// client made no DNS query and no direct connection.
func TestTorOnly_ProxyLog_T1(t *testing.T) {
	b := newTestBed(t, testbed.BedConfig{})
	sc, ok := Find("tor-only")
	if !ok {
		t.Fatal("no tor-only scenario")
	}
	res := (&Runner{Bed: b}).Run(context.Background(), sc)
	if !res.AsExpected {
		t.Fatalf("%s\nsources: %+v\nattempts: %+v\nproxy: %+v", res.Mismatch, res.Sources, res.Attempts, res.Proxy)
	}
	p := res.Proxy
	want := []Connect{
		{Target: b.Domain + ":443", ByName: true},
		{Target: b.TLS.String()},
	}
	if p == nil || !slices.Equal(p.Connects, want) {
		t.Fatalf("proxy log %+v, want %+v", p, want)
	}
	if res.DNSQueries != 0 || p.DirectDials != 0 || p.DANE != "unavailable over SOCKS" || p.Via != "" {
		t.Errorf("dns=%d direct=%d dane=%q via=%q", res.DNSQueries, p.DirectDials, p.DANE, p.Via)
	}
	var out strings.Builder
	if err := Render(&out, res, Style{}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"CONNECT " + b.Domain + ":443", "by name",
		"CONNECT " + b.TLS.String(),
		"DNS queries made by hacx: 0", "DANE: unavailable over SOCKS", "as expected",
	} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("render lacks %q:\n%s", s, out.String())
		}
	}
}

// TestTorOnly_LeaksDetected_T1: the proxy checks are not vacuous. A
// client that asks the world's DNS server, dials around the proxy, or
// makes a CONNECT that is neither the fetch nor an attempt is reported as
// unexpected.
func TestTorOnly_LeaksDetected_T1(t *testing.T) {
	r := &Runner{Bed: newTestBed(t, testbed.BedConfig{})}
	tor, _ := Find("tor-only")
	normal, _ := Find("normal")
	tests := []struct {
		name  string
		sc    Scenario
		leak  func(w *World) error
		words string // the mismatch must say this
	}{
		{"local DNS queries", tor, func(w *World) error { w.Resolver.NoDNS = false; return nil }, "DNS"},
		// The dialer takes a Discovery's proxy as its own; a route source
		// it cannot see into hides it, so routes go direct.
		{"routes dialed directly", tor, func(w *World) error {
			w.Dialer.Proxy = nil
			w.Dialer.Routes = dial.RouteSourceFunc(w.Dialer.Routes.Routes)
			return nil
		}, "around the proxy"},
		{"a CONNECT unaccounted for", tor, func(w *World) error {
			c, err := w.Resolver.Proxy.DialContext(w.ctx, "tcp", w.Bed.Publisher.String())
			if err != nil {
				return err
			}
			return c.Close()
		}, "proxy to see"},
		{"no proxy at all", normal, nil, "SOCKS proxy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := tt.sc
			setup := sc.setup
			sc.Expect.Proxied = true
			sc.setup = func(w *World) error {
				if err := setup(w); err != nil {
					return err
				}
				if tt.leak != nil {
					return tt.leak(w)
				}
				return nil
			}
			res := r.Run(context.Background(), sc)
			if res.AsExpected || !strings.Contains(res.Mismatch, tt.words) {
				t.Errorf("leak not reported as %q: mismatch %q, proxy %+v", tt.words, res.Mismatch, res.Proxy)
			}
		})
	}
}

// A route started after the winner only because the machine was slow, and
// cancelled by the win, does not make a scenario unexpected; an attempt
// before the winner still counts (C5).
func TestCompare_IgnoresLateLosers_C5(t *testing.T) {
	e := Expect{Winner: &Winner{Source: "hacx", Index: 1, Method: "tls"}, Phases: []dial.Phase{dial.PhaseDone}}
	win := Attempt{Phase: "done", OK: true}
	late := Attempt{Phase: "stream", Error: "cancelled", LostRace: true}
	r := &Result{Winner: e.Winner, Attempts: []Attempt{win, late}}
	if m := compare(e, r); m != "" {
		t.Errorf("late loser after the winner: %s", m)
	}
	r.Attempts = []Attempt{late, win}
	if m := compare(e, r); m == "" {
		t.Error("a loser before the winner was not compared")
	}
}

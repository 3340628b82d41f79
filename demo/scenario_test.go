package demo

import (
	"context"
	"testing"

	"hacx.dev/hacx/hacxtest"
)

// newTestBed builds a bed for the test and closes it at the end.
func newTestBed(t *testing.T, cfg hacxtest.BedConfig) *hacxtest.Bed {
	t.Helper()
	b, err := hacxtest.NewBed(context.Background(), cfg)
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
	r := &Runner{Bed: newTestBed(t, hacxtest.BedConfig{})}
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
	r := &Runner{Bed: newTestBed(t, hacxtest.BedConfig{})}
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

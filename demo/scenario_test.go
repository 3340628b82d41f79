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

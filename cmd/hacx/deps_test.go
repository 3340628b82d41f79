package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestDeps: what the shipped command and the library packages may pull in.
// The hacx binary must not link the testing package (the demo's test bed is
// built for it, not for tests), and neither may the public test helpers.
func TestDeps(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list dependencies with")
	}
	for _, tt := range []struct {
		pkgs      []string
		forbidden string
	}{
		{[]string{"hacx.dev/hacx/cmd/hacx"}, "testing"},
		{[]string{"hacx.dev/hacx/hacxtest"}, "testing"},
		// Metrics go through serve.Metrics; Prometheus is wired in
		// cmd/hacx, so embedding serve does not link it.
		{[]string{"hacx.dev/hacx/serve"}, "github.com/prometheus/client_golang/prometheus"},
		// Likewise proxy.Metrics: the proxy and the dialer under it link
		// no Prometheus.
		{[]string{"hacx.dev/hacx/proxy", "hacx.dev/hacx/dial"}, "github.com/prometheus/client_golang/prometheus"},
	} {
		out, err := exec.Command("go", append([]string{"list", "-deps"}, tt.pkgs...)...).Output()
		if err != nil {
			t.Fatalf("go list -deps %v: %v", tt.pkgs, err)
		}
		if deps := strings.Fields(string(out)); slices.Contains(deps, tt.forbidden) {
			t.Errorf("go list -deps %v lists %s", tt.pkgs, tt.forbidden)
		}
	}
}

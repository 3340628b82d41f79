package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"hacx.dev/hacx/demo"
	"hacx.dev/hacx/hacxtest"
)

func runDemoCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"demo"}, args...), &stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

// TestDemo_AllJSON plays every scenario through the command and checks
// the --json schema: exit 0 only because every scenario was as expected.
func TestDemo_AllJSON(t *testing.T) {
	code, out, errs := runDemoCmd(t, "--scenario", "all", "--json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s\n%s", code, errs, out)
	}
	var rep demoReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, out)
	}
	if !rep.OK || len(rep.Scenarios) != len(demo.Scenarios) || rep.TotalMS <= 0 {
		t.Fatalf("report ok=%t scenarios=%d total=%v", rep.OK, len(rep.Scenarios), rep.TotalMS)
	}
	for _, r := range rep.Scenarios {
		if !r.AsExpected || (r.Winner == nil) == (r.Fail == "") || r.ConnectMS <= 0 {
			t.Errorf("%s: as_expected=%t winner=%v fail=%q connect_ms=%v", r.Name, r.AsExpected, r.Winner, r.Fail, r.ConnectMS)
		}
	}
	// The raw JSON uses the documented field names.
	for _, key := range []string{`"as_expected"`, `"connect_ms"`, `"attempts"`, `"phase": "done"`, `"winner"`, `"fail": "all-routes-failed"`} {
		if !strings.Contains(out, key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
}

// TestDemo_TourPlainWhenPiped: the default tour, as plain text (no ANSI
// colour or progress line when stdout is not a terminal).
func TestDemo_TourPlainWhenPiped(t *testing.T) {
	code, out, errs := runDemoCmd(t)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s\n%s", code, errs, out)
	}
	if strings.Contains(out, "\x1b") || strings.Contains(out, "\r") {
		t.Error("escape sequences in piped output")
	}
	for _, name := range demo.Tour {
		if !strings.Contains(out, "▶ "+name) {
			t.Errorf("tour output lacks %s", name)
		}
	}
	if !strings.Contains(out, "5/5 scenarios as expected") || !strings.Contains(out, "STALE") {
		t.Errorf("output:\n%s", out)
	}
}

func TestDemo_ListAndUsage(t *testing.T) {
	code, out, _ := runDemoCmd(t, "--list")
	if code != exitOK || !strings.Contains(out, "all-routes-dead") || !strings.Contains(out, "* normal") {
		t.Errorf("--list: exit %d\n%s", code, out)
	}
	if code, _, errs := runDemoCmd(t, "--scenario", "nope"); code != exitUsage || !strings.Contains(errs, "nope") {
		t.Errorf("unknown scenario: exit %d %s", code, errs)
	}
	if code, _, _ := runDemoCmd(t, "extra"); code != exitUsage {
		t.Errorf("extra argument: exit %d", code)
	}
}

// TestDemo_Prosody plays every scenario with a real Prosody as the good
// endpoints, when Debian's prosody is installed.
func TestDemo_Prosody(t *testing.T) {
	hacxtest.Require(t, hacxtest.ProsodyAvailable())
	code, out, errs := runDemoCmd(t, "--prosody", "--scenario", "all", "--json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s\n%s", code, errs, out)
	}
	var rep demoReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.OK || !rep.Prosody || len(rep.Scenarios) != len(demo.Scenarios) {
		t.Errorf("ok=%t prosody=%t n=%d", rep.OK, rep.Prosody, len(rep.Scenarios))
	}
}

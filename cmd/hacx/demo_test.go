package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"hacx.dev/hacx/internal/demo"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/internal/testenv"
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
	for _, key := range []string{`"as_expected"`, `"connect_ms"`, `"attempts"`, `"phase": "done"`, `"winner"`, `"fail": "all-routes-failed"`,
		`"dns_queries"`, `"proxy"`, `"connects"`, `"by_name": true`, `"direct_dials": 0`, `"dane": "unavailable over SOCKS"`, `"proxied": true`} {
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
	if n := len(demo.Tour); !strings.Contains(out, fmt.Sprintf("%d/%d scenarios as expected", n, n)) || !strings.Contains(out, "STALE") {
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
	testenv.Require(t, testbed.ProsodyAvailable())
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

// TestDemo_SOCKSExternal_T1: --socks plays the proxy scenario through
// another proxy (here a second loopback SOCKS5 server): every connection to
// the in-process proxy is a CONNECT by IP through it, nothing else goes
// through it, the report names it, and the tor-only checks still pass.
func TestDemo_SOCKSExternal_T1(t *testing.T) {
	ext, err := loopback.NewSOCKSServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ext.Close()
	code, out, errs := runDemoCmd(t, "--socks", "socks5h://alice:secret@"+ext.Addr, "--json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s\n%s", code, errs, out)
	}
	var rep demoReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, out)
	}
	if strings.Contains(out, "secret") {
		t.Error("the report shows the proxy password")
	}
	if len(rep.Scenarios) != 1 || rep.Scenarios[0].Name != "tor-only" || rep.SOCKS != "socks5h://"+ext.Addr {
		t.Fatalf("scenarios %d, socks %q", len(rep.Scenarios), rep.SOCKS)
	}
	r := rep.Scenarios[0]
	if !r.AsExpected || r.Proxy == nil || r.Proxy.Via != rep.SOCKS || len(r.Proxy.Connects) < 2 {
		t.Fatalf("tor-only through %s: %+v", ext.Addr, r)
	}
	inner := strings.TrimPrefix(r.Proxy.URL, "socks5h://")
	got := ext.Connects()
	if len(got) != len(r.Proxy.Connects) {
		t.Errorf("external proxy saw %d CONNECTs, the in-process one %d: %v", len(got), len(r.Proxy.Connects), got)
	}
	for _, c := range got {
		if c.Target() != inner || c.IsName || c.User != "alice" || c.Reply != 0 {
			t.Errorf("external proxy saw %v (name %t, user %q, reply %d), want only CONNECT %s as alice", c, c.IsName, c.User, c.Reply, inner)
		}
	}
}

// TestDemo_SOCKSRefusing_T1: an external proxy that refuses makes the
// scenario fail (exit 1) and the report say which proxy; no fallback to
// the in-process one.
func TestDemo_SOCKSRefusing_T1(t *testing.T) {
	ext, err := loopback.NewSOCKSServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ext.Close()
	ext.Refuse(loopback.SOCKSNotAllowed)
	code, out, errs := runDemoCmd(t, "--socks", "socks5h://"+ext.Addr)
	if code != exitFail {
		t.Fatalf("exit %d, want %d; stderr %s\n%s", code, exitFail, errs, out)
	}
	if !strings.Contains(out, "UNEXPECTED") || !strings.Contains(out, ext.Addr) || !strings.Contains(out, "0/1 scenarios") {
		t.Errorf("output:\n%s", out)
	}
	if len(ext.Connects()) == 0 {
		t.Error("the external proxy was never asked")
	}
}

// TestDemo_SOCKSUsage: --socks parses like every other command's, does
// not apply to scenarios without a proxy, and "none" is no proxy;
// ALL_PROXY is not read.
func TestDemo_SOCKSUsage(t *testing.T) {
	if code, _, errs := runDemoCmd(t, "--socks", "http://127.0.0.1:8080"); code != exitUsage || !strings.Contains(errs, "socks5h") {
		t.Errorf("bad scheme: exit %d %s", code, errs)
	}
	if code, _, errs := runDemoCmd(t, "--socks", "socks5h://127.0.0.1:1", "--scenario", "normal"); code != exitUsage || !strings.Contains(errs, "tor-only") {
		t.Errorf("no proxy scenario: exit %d %s", code, errs)
	}
	t.Setenv("ALL_PROXY", "socks5h://127.0.0.1:1") // nothing listens there
	code, out, errs := runDemoCmd(t, "--socks", "none", "--scenario", "tor-only,normal", "--json")
	if code != exitOK {
		t.Fatalf("--socks none: exit %d %s\n%s", code, errs, out)
	}
	var rep demoReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.SOCKS != "" || len(rep.Scenarios) != 2 || rep.Scenarios[0].Proxy == nil || rep.Scenarios[0].Proxy.Via != "" || rep.Scenarios[1].Proxy != nil {
		t.Errorf("--socks none: %s", out)
	}
	if code, _, errs := runDemoCmd(t, "--scenario", "tor-only"); code != exitOK {
		t.Errorf("ALL_PROXY was used: exit %d %s", code, errs)
	}
}

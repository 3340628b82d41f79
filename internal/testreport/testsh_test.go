package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fakeGo stands in for the go command in test.sh's fuzz step: one package
// with one fuzz target, whose tries end as FAKE_OUTCOMES lists them (ok,
// timeout, finding, crash), counted in FAKE_STATE.
const fakeGo = `#!/usr/bin/env bash
case "$1" in
list) echo example.test/p; exit 0 ;;
test) ;;
*) echo "fake go: unexpected $*" >&2; exit 3 ;;
esac
if [[ " $* " == *" -list "* ]]; then
  printf 'FuzzX\nok  \texample.test/p\t0.01s\n'
  exit 0
fi
n=$(( $(cat "$FAKE_STATE" 2>/dev/null || echo 0) + 1 ))
echo "$n" >"$FAKE_STATE"
case "$(echo "$FAKE_OUTCOMES" | cut -d, -f"$n")" in
ok)
  printf 'fuzz: elapsed: 1s, execs: 1000 (1000/sec), new interesting: 0 (total: 5)\nPASS\nok  \texample.test/p\t1.02s\n' ;;
timeout)
  printf 'fuzz: elapsed: 1s, execs: 1000 (1000/sec), new interesting: 0 (total: 5)\n--- FAIL: FuzzX (1.03s)\n    context deadline exceeded\nFAIL\nexit status 1\nFAIL\texample.test/p\t1.05s\n'
  exit 1 ;;
finding)
  printf -- '--- FAIL: FuzzX (0.50s)\n    --- FAIL: FuzzX (0.00s)\n        x_test.go:9: boom\n\n    Failing input written to testdata/fuzz/FuzzX/0123\n    context deadline exceeded\nFAIL\texample.test/p\t0.6s\n'
  exit 1 ;;
crash)
  printf -- '--- FAIL: FuzzX (0.10s)\npanic: runtime error\nFAIL\texample.test/p\t0.2s\n'
  exit 1 ;;
esac
`

// runTestSh runs the repository's test.sh with the given steps, the
// fakes in bin first on PATH and env added; it returns the combined
// output, whether the script succeeded, and what the fakes left in
// FAKE_STATE.
func runTestSh(t *testing.T, bin map[string]string, env []string, steps ...string) (out string, ok bool, state string) {
	t.Helper()
	dir := t.TempDir()
	binDir := filepath.Join(dir, "bin")
	if err := os.Mkdir(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range bin {
		if err := os.WriteFile(filepath.Join(binDir, name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script, err := filepath.Abs("../../test.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", append([]string{script}, steps...)...)
	cmd.Env = append(os.Environ(),
		"PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HACX_TEST_LOGS="+filepath.Join(dir, "logs"),
		"FAKE_STATE="+filepath.Join(dir, "state"),
	)
	cmd.Env = append(cmd.Env, env...)
	b, err := cmd.CombinedOutput()
	if _, exited := err.(*exec.ExitError); err != nil && !exited {
		t.Fatal(err)
	}
	st, _ := os.ReadFile(filepath.Join(dir, "state"))
	return string(b), err == nil, string(st)
}

// TestTestSh_FuzzRetry: a fuzz try that ends on the engine's own time-out
// is retried and noted in one line without FAIL, so a passing log reads as
// passing; the last try's output, FAIL lines and all, is shown only when
// it fails too; a finding or a crash fails at the first try.
func TestTestSh_FuzzRetry(t *testing.T) {
	tests := []struct {
		outcomes  string
		ok        bool
		notes     int    // retry notes printed
		fails     int    // "--- FAIL" lines printed
		mustShow  string // text the log must contain
		wantTries int
	}{
		{"timeout,ok", true, 1, 0, "ok  \texample.test/p\t1.02s", 2},
		{"timeout,timeout,ok", true, 2, 0, "try 3 of 3", 3},
		{"timeout,timeout,timeout", false, 2, 1, "context deadline exceeded", 3},
		{"finding,ok", false, 0, 2, "Failing input written", 1},
		{"crash,ok", false, 0, 1, "panic: runtime error", 1},
	}
	for _, tt := range tests {
		t.Run(tt.outcomes, func(t *testing.T) {
			out, ok, state := runTestSh(t, map[string]string{"go": fakeGo}, []string{"FUZZTIME=1s", "FAKE_OUTCOMES=" + tt.outcomes}, "fuzz")
			if ok != tt.ok {
				t.Errorf("test.sh succeeded: %v, want %v", ok, tt.ok)
			}
			if n := strings.Count(out, "-- note: FuzzX:"); n != tt.notes {
				t.Errorf("%d retry notes, want %d", n, tt.notes)
			}
			if n := strings.Count(out, "--- FAIL"); n != tt.fails {
				t.Errorf("%d --- FAIL lines, want %d", n, tt.fails)
			}
			if tt.ok && strings.Contains(out, "FAIL") {
				t.Errorf("a passing run prints FAIL")
			}
			if !strings.Contains(out, tt.mustShow) {
				t.Errorf("output lacks %q", tt.mustShow)
			}
			if tt.ok != strings.HasSuffix(out, "== passed: fuzz\n") {
				t.Errorf("the last line does not say whether it passed")
			}
			if got := strings.TrimSpace(state); got != strconv.Itoa(tt.wantTries) {
				t.Errorf("%s tries, want %d", got, tt.wantTries)
			}
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}
		})
	}
}

// fakeInstall stands in for a root machine missing one package: dpkg
// knows nothing, id says root, and apt-get install records what the
// policy-rc.d in place answers for a service start, then ends with
// FAKE_APT_EXIT.
var fakeInstall = map[string]string{
	"dpkg": "#!/bin/sh\nexit 1\n",
	"id":   "#!/bin/sh\necho 0\n",
	"apt-get": `#!/bin/sh
[ "$1" = update ] && exit 0
"$HACX_POLICY_RC_D" ejabberd start
echo "policy-rc.d ejabberd start: $?" >"$FAKE_STATE"
exit "${FAKE_APT_EXIT:-0}"
`,
}

// TestTestSh_InstallStartsNoService: while test.sh installs packages, a
// policy-rc.d that forbids every service start (exit 101) is in place;
// afterwards the one that was there before is back, or none, also when
// the install fails.
func TestTestSh_InstallStartsNoService(t *testing.T) {
	const own = "#!/bin/sh\n# the machine's own\nexit 0\n"
	for _, tt := range []struct {
		name    string
		before  string // "" = no policy-rc.d before
		aptExit string
	}{
		{"none before", "", "0"},
		{"one before", own, "0"},
		{"install fails", own, "100"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			policy := filepath.Join(t.TempDir(), "policy-rc.d")
			if tt.before != "" {
				if err := os.WriteFile(policy, []byte(tt.before), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			out, ok, state := runTestSh(t, fakeInstall, []string{
				"HACX_APT_PACKAGES=ejabberd", "HACX_POLICY_RC_D=" + policy, "FAKE_APT_EXIT=" + tt.aptExit,
			}, "install")
			if ok != (tt.aptExit == "0") {
				t.Errorf("test.sh succeeded: %v with apt-get exiting %s", ok, tt.aptExit)
			}
			if state != "policy-rc.d ejabberd start: 101\n" {
				t.Errorf("during the install: %q, want the start forbidden (101)", state)
			}
			got, err := os.ReadFile(policy)
			switch {
			case tt.before == "" && !os.IsNotExist(err):
				t.Errorf("policy-rc.d left behind: %q (%v)", got, err)
			case tt.before != "" && string(got) != tt.before:
				t.Errorf("policy-rc.d after: %q (%v), want the one before back", got, err)
			}
			if entries, _ := os.ReadDir(filepath.Dir(policy)); tt.before != "" && len(entries) != 1 {
				t.Errorf("%d files next to policy-rc.d, want only it", len(entries))
			}
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}
		})
	}
}

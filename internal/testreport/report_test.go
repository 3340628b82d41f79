package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSkipReason(t *testing.T) {
	tests := []struct {
		name   string
		output []string
		want   string
	}{
		{"one line", []string{
			"=== RUN   TestX\n",
			"    gen_nginx_test.go:226: nginx is not installed: apt-get install nginx\n",
			"--- SKIP: TestX (0.00s)\n",
		}, "nginx is not installed: apt-get install nginx"},
		{"logged before the skip: the last message is the reason", []string{
			"=== RUN   TestX\n",
			"    x_test.go:10: starting\n",
			"    x_test.go:12: prosody: not found\n",
			"--- SKIP: TestX (0.01s)\n",
		}, "prosody: not found"},
		{"continuation lines", []string{
			"    x_test.go:12: first\n        second\n",
			"        third\n",
			"--- SKIP: TestX (0.01s)\n",
		}, "first; second; third"},
		{"subtest", []string{
			"=== RUN   TestX/sub\n",
			"        x_test.go:20: not root\n",
			"    --- SKIP: TestX/sub (0.00s)\n",
		}, "not root"},
		{"no message", []string{"=== RUN   TestX\n", "--- SKIP: TestX (0.00s)\n"}, "(no reason given)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := skipReason(tt.output); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestReport_Stream: the readable log keeps package results and failing
// tests' output, drops passing tests' output, and the summary names
// every skip with its reason and every failure.
func TestReport_Stream(t *testing.T) {
	stream := `{"Action":"start","Package":"m/a"}
{"Action":"run","Package":"m/a","Test":"TestOK"}
{"Action":"output","Package":"m/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"output","Package":"m/a","Test":"TestOK","Output":"    a_test.go:5: chatter of a passing test\n"}
{"Action":"output","Package":"m/a","Test":"TestOK","Output":"--- PASS: TestOK (0.00s)\n"}
{"Action":"pass","Package":"m/a","Test":"TestOK"}
{"Action":"output","Package":"m/a","Test":"TestNginx","Output":"    a_test.go:9: nginx is not installed: apt-get install nginx\n"}
{"Action":"output","Package":"m/a","Test":"TestNginx","Output":"--- SKIP: TestNginx (0.00s)\n"}
{"Action":"skip","Package":"m/a","Test":"TestNginx"}
{"Action":"output","Package":"m/a","Test":"TestBad","Output":"    a_test.go:20: got 1, want 2\n"}
{"Action":"output","Package":"m/a","Test":"TestBad","Output":"--- FAIL: TestBad (0.00s)\n"}
{"Action":"fail","Package":"m/a","Test":"TestBad"}
{"Action":"output","Package":"m/a","Output":"FAIL\n"}
{"Action":"output","Package":"m/a","Output":"FAIL\tm/a\t0.01s\n"}
{"Action":"fail","Package":"m/a"}
{"Action":"output","Package":"m","Test":"TestRoot","Output":"--- PASS: TestRoot (0.00s)\n"}
{"Action":"pass","Package":"m","Test":"TestRoot"}
{"Action":"output","Package":"m","Output":"PASS\n"}
{"Action":"output","Package":"m","Output":"ok  \tm\t0.01s\n"}
{"Action":"pass","Package":"m"}
{"Action":"output","Package":"m/b","Test":"TestHang","Output":"=== RUN   TestHang\n"}
{"Action":"output","Package":"m/b","Output":"panic: test timed out after 1s\n"}
{"Action":"fail","Package":"m/b"}
{"Action":"skip","Package":"m/c"}
{"Action":"fail","Package":"m/d","FailedBuild":"m/d [m/d.test]"}
{"Action":"fail","Package":"m/e","FailedBuild":"m/dep"}
go: warning: something the go command said on stderr
`
	var out, log strings.Builder
	r := &Report{Module: "m", Out: &out, Log: &log}
	for l := range strings.Lines(stream) {
		r.Line(l)
	}
	wantOut := "    a_test.go:20: got 1, want 2\n--- FAIL: TestBad (0.00s)\nFAIL\nFAIL\tm/a\t0.01s\n" +
		"ok  \tm\t0.01s\n" +
		"panic: test timed out after 1s\n=== RUN   TestHang\n" +
		"go: warning: something the go command said on stderr\n"
	if out.String() != wantOut {
		t.Errorf("readable log:\n%s\nwant:\n%s", out.String(), wantOut)
	}
	if !strings.Contains(log.String(), "chatter of a passing test") || !strings.Contains(log.String(), "PASS\n") {
		t.Errorf("full log lacks passing output:\n%s", log.String())
	}
	if r.OK() {
		t.Error("OK after failures")
	}
	var sum strings.Builder
	r.Summary(&sum, "to run them all: install nginx")
	wantSum := `2 passed, 1 failed, 1 skipped
skipped 1:
  TestNginx (./a): nginx is not installed: apt-get install nginx
to run them all: install nginx
failed 4:
  TestBad (./a)
  ./b
  ./d (build failed)
  ./e (build of ./dep failed)
`
	if sum.String() != wantSum {
		t.Errorf("summary:\n%s\nwant:\n%s", sum.String(), wantSum)
	}
}

// TestReport_RealGoTest runs the real "go test -json" on a small module
// of its own, so that the report follows what the go command emits
// today: skips in tests and subtests, multi-line reasons, a build
// failure.
func TestReport_RealGoTest(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command runs these tests, yet: %v", err)
	}
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.test/m\n\ngo 1.24\n",
		"a/a_test.go": `package a

import "testing"

func TestPass(t *testing.T) { t.Log("fine") }

func TestNginx(t *testing.T) {
	t.Log("looking for nginx")
	t.Skip("nginx is not installed: apt-get install nginx")
}

func TestSub(t *testing.T) {
	t.Run("root", func(t *testing.T) { t.Skipf("needs root\nto install a package") })
	t.Run("ok", func(t *testing.T) {})
}

func TestFail(t *testing.T) { t.Error("wrong answer") }
`,
		"broken/broken.go": "package broken\n\nfunc f() { undefined() }\n",
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(goCmd, "test", "-json", "-count=1", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=", "GOTOOLCHAIN=local")
	stream, _ := cmd.CombinedOutput() // exit 1: a test and a build fail on purpose

	var out strings.Builder
	logPath := filepath.Join(dir, "go-test.log")
	summaryPath := filepath.Join(dir, "summary.txt")
	code := run(strings.NewReader(string(stream)), &out, logPath, summaryPath, "example.test/m", "to run them all: be root")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	want := []Skip{
		{"./a", "TestNginx", "nginx is not installed: apt-get install nginx"},
		{"./a", "TestSub/root", "needs root; to install a package"},
	}
	r := &Report{Module: "example.test/m"}
	for l := range strings.Lines(string(stream)) {
		r.Line(l)
	}
	if got := r.Skipped(); !reflect.DeepEqual(got, want) {
		t.Errorf("skipped %+v, want %+v\nstream:\n%s", got, want, stream)
	}
	for _, s := range []string{
		"wrong answer", "undefined: undefined", // failures in the readable log
		"skipped 2:\n  TestNginx (./a): nginx is not installed: apt-get install nginx\n  TestSub/root (./a): needs root; to install a package\nto run them all: be root\n",
		"failed 2:\n  TestFail (./a)\n  ./broken (build failed)\n", // each failure once
		"full log: " + logPath,
	} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, out.String())
		}
	}
	if strings.Contains(out.String(), "looking for nginx") {
		t.Errorf("a skipped test's chatter is in the readable log:\n%s", out.String())
	}
	summary, err := os.ReadFile(summaryPath)
	if err != nil || !strings.HasPrefix(string(summary), "3 passed, 1 failed, 2 skipped\nskipped 2:\n") || !strings.HasSuffix(out.String(), string(summary)) {
		t.Errorf("summary file (%v):\n%s\nis not the end of the report", err, summary)
	}
	full, err := os.ReadFile(logPath)
	if err != nil || !strings.Contains(string(full), "looking for nginx") || !strings.Contains(string(full), "--- PASS: TestPass") {
		t.Errorf("full log (%v):\n%s", err, full)
	}
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestConventions checks the rules every subcommand shares: help on -h
// and through "hacx help" alike, a bad flag reported once with exit 2, no
// stray arguments.
func TestConventions(t *testing.T) {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			code, helpOut, helpErr := runCmd(t, "", "help", n)
			if code != exitOK || helpErr != "" || !strings.HasPrefix(helpOut, "usage: hacx "+n) {
				t.Fatalf("hacx help %s: exit %d, stdout %q, stderr %q", n, code, helpOut, helpErr)
			}
			code, out, errOut := runCmd(t, "", n, "-h")
			if code != exitOK || out != "" || errOut != helpOut {
				t.Errorf("hacx %s -h: exit %d, stdout %q; its stderr differs from hacx help %s:\n%s", n, code, out, n, errOut)
			}
			code, out, errOut = runCmd(t, "", n, "--no-such-flag")
			if code != exitUsage || out != "" || strings.Count(errOut, "no-such-flag") != 1 || strings.Contains(errOut, "usage:") {
				t.Errorf("hacx %s --no-such-flag: exit %d, stdout %q, stderr %q; want exit 2 and the error once, without the help", n, code, out, errOut)
			}
		})
	}
}

func TestHelpAndVersionArgs(t *testing.T) {
	if code, _, _ := runCmd(t, "", "help", "lint", "fmt"); code != exitUsage {
		t.Errorf("hacx help lint fmt: exit %d, want 2", code)
	}
	if code, _, _ := runCmd(t, "", "version", "extra"); code != exitUsage {
		t.Errorf("hacx version extra: exit %d, want 2", code)
	}
	code, out, _ := runCmd(t, "", "version", "--json")
	var v struct{ Version string }
	if err := json.Unmarshal([]byte(out), &v); code != exitOK || err != nil || v.Version == "" {
		t.Errorf("hacx version --json: exit %d, %q (%v)", code, out, err)
	}
}

func TestLintJSON_UnreadableFile(t *testing.T) {
	code, out, _ := runCmd(t, "", "lint", "--json", "testdata/no-such-file.xml")
	var rep lintReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if code != exitUsage || len(rep.Files) != 1 || rep.Files[0].Error == "" || rep.Files[0].Problems == nil {
		t.Errorf("exit %d, report %+v; want exit 2 and the file listed with its error", code, rep)
	}
}

func TestCheck_InvalidDomain(t *testing.T) {
	// An invalid domain is refused before any network use, as in lookup.
	for _, c := range []string{"check", "lookup"} {
		code, out, _ := runCmd(t, "", c, "--socks", "none", "--no-cache", "--state-dir", t.TempDir(), "--resolver", "127.0.0.1:1", "bad domain!")
		if code != exitUsage || out != "" {
			t.Errorf("hacx %s 'bad domain!': exit %d, stdout %q; want 2 and nothing", c, code, out)
		}
	}
}

func TestDemoListJSON(t *testing.T) {
	code, out, _ := runCmd(t, "", "demo", "--list", "--json")
	var list []demoListEntry
	if err := json.Unmarshal([]byte(out), &list); code != exitOK || err != nil || len(list) == 0 {
		t.Fatalf("exit %d, %v\n%s", code, err, out)
	}
	def := 0
	for _, e := range list {
		if e.Default {
			def++
		}
	}
	if def == 0 || def == len(list) {
		t.Errorf("%d of %d scenarios marked default", def, len(list))
	}
}

// TestDiagnostics_OnePrefix: every diagnostic line starts with exactly one
// "hacx CMD: ", whether the message comes from the command, from the
// package it is named after ("serve: ...", "demo: ...") or from the one
// it reports for (gen reports serve's configuration errors).
func TestDiagnostics_OnePrefix(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.toml")
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("x = 1\n[[domain]]\nname = \"bad domain\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args  []string
		lines int // diagnostic lines expected
		want  string
	}{
		{[]string{"serve", "--check-config", "--config", missing}, 1, "hacx serve: open " + missing},
		{[]string{"serve", "--check-config", "--config", bad}, 3, "hacx serve: " + bad + ": line 1: x: unknown setting"},
		{[]string{"gen", "--config", missing}, 1, "hacx gen: open " + missing},
		{[]string{"gen", "--config", bad}, 3, "hacx gen: " + bad + ": line 3: domain[0].name"},
		{[]string{"demo", "--scenario", "nope"}, 1, `hacx demo: no scenario "nope"`},
		{[]string{"lint", filepath.Join(dir, "nope.xml")}, 1, "hacx lint: open "},
		{[]string{"proxy", "--metrics", "0.0.0.0:9090"}, 1, "hacx proxy: --metrics 0.0.0.0:9090 is not a loopback address"},
	}
	for _, tt := range tests {
		name := strings.Join(tt.args[:2], " ")
		t.Run(name, func(t *testing.T) {
			code, _, errs := runCmd(t, "", tt.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(errs, tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, errs)
			}
			cmd := tt.args[0]
			var diag []string
			for line := range strings.Lines(errs) {
				if line == "Run 'hacx "+cmd+" -h' for usage.\n" {
					continue
				}
				diag = append(diag, line)
				rest, ok := strings.CutPrefix(line, "hacx "+cmd+": ")
				if !ok || strings.HasPrefix(rest, "hacx ") || strings.HasPrefix(rest, cmd+": ") || strings.HasPrefix(rest, "serve: ") {
					t.Errorf("not exactly one %q prefix: %q", "hacx "+cmd+": ", line)
				}
			}
			if len(diag) != tt.lines {
				t.Errorf("%d diagnostic lines, want %d:\n%s", len(diag), tt.lines, errs)
			}
		})
	}
}

func TestDiagnose_Lines(t *testing.T) {
	var b strings.Builder
	diagnose(&b, &command{name: "gen", pkg: "serve"}, "serve: a\nhacx gen: b\ngen: c\nd: e\n")
	want := "hacx gen: a\nhacx gen: b\nhacx gen: c\nhacx gen: d: e\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

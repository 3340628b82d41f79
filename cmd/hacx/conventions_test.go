package main

import (
	"encoding/json"
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

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCmd runs the CLI in-process and returns exit code, stdout, stderr.
func runCmd(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &stdio{in: strings.NewReader(stdin), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

func TestLint_ExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"draft example as written is an error", []string{"lint", "../../testdata/draft-example.xml"}, exitUsage,
			"draft-example.xml:10:8: error: found </hacx> but <bosh> (opened at 9:3) is still open"},
		{"clean file", []string{"lint", "../../testdata/valid/draft-example-fixed.xml"}, exitOK, ""},
		{"warnings pass without --strict", []string{"lint", "../../testdata/valid/full.xml"}, exitOK, "warning: record 5 (quic)"},
		{"warnings fail with --strict", []string{"lint", "--strict", "../../testdata/valid/full.xml"}, exitFail, "[E1]"},
		{"flags after the file", []string{"lint", "../../testdata/valid/full.xml", "--strict"}, exitFail, "[E1]"},
		{"missing file", []string{"lint", "nope.xml"}, exitUsage, ""},
		{"no file", []string{"lint"}, exitUsage, ""},
		{"unknown flag", []string{"lint", "--bogus", "x"}, exitUsage, ""},
		{"help", []string{"lint", "-h"}, exitOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCmd(t, "", tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errs)
			}
			if !strings.Contains(out, tt.out) {
				t.Errorf("stdout %q lacks %q", out, tt.out)
			}
		})
	}
}

// TestLint_BrokenCorpus: every broken document gets exactly one line, with a
// position and a rule, and never a panic or Go-internal text.
func TestLint_BrokenCorpus(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/broken/*.xml")
	if len(files) < 20 {
		t.Fatalf("only %d broken documents", len(files))
	}
	for _, f := range files {
		code, out, errs := runCmd(t, "", "lint", f)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != exitUsage || len(lines) != 1 || !strings.HasPrefix(lines[0], f+":") || !strings.Contains(lines[0], ": error: ") {
			t.Errorf("%s: exit %d, output %q, stderr %q", f, code, out, errs)
		}
		if strings.Contains(out, "xml: ") || strings.Contains(out, "XML syntax error") || strings.Contains(errs, "panic") {
			t.Errorf("%s: internal error text: %s %s", f, out, errs)
		}
	}
}

func TestLint_JSONFromStdin(t *testing.T) {
	code, out, _ := runCmd(t, `<hacx><websocket ip="::1" port="1" priority="0" alpn="aDI=" url="wss://a.example/"/></hacx>`, "lint", "--json", "-")
	if code != exitUsage {
		t.Errorf("exit %d", code)
	}
	var rep lintReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Errors != 1 || len(rep.Files) != 1 || rep.Files[0].File != "-" || *rep.Files[0].Records != 0 {
		t.Fatalf("report %+v", rep)
	}
	p := rep.Files[0].Problems[0]
	if p.Rule != "A7" || p.Record != 1 || p.Method != "websocket" || p.Line != 1 || !p.Lost {
		t.Errorf("problem %+v", p)
	}
	if !strings.Contains(out, `"severity": "error"`) {
		t.Errorf("severity not a word: %s", out)
	}
}

func TestFmt(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "doc.xml")
	orig := "<hacx ttl='60'>\n<tls port='5223' ip='192.0.2.1' priority='1'/><tls ip='2001:db8::1' port='5223' priority='1'/></hacx>"
	if err := os.WriteFile(src, []byte(orig), 0o640); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runCmd(t, "", "fmt", "--check", src); code != exitFail || !strings.Contains(out, src) {
		t.Errorf("--check on unformatted: exit %d, %q", code, out)
	}
	code, out, _ := runCmd(t, "", "fmt", src)
	want := "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<hacx ttl=\"60\">\n  <tls ip=\"192.0.2.1\" port=\"5223\" priority=\"1\" weight=\"0\"/>\n  <tls ip=\"2001:db8::1\" port=\"5223\" priority=\"1\" weight=\"0\"/>\n</hacx>\n"
	if code != exitOK || out != want {
		t.Fatalf("fmt: exit %d\n%s", code, out)
	}
	if code, _, _ := runCmd(t, "", "fmt", "-w", src); code != exitOK {
		t.Fatalf("fmt -w exit %d", code)
	}
	got, _ := os.ReadFile(src)
	fi, _ := os.Stat(src)
	if string(got) != want || fi.Mode().Perm() != 0o640 {
		t.Errorf("rewritten file %q mode %v", got, fi.Mode())
	}
	if code, _, _ := runCmd(t, "", "fmt", "--check", src); code != exitOK {
		t.Errorf("--check on canonical file: exit %d", code)
	}
}

// TestFmt_RefusesToLoseContent: a rewrite that would drop a record or an
// attribute is refused unless forced (E2: bad input loses nothing).
func TestFmt_RefusesToLoseContent(t *testing.T) {
	doc := `<hacx><tls ip="::1" port="0" priority="1"/><tls ip="::2" port="1" priority="1"/></hacx>`
	code, out, errs := runCmd(t, doc, "fmt", "-")
	if code != exitUsage || out != "" || !strings.Contains(errs, "would be lost") || !strings.Contains(errs, "[A2]") {
		t.Errorf("exit %d stdout %q stderr %q", code, out, errs)
	}
	code, out, _ = runCmd(t, doc, "fmt", "--force", "-")
	if code != exitOK || strings.Contains(out, `ip="::1"`) || !strings.Contains(out, `ip="::2"`) {
		t.Errorf("--force: exit %d\n%s", code, out)
	}
}

func TestHelpAndVersion(t *testing.T) {
	if code, out, _ := runCmd(t, "", "help"); code != exitOK || !strings.Contains(out, "lint") {
		t.Errorf("help: %d %q", code, out)
	}
	if code, out, _ := runCmd(t, "", "help", "lint"); code != exitOK || !strings.Contains(out, "usage: hacx lint") {
		t.Errorf("help lint: %d %q", code, out)
	}
	if code, out, _ := runCmd(t, "", "version"); code != exitOK || !strings.HasPrefix(out, "hacx ") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, _, errs := runCmd(t, "", "nosuch"); code != exitUsage || !strings.Contains(errs, "unknown command") {
		t.Errorf("unknown command: %d %q", code, errs)
	}
	if code, _, _ := runCmd(t, ""); code != exitUsage {
		t.Errorf("no args: %d", code)
	}
}

// TestLintJSON_UnreadableFileCountsAsError: "errors" in the summary counts
// unreadable files, so that 0 means every file was read and is usable, and
// agrees with the exit status; the help says so.
func TestLintJSON_UnreadableFileCountsAsError(t *testing.T) {
	code, out, errs := runCmd(t, "", "lint", "--json", "../../testdata/valid/draft-example-fixed.xml", "testdata/no-such-file.xml")
	var rep lintReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if code != exitUsage || rep.Errors != 1 || rep.Warnings != 0 || len(rep.Files) != 2 || rep.Files[1].Error == "" {
		t.Errorf("exit %d, report %+v; want exit 2 and errors 1 for the unreadable file", code, rep)
	}
	if strings.Count(errs, "no-such-file.xml") != 1 || !strings.HasPrefix(errs, "hacx lint: ") {
		t.Errorf("stderr %q, want the file reported once", errs)
	}
	_, help, _ := runCmd(t, "", "help", "lint")
	if !strings.Contains(help, `counts as one of the "errors"`) {
		t.Errorf("hacx help lint does not say unreadable files count as errors")
	}
}

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// TestMan_EveryCommandFromItsHelp: hacx man writes hacx.1 and one page per
// listed command, and each page carries every line of that command's help
// text and every one of its flags, so the pages cannot drift from -h.
func TestMan_EveryCommandFromItsHelp(t *testing.T) {
	dir := t.TempDir()
	if code, out, errOut := runCmd(t, "", "man", "--dir", dir); code != exitOK || out != "" || errOut != "" {
		t.Fatalf("hacx man: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	var want []string
	for n, c := range commands {
		if !c.hidden {
			want = append(want, "hacx-"+n+".1")
		}
	}
	want = append(want, "hacx.1")
	sort.Strings(want)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("pages %v, want %v", got, want)
	}

	for n, c := range commands {
		if c.hidden {
			continue
		}
		page, err := os.ReadFile(filepath.Join(dir, "hacx-"+n+".1"))
		if err != nil {
			t.Fatal(err)
		}
		lines := map[string]bool{}
		for l := range strings.Lines(string(page)) {
			lines[strings.TrimSuffix(l, "\n")] = true
		}
		_, help, _ := runCmd(t, "", "help", n)
		desc, flags, _ := strings.Cut(help, "\nflags:\n")
		for _, l := range strings.Split(desc, "\n")[1:] { // after the usage line
			if strings.TrimSpace(l) == "" {
				continue
			}
			if !lines[roffEscape(strings.ReplaceAll(l, "\t", "    "))] {
				t.Errorf("hacx-%s.1 lacks the help line %q", n, l)
			}
		}
		for l := range strings.Lines(flags) {
			if name, ok := strings.CutPrefix(l, "  -"); ok {
				name, _, _ = strings.Cut(strings.TrimSpace(name), " ")
				name, _, _ = strings.Cut(name, "\t")
				if !bytes.Contains(page, []byte(`\fB\-\-`+roffEscape(name)+`\fR`)) {
					t.Errorf("hacx-%s.1 lacks the flag --%s", n, name)
				}
			}
		}
		if !bytes.Contains(page, []byte("\n.SH NAME\nhacx\\-"+roffEscape(n)+" \\- "+roffEscape(c.short)+"\n")) {
			t.Errorf("hacx-%s.1 NAME section is not the command's short help", n)
		}
	}

	overview, err := os.ReadFile(filepath.Join(dir, "hacx.1"))
	if err != nil {
		t.Fatal(err)
	}
	for n, c := range commands {
		if has := bytes.Contains(overview, []byte(".BR hacx\\-"+roffEscape(n)+" (1)")); has == c.hidden {
			t.Errorf("hacx.1 lists %s: %v, want %v", n, has, !c.hidden)
		}
	}
	for _, code := range []string{"0", "1", "2", "3", "4"} {
		if !bytes.Contains(overview, []byte(".TP\n.B "+code+"\n")) {
			t.Errorf("hacx.1 does not explain exit status %s", code)
		}
	}

	// groff's own warnings (-ww) catch roff that renders wrongly.
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Log("groff not installed: pages not checked by groff")
		return
	}
	for _, name := range want {
		out, err := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z", filepath.Join(dir, name)).CombinedOutput()
		if err != nil || len(out) != 0 {
			t.Errorf("groff on %s: %v\n%s", name, err, out)
		}
	}
}

func TestMan_HiddenAndUsage(t *testing.T) {
	_, out, _ := runCmd(t, "", "help")
	if strings.Contains(out, "  man ") {
		t.Errorf("hacx help lists the man command:\n%s", out)
	}
	if code, _, errOut := runCmd(t, "", "man"); code != exitUsage || !strings.Contains(errOut, "--dir is required") {
		t.Errorf("hacx man without --dir: exit %d, stderr %q", code, errOut)
	}
}

func TestParseHelp(t *testing.T) {
	c := &command{name: "x", args: "[flags] FILE", long: "Line one.\n\n  indented"}
	var buf bytes.Buffer
	fs := newFlags(c, &stdio{err: &buf})
	fs.Bool("v", false, "verbose")
	fs.String("config", "", "the `file` to read,\nover two lines")
	fs.Duration("wait", 0, "how long")
	fs.Usage()

	h, err := parseHelp("x", buf.String())
	if err != nil {
		t.Fatal(err)
	}
	want := helpText{
		name: "x", synopsis: "[flags] FILE", description: "Line one.\n\n  indented",
		flags: []helpFlag{
			{name: "config", arg: "file", usage: "the file to read,\nover two lines"},
			{name: "v", usage: "verbose"},
			{name: "wait", arg: "duration", usage: "how long"},
		},
	}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("got %+v\nwant %+v", h, want)
	}
	if _, err := parseHelp("y", buf.String()); err == nil {
		t.Error("another command's help parsed without error")
	}
}

func TestRoffEscape(t *testing.T) {
	tests := map[string]string{
		"--json":              `\-\-json`,
		`C:\path`:             `C:\epath`,
		".hidden file\n'quo'": "\\&.hidden file\n\\&'quo'",
		"a.b 'c'":             "a.b 'c'",
	}
	for in, want := range tests {
		if got := roffEscape(in); got != want {
			t.Errorf("roffEscape(%q) = %q, want %q", in, got, want)
		}
	}
}

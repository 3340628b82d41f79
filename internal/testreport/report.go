package main

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

// event is one line of "go test -json" (cmd/test2json), with the fields
// the report uses. Build output (Go 1.24 and later) carries ImportPath
// instead of Package.
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string
	// FailedBuild, on a package's fail, names the package whose build
	// failed (itself or a dependency).
	FailedBuild string
}

// Skip is one skipped test and the reason it gave.
type Skip struct {
	Package, Test, Reason string
}

// Report follows a "go test -json" stream. Out gets what a plain "go test"
// would print (package results, and the whole output of each failing
// test); Log, when set, gets every line of output as "go test -v" prints
// it. Module, when set, is shown as "." in package names, so a name reads
// like the argument "go test" takes ("./cmd/hacx").
type Report struct {
	Module string
	Out    io.Writer
	Log    io.Writer

	passed   int
	skipped  []Skip
	failed   []string            // "Test (pkg)"
	failPkgs map[string]bool     // packages with a failed test
	badPkgs  []string            // packages that failed otherwise
	pending  map[string][]string // test output not yet known to matter, by pkg+"\x00"+test
	pkgTests map[string][]string // tests of a package with pending output
}

func key(pkg, test string) string { return pkg + "\x00" + test }

// Line takes one line of the stream. A line that is not a JSON event
// (stderr of the go command, a crash before test2json) is passed through
// as it is, to Out and Log alike.
func (r *Report) Line(line string) {
	var e event
	if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &e) != nil || e.Action == "" {
		r.write(r.Out, ensureNL(line))
		r.write(r.Log, ensureNL(line))
		return
	}
	if r.pending == nil {
		r.pending = map[string][]string{}
		r.pkgTests = map[string][]string{}
	}
	if e.Output != "" {
		r.write(r.Log, e.Output)
	}
	switch e.Action {
	case "build-output":
		r.write(r.Out, e.Output)
	case "output":
		if e.Test == "" {
			// "PASS" is noise in a log of package results; everything else
			// at package level ("ok", "FAIL", a panic outside any test, a
			// time-out) is kept.
			if e.Output != "PASS\n" {
				r.write(r.Out, e.Output)
			}
			return
		}
		k := key(e.Package, e.Test)
		if _, seen := r.pending[k]; !seen {
			r.pkgTests[e.Package] = append(r.pkgTests[e.Package], e.Test)
		}
		r.pending[k] = append(r.pending[k], e.Output)
	case "pass":
		if e.Test == "" {
			return
		}
		r.passed++
		delete(r.pending, key(e.Package, e.Test))
	case "skip":
		if e.Test == "" {
			return // a package without tests
		}
		k := key(e.Package, e.Test)
		r.skipped = append(r.skipped, Skip{Package: r.name(e.Package), Test: e.Test, Reason: skipReason(r.pending[k])})
		delete(r.pending, k)
	case "fail":
		if e.Test == "" {
			// Tests that never ended (a time-out, a crash) say why only in
			// their own output: show it with the package's failure.
			for _, t := range r.pkgTests[e.Package] {
				k := key(e.Package, t)
				if out, ok := r.pending[k]; ok {
					r.write(r.Out, strings.Join(out, ""))
					delete(r.pending, k)
				}
			}
			delete(r.pkgTests, e.Package)
			// A package whose tests failed is named by them; one failing
			// without a failed test (a crash, a time-out) is named itself.
			// The failed build may be the package's test variant,
			// "pkg [pkg.test]": that is the package itself.
			failed, _, _ := strings.Cut(e.FailedBuild, " [")
			switch {
			case failed == e.Package:
				r.badPkgs = append(r.badPkgs, r.name(e.Package)+" (build failed)")
			case failed != "":
				r.badPkgs = append(r.badPkgs, r.name(e.Package)+" (build of "+r.name(failed)+" failed)")
			case !r.failPkgs[e.Package]:
				r.badPkgs = append(r.badPkgs, r.name(e.Package))
			}
			return
		}
		k := key(e.Package, e.Test)
		r.write(r.Out, strings.Join(r.pending[k], ""))
		delete(r.pending, k)
		r.failed = append(r.failed, e.Test+" ("+r.name(e.Package)+")")
		if r.failPkgs == nil {
			r.failPkgs = map[string]bool{}
		}
		r.failPkgs[e.Package] = true
	}
}

func (r *Report) write(w io.Writer, s string) {
	if w != nil && s != "" {
		io.WriteString(w, s)
	}
}

func ensureNL(s string) string {
	if strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

// name shows pkg relative to Module.
func (r *Report) name(pkg string) string {
	switch {
	case r.Module == "":
		return pkg
	case pkg == r.Module:
		return "."
	case strings.HasPrefix(pkg, r.Module+"/"):
		return "." + strings.TrimPrefix(pkg, r.Module)
	}
	return pkg
}

// OK reports whether nothing failed: no test, no package, no build.
func (r *Report) OK() bool { return len(r.failed) == 0 && len(r.badPkgs) == 0 }

// Skipped returns the skipped tests, sorted by package and name.
func (r *Report) Skipped() []Skip {
	s := append([]Skip(nil), r.skipped...)
	sort.Slice(s, func(i, j int) bool {
		if s[i].Package != s[j].Package {
			return s[i].Package < s[j].Package
		}
		return s[i].Test < s[j].Test
	})
	return s
}

// Summary writes the counts, every skipped test with its reason, then
// hint (how to run the skipped tests) when anything was skipped, and
// every failure: failed tests, and packages that failed without one.
func (r *Report) Summary(w io.Writer, hint string) {
	fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", r.passed, len(r.failed), len(r.skipped))
	if skips := r.Skipped(); len(skips) > 0 {
		fmt.Fprintf(w, "skipped %d:\n", len(skips))
		for _, s := range skips {
			fmt.Fprintf(w, "  %s (%s): %s\n", s.Test, s.Package, s.Reason)
		}
		if hint != "" {
			fmt.Fprintf(w, "%s\n", hint)
		}
	}
	if bad := append(append([]string(nil), r.failed...), r.badPkgs...); len(bad) > 0 {
		fmt.Fprintf(w, "failed %d:\n", len(bad))
		for _, b := range bad {
			fmt.Fprintf(w, "  %s\n", b)
		}
	}
}

// logEntry is the first line of a t.Log/t.Skip message as the testing
// package prints it: indentation, file:line, the message.
var logEntry = regexp.MustCompile(`^(\s*)[^\s:]+\.go:\d+: (.*)$`)

// skipReason is the last message a skipped test logged (t.Skip's own,
// since nothing runs after it), its continuation lines joined with "; ".
func skipReason(output []string) string {
	var lines []string
	for _, chunk := range output {
		for l := range strings.Lines(chunk) {
			lines = append(lines, strings.TrimRight(l, "\n"))
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		m := logEntry.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		parts := []string{m[2]}
		for _, c := range lines[i+1:] {
			// A continuation line is indented deeper than its entry;
			// framing ("--- SKIP", "=== RUN") ends the message.
			if !strings.HasPrefix(c, m[1]+" ") || isFraming(c) {
				break
			}
			if c = strings.TrimSpace(c); c != "" {
				parts = append(parts, c)
			}
		}
		return strings.Join(parts, "; ")
	}
	return "(no reason given)"
}

func isFraming(l string) bool {
	l = strings.TrimSpace(l)
	return strings.HasPrefix(l, "--- ") || strings.HasPrefix(l, "=== ")
}

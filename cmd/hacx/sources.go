package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"hacx.dev/hacx/discover"
)

// printSources writes the "sources:" section of the text reports of
// lookup and check, so that a source, and its error, read the same in
// both: a line with the source, its status, what was asked and the routes
// it gave, then one indented line per fact (cache, redirects, the TLS
// checks of the fetch, the error, the note).
func printSources(w io.Writer, sources []discover.SourceReport) {
	fmt.Fprintln(w, "sources:")
	for _, s := range sources {
		line := fmt.Sprintf("  %-10s %-7s %s", s.Source, s.Status, s.Query)
		if s.Routes > 0 {
			line += fmt.Sprintf(" (%d route(s))", s.Routes)
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
		for _, f := range sourceFacts(s) {
			fmt.Fprintf(w, "             %s\n", f)
		}
	}
}

// sourceFacts are the indented lines under a source in printSources.
func sourceFacts(s discover.SourceReport) []string {
	var facts []string
	if s.Cached {
		f := "from cache (fresh)"
		if s.Stale {
			f = "from cache (STALE)"
		}
		if s.FetchedAt != nil {
			f += ", fetched " + s.FetchedAt.Format(time.RFC3339)
		}
		facts = append(facts, f)
	}
	for _, r := range s.Redirects {
		facts = append(facts, "redirected to "+r)
	}
	if s.HSTS != "" || s.HPKP != "" || s.DANE != "" {
		facts = append(facts, fmt.Sprintf("HSTS %s, HPKP %s, DANE %s", orNoneText(s.HSTS), orNoneText(s.HPKP), orNoneText(s.DANE)))
	}
	if s.DNSSEC != "" {
		facts = append(facts, "DNSSEC "+s.DNSSEC) // how each DNS answer was validated (D1)
	}
	// Some notes repeat the error (a stale copy used because the refetch
	// failed) and some errors repeat the note (every SRV target failed):
	// say it once, in the longer form.
	switch {
	case s.Error != "" && strings.Contains(s.Note, s.Error):
		facts = append(facts, s.Note)
	case s.Error != "":
		facts = append(facts, "error: "+s.Error)
		if s.Note != "" && !strings.Contains(s.Error, s.Note) {
			facts = append(facts, s.Note)
		}
	case s.Note != "":
		facts = append(facts, s.Note)
	}
	return facts
}

// orNoneText is s, or "(none)" for an empty check result.
func orNoneText(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

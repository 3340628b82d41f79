package demo

import (
	"fmt"
	"io"
	"strings"
)

// Style says how Render decorates its text: ANSI colour only for a
// terminal; the zero Style is plain text, for pipes and files.
type Style struct {
	Color bool
}

const (
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
	ansiDim   = "\x1b[2m"
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	ansiYell  = "\x1b[33m"
)

func (s Style) paint(code, text string) string {
	if !s.Color {
		return text
	}
	return code + text + ansiReset
}

// Render writes one scenario's story for a human: what happened to the
// discovery sources, the routes in the order tried, each attempt with its
// result and latency, the winner or the failure, and whether that is what
// the scenario expects.
func Render(w io.Writer, r Result, s Style) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", s.paint(ansiBold, "▶ "+r.Name), s.paint(ansiDim, "["+r.Rules+"]"))
	fmt.Fprintf(&b, "  %s\n", r.Story)
	b.WriteString("  discovery:\n")
	for _, src := range r.Sources {
		line := fmt.Sprintf("    %-10s %-7s", src.Source, src.Status)
		switch {
		case src.Stale:
			line += " " + s.paint(ansiYell, "STALE cached copy (refetch failed)")
		case src.Cached:
			line += " cached"
		case src.Status == "found":
			line += " fresh"
		}
		if src.Routes > 0 {
			line += fmt.Sprintf(", %d route(s)", src.Routes)
		}
		if src.Query != "" {
			line += "  " + s.paint(ansiDim, src.Query)
		}
		b.WriteString(line + "\n")
		if src.Error != "" && !src.Stale {
			fmt.Fprintf(&b, "               %s\n", s.paint(ansiRed, src.Error))
		} else if src.Note != "" && src.Status == "skipped" {
			fmt.Fprintf(&b, "               %s\n", s.paint(ansiDim, src.Note))
		}
	}
	if len(r.Routes) > 0 {
		b.WriteString("  routes, in order:\n")
		for i, rt := range r.Routes {
			fmt.Fprintf(&b, "    %d. %s\n", i+1, rt)
		}
	}
	if len(r.Attempts) > 0 {
		b.WriteString("  attempts:\n")
		for _, a := range r.Attempts {
			mark, outcome := s.paint(ansiRed, "✗"), a.Error
			if a.OK {
				mark, outcome = s.paint(ansiGreen, "✓"), "verified stream ("+string(a.Verified)+")"
			}
			fmt.Fprintf(&b, "    %s +%6.1fms %7.1fms  %-6s %s\n      %s\n", mark, a.StartMS, a.TookMS, a.Phase, a.Route, outcome)
		}
	}
	if p := r.Proxy; p != nil {
		renderProxy(&b, r, s)
	}
	if r.Winner != nil {
		fmt.Fprintf(&b, "  %s %s in %.1f ms\n", s.paint(ansiGreen, "connected:"), r.Winner, r.ConnectMS)
		if rc := r.Reconnect; rc != nil {
			b.WriteString("  second connection, same client:\n")
			for _, a := range rc.Attempts {
				mark, outcome := s.paint(ansiRed, "✗"), a.Error
				if a.OK {
					mark, outcome = s.paint(ansiGreen, "✓"), "verified stream ("+string(a.Verified)+")"
				}
				if a.Note != "" {
					outcome += ", " + a.Note
				}
				fmt.Fprintf(&b, "    %s +%6.1fms %7.1fms  %-6s %s\n      %s\n", mark, a.StartMS, a.TookMS, a.Phase, a.Route, outcome)
			}
			if rc.Winner != nil {
				fmt.Fprintf(&b, "  %s %s in %.1f ms (first: %.1f ms)\n", s.paint(ansiGreen, "reconnected:"), rc.Winner, rc.ConnectMS, r.ConnectMS)
			}
		}
	} else {
		fmt.Fprintf(&b, "  %s %s after %.1f ms\n", s.paint(ansiRed, "no connection:"), r.Fail, r.ConnectMS)
	}
	if r.AsExpected {
		fmt.Fprintf(&b, "  %s\n\n", s.paint(ansiGreen, "as expected"))
	} else {
		fmt.Fprintf(&b, "  %s %s\n\n", s.paint(ansiRed, "UNEXPECTED:"), r.Mismatch)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// renderProxy writes what the SOCKS proxy saw (T1): its CONNECT log,
// names resolved by the proxy and IPs as given, and what the client did
// not do around it.
func renderProxy(b *strings.Builder, r Result, s Style) {
	p := r.Proxy
	via := ""
	if p.Via != "" {
		via = " via " + p.Via
	}
	fmt.Fprintf(b, "  proxy %s (in-process, standing in for Tor)%s saw:\n", p.URL, via)
	if len(p.Connects) == 0 {
		fmt.Fprintf(b, "    %s\n", s.paint(ansiDim, "no CONNECT"))
	}
	for _, c := range p.Connects {
		note := ""
		if c.ByName {
			note = "by name: the proxy resolves it"
		}
		if c.Reply != 0 {
			note = strings.TrimPrefix(note+fmt.Sprintf(", refused (reply %d)", c.Reply), ", ")
			note = s.paint(ansiRed, note)
		} else {
			note = s.paint(ansiDim, note)
		}
		line := fmt.Sprintf("    CONNECT %-24s %s", c.Target, note)
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	fmt.Fprintf(b, "  DNS queries made by hacx: %d; direct connections tried: %d\n", r.DNSQueries, p.DirectDials)
	dane := p.DANE
	if dane == "" {
		dane = "not reported"
	}
	fmt.Fprintf(b, "  DANE: %s\n", dane)
}

// List writes the scenario table: name, rules and story, one per line,
// the tour ones marked.
func List(w io.Writer) error {
	tour := map[string]bool{}
	for _, n := range Tour {
		tour[n] = true
	}
	var b strings.Builder
	for _, sc := range Scenarios {
		mark := " "
		if tour[sc.Name] {
			mark = "*"
		}
		fmt.Fprintf(&b, "%s %-24s %-10s %s\n", mark, sc.Name, sc.Rules, sc.Story)
	}
	b.WriteString("(* = played by default)\n")
	_, err := io.WriteString(w, b.String())
	return err
}

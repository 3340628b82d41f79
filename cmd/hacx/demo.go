package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"hacx.dev/hacx/demo"
	"hacx.dev/hacx/hacxtest"
)

func init() {
	register(&command{
		name:  "demo",
		args:  "[--scenario NAME[,NAME...]|all] [--list] [--json] [--prosody]",
		short: "show what hacx is for: play connection scenarios on a loopback test bed",
		long: `Demo builds a small world on loopback only (no network needed): a CA, a
DNS server, an HTTPS publisher serving the HACX document, good XMPP
endpoints (direct TLS, WebSocket, BOSH) and hostile ones (blackholes, a
refused port, a web server, a mail server, a wrong-domain stream, a rogue CA).
It then plays scenarios: what the network or an attacker does, and how hacx
gets through. For each it prints the document fetched (fresh or stale), the
routes in order, every attempt with its result and latency, the winner and
the time to connect.

By default a short tour of five scenarios is played; --scenario all plays
every one, --list lists them. With --prosody the good endpoints are a real
Prosody server (Debian's prosody package must be installed).

Exit status: 0 when every scenario ended exactly as expected, 1 otherwise,
2 for bad usage.

--json prints one object:
  {"ok": bool,            every scenario as expected
   "prosody": bool,       good endpoints were a real Prosody
   "total_ms": number,    wall time, bed start-up included
   "scenarios": [{
     "name", "story", "rules": string,
     "sources": [{"source", "query", "status", "routes", "cached", "stale",
                  "note", "error"}],
     "stale": bool,       the HACX document was a stale cached copy (H5)
     "routes": [string],  in the order tried
     "attempts": [{"route", "phase" (tcp|tls|verify|stream|done),
                   "start_ms", "took_ms", "ok", "verified", "error"}],
     "winner": {"source", "index", "method", "verified"} (absent on failure),
     "fail": string (redirect-not-https|redirect-loop|all-routes-failed|
                     discovery-failed|nothing-published), "error": string,
     "connect_ms": number,
     "expected": {"winner", "fail", "phases", "stale"},
     "as_expected": bool, "mismatch": string}]}`,
		run: runDemo,
	})
}

// demoReport is the --json document.
type demoReport struct {
	OK        bool          `json:"ok"`
	Prosody   bool          `json:"prosody"`
	TotalMS   float64       `json:"total_ms"`
	Scenarios []demo.Result `json:"scenarios"`
}

func runDemo(ctx context.Context, sio *stdio, args []string) error {
	c := commands["demo"]
	fs := newFlags(c, sio)
	scenario := fs.String("scenario", "", "scenarios to play, comma-separated, or \"all\"; default: a short tour")
	list := fs.Bool("list", false, "list the scenarios and exit")
	asJSON := fs.Bool("json", false, "print the results as JSON (schema in the help)")
	prosody := fs.Bool("prosody", false, "use a real Prosody for the good endpoints")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if *list {
		return demo.List(sio.out)
	}
	var names []string
	if *scenario != "" {
		names = strings.Split(*scenario, ",")
	}
	scenarios, err := demo.Select(names...)
	if err != nil {
		return usagef("%v", err)
	}
	if *prosody {
		if err := hacxtest.ProsodyAvailable(); err != nil {
			return &exitError{code: exitFail, msg: err.Error()}
		}
	}

	start := time.Now()
	tty := isTerminal(sio.out) && !*asJSON
	style := demo.Style{Color: tty}
	progress := func(format string, a ...any) {
		if tty {
			fmt.Fprintf(sio.out, "\r\x1b[K"+format, a...)
		}
	}
	progress("starting the test bed…")
	bed, err := hacxtest.NewBed(ctx, hacxtest.BedConfig{Prosody: *prosody})
	if err != nil {
		progress("")
		return fmt.Errorf("test bed: %w", err)
	}
	defer bed.Close()
	progress("")
	if !*asJSON {
		good := "in-process endpoints"
		if *prosody {
			good = "a real Prosody"
		}
		fmt.Fprintf(sio.out, "hacx demo: domain %s, publisher %s, DNS %s, good endpoints: %s (ready in %.0f ms)\n\n",
			bed.Domain, bed.Publisher, bed.DNS.Addr, good, float64(time.Since(start).Microseconds())/1000)
	}

	runner := &demo.Runner{Bed: bed}
	rep := demoReport{OK: true, Prosody: *prosody}
	for i, sc := range scenarios {
		progress("[%d/%d] %s…", i+1, len(scenarios), sc.Name)
		r := runner.Run(ctx, sc)
		progress("")
		rep.Scenarios = append(rep.Scenarios, r)
		rep.OK = rep.OK && r.AsExpected
		if !*asJSON {
			if err := demo.Render(sio.out, r, style); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			rep.OK = false
			break
		}
	}
	rep.TotalMS = float64(time.Since(start).Microseconds()) / 1000

	if *asJSON {
		enc := json.NewEncoder(sio.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(sio.out, "%s\n", demoSummary(rep))
	}
	if !rep.OK {
		return exitWith(exitFail)
	}
	return nil
}

func demoSummary(rep demoReport) string {
	good := 0
	var bad []string
	for _, r := range rep.Scenarios {
		if r.AsExpected {
			good++
		} else {
			bad = append(bad, r.Name)
		}
	}
	s := fmt.Sprintf("%d/%d scenarios as expected, total %.0f ms", good, len(rep.Scenarios), rep.TotalMS)
	if len(bad) > 0 {
		s += "; unexpected: " + strings.Join(bad, ", ")
	}
	return s
}

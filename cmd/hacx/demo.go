//go:build unix

// hacx demo's test bed starts and stops real servers as Unix process
// groups, as another user: the command is left out of the Windows build,
// which would not compile it.

package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"hacx.dev/hacx/internal/demo"
	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/socks"
)

func init() {
	register(&command{
		name:  "demo",
		args:  "[--scenario NAME[,NAME...]|all] [--list] [--json] [--prosody] [--socks URL]",
		short: "show what hacx is for: play connection scenarios on a loopback test bed",
		long: `Demo builds a small world on loopback only (no network needed): a CA, a
DNS server, an HTTPS publisher serving the HACX document, good XMPP
endpoints (direct TLS, WebSocket, BOSH) and hostile ones (blackholes, a
refused port, a web server, a mail server, a wrong-domain stream, a rogue CA).
It then plays scenarios: what the network or an attacker does, and how hacx
gets through. For each it prints the document fetched (fresh or stale), the
routes in order, every attempt with its result and latency, the winner and
the time to connect.

By default a short tour of six scenarios is played; --scenario all plays
every one, --list lists them (with --json: [{"name", "rules", "story",
"default": bool, played without --scenario}]). With --prosody the good endpoints are a real
Prosody server (Debian's prosody package must be installed).

The tor-only scenario (T1) gives the client nothing but a socks5h proxy,
an in-process one standing in for Tor that resolves example.test itself:
the DNS server refuses the domain and every direct connection is refused.
It shows the proxy's CONNECT log (the HACX fetch by name, then each route
by ip:port), the DNS queries hacx made (none) and DANE unavailable over
SOCKS. --socks URL (socks5h:// or socks5://, as for lookup and check)
plays it through your own proxy: every connection to the in-process proxy
then goes through yours as a CONNECT to 127.0.0.1, a check that your proxy
reaches loopback (Tor refuses to). Without --scenario, --socks plays only
the proxy scenarios. "--socks none", like no --socks, means no external
proxy; ALL_PROXY is ignored, so that the loopback world and its verdict do
not depend on the environment.

Exit status: 0 when every scenario ended exactly as expected, 1 otherwise,
2 for bad usage.

--json prints one object:
  {"ok": bool,            every scenario as expected
   "prosody": bool,       good endpoints were a real Prosody
   "socks": string,       the --socks proxy, without credentials (absent
                          without one)
   "total_ms": number,    wall time, bed start-up included
   "scenarios": [{
     "name", "story", "rules": string,
     "sources": [SOURCE, ...], every source consulted or skipped
     "stale": bool,       the HACX document was a stale cached copy (H5)
     "routes": [string],  in the order tried
     "attempts": [{"route", "phase" (tcp|tls|verify|stream|done),
                   "start_ms", "took_ms", "ok", "verified", "error",
                   "lost_race" (true: cancelled because another route won)}],
     "winner": {"source", "index", "method", "verified"} (absent on failure),
     "fail": string (redirect-not-https|redirect-loop|all-routes-failed|
                     discovery-failed|nothing-published), "error": string,
     "connect_ms": number,
     "dns_queries": number, queries the world's DNS server got from hacx
                          while it connected
     "proxy": {           proxy scenarios only (T1):
       "url": string,     the proxy hacx was given (socks5h://127.0.0.1:N)
       "via": string,     the --socks proxy that carried every connection
                          to it (absent without --socks)
       "connects": [{"target": "host:port", "by_name": bool, "reply": int}],
                          every CONNECT the proxy received, in order; reply
                          is the SOCKS5 reply code, 0 succeeded
       "direct_dials": number, connections tried around the proxy
       "dane": string},   DANE of the HACX fetch ("unavailable over SOCKS")
     "expected": {"winner", "fail", "phases", "stale", "proxied"},
     "as_expected": bool, "mismatch": string}]}

` + jsonSourceHelp,
		run: runDemo,
	})
}

// demoReport is the --json document.
type demoReport struct {
	OK        bool          `json:"ok"`
	Prosody   bool          `json:"prosody"`
	SOCKS     string        `json:"socks,omitempty"`
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
	socksURL := fs.String("socks", "", "play the proxy scenarios through this SOCKS5 proxy `URL` (socks5h://host:port), which must reach loopback; \"none\": no external proxy")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if *list {
		if *asJSON {
			return writeJSON(sio.out, demoList())
		}
		return demo.List(sio.out)
	}
	var names []string
	if *scenario != "" {
		names = strings.Split(*scenario, ",")
	}
	via, err := demoProxy(*socksURL)
	if err != nil {
		return usagef("%v", err)
	}
	scenarios, err := demo.Select(names...)
	if err != nil {
		return usagef("%v", err)
	}
	if via != nil {
		scenarios, err = proxyScenarios(scenarios, *scenario == "")
		if err != nil {
			return usagef("%v", err)
		}
	}
	if *prosody {
		if err := testbed.ProsodyAvailable(); err != nil {
			return err
		}
	}

	start := time.Now()
	style := demo.Style{Color: isTerminal(sio.out) && !*asJSON}
	// Progress is a diagnostic: on stderr, and only on a terminal, as in check.
	showProgress := isTerminal(sio.err)
	progress := func(format string, a ...any) {
		if showProgress {
			fmt.Fprintf(sio.err, clearLine+format, a...)
		}
	}
	progress("starting the test bed…")
	bed, err := testbed.NewBed(ctx, testbed.BedConfig{Prosody: *prosody})
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
		viaText := ""
		if via != nil {
			viaText = ", SOCKS via " + via.String()
		}
		fmt.Fprintf(sio.out, "hacx demo: domain %s, publisher %s, DNS %s, good endpoints: %s%s (ready in %.0f ms)\n\n",
			bed.Domain, bed.Publisher, bed.DNS.Addr, good, viaText, ms(time.Since(start)))
	}

	runner := &demo.Runner{Bed: bed, Via: via}
	rep := demoReport{OK: true, Prosody: *prosody, SOCKS: proxyName(via)}
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
	rep.TotalMS = ms(time.Since(start))

	if *asJSON {
		if err := writeJSON(sio.out, rep); err != nil {
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

// demoListEntry is one scenario in "hacx demo --list --json".
type demoListEntry struct {
	Name    string `json:"name"`
	Rules   string `json:"rules"`
	Story   string `json:"story"`
	Default bool   `json:"default"`
}

func demoList() []demoListEntry {
	out := make([]demoListEntry, 0, len(demo.Scenarios))
	for _, sc := range demo.Scenarios {
		out = append(out, demoListEntry{Name: sc.Name, Rules: sc.Rules, Story: sc.Story, Default: slices.Contains(demo.Tour, sc.Name)})
	}
	return out
}

// demoProxy is the external proxy --socks names, nil for none. It parses
// the URL as every other command does, but an empty flag does not read
// ALL_PROXY: the demo's world is loopback only, and its verdict must not
// change with the environment.
func demoProxy(raw string) (*socks.Proxy, error) {
	if raw == "" {
		return nil, nil
	}
	return (&netFlags{socks: raw}).proxy()
}

// proxyScenarios is what --socks plays: the proxy scenarios when none was
// named, else the selection as it is (the external proxy carries only the
// proxy scenarios' connections), which must then hold one.
func proxyScenarios(scs []demo.Scenario, byDefault bool) ([]demo.Scenario, error) {
	var names []string
	for _, sc := range demo.Scenarios {
		if sc.Expect.Proxied {
			names = append(names, sc.Name)
		}
	}
	if byDefault {
		return demo.Select(names...)
	}
	for _, sc := range scs {
		if sc.Expect.Proxied {
			return scs, nil
		}
	}
	return nil, fmt.Errorf("--socks applies only to the proxy scenarios (%s), and none is selected", strings.Join(names, ", "))
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

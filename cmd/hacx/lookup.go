package main

import (
	"context"
	"fmt"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/discover"
	"hacx.dev/hacx/socks"
)

func init() {
	register(&command{
		name:  "lookup",
		args:  "[--server] [--json] [--fallback=auto|always|never] [net flags] DOMAIN",
		short: "discover the routes into an XMPP service",
		long: `Lookup fetches DOMAIN's HACX document (https://DOMAIN/.well-known/xmpp-client.xml,
or xmpp-server.xml with --server) over verified HTTPS, falls back to host-meta
and SRV records as --fallback says, and prints every route in the order a
client tries them (RFC 2782), each with the source it came from. It then lists
every source consulted: fresh or stale cache, redirects followed, and the
HSTS, HPKP and DANE status of the bootstrap connection.

--fallback: auto (default) consults host-meta and SRV only when the HACX
document gives no route (404, or a failed fetch with nothing cached); always
merges them in; never uses the HACX document alone.

DNS (SRV, TLSA, the addresses of web hosts) goes to --resolver: plain DNS,
DNS over TLS or DNS over HTTPS, through the --socks proxy when there is one
(T1). With --dnssec validate (the default) hacx checks every answer's
DNSSEC signatures itself, from the IANA root keys or --trust-anchor (D1):
a bogus TLSA answer refuses the connection, a bogus SRV answer is ignored,
an insecure one leaves the certificate to WebPKI. Each source says how its
answers were validated ("DNSSEC" in the text report, "dnssec" in JSON).
Answers are cached within their TTLs with the documents, so a lookup
answered from the cache makes no DNS query.

Exit status: 0 routes found (a stale cached document counts, with a warning
on stderr), 3 nothing published, 1 error (no route and a source failed), 2
bad usage or an invalid DOMAIN.

--json writes one object to stdout:

    {"domain": "example.org", "kind": "client",
     "stale": false, "stale_since": "RFC 3339 time, only when stale",
     "routes": [ROUTE, ...],
     "sources": [SOURCE, ...],
     "proxy": "socks5h://127.0.0.1:9050 (no credentials), absent without --socks/ALL_PROXY",
     "error": "absent unless the lookup failed"}

Absent means the member is left out; routes (in the order a client tries
them) and sources are always arrays.

` + jsonRouteSourceHelp,
		run: runLookup,
	})
}

func runLookup(ctx context.Context, sio *stdio, args []string) error {
	c := commands["lookup"]
	fs := newFlags(c, sio)
	var nf netFlags
	nf.register(fs)
	server := fs.Bool("server", false, "look up server-to-server (xmpp-server.xml, _xmpps-server) instead of client")
	asJSON := fs.Bool("json", false, "write the result as JSON (schema in the help)")
	fallback := fs.String("fallback", "auto", "when to use host-meta and SRV: `auto`, always or never")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one DOMAIN, got %d arguments", len(pos))
	}
	if err := domainArg(pos[0]); err != nil {
		return err
	}
	r, _, err := nf.client(sio, c)
	if err != nil {
		return usagef("%v", err)
	}
	switch *fallback {
	case "auto":
		r.Fallback = discover.FallbackAuto
	case "always":
		r.Fallback = discover.FallbackAlways
	case "never":
		r.Fallback = discover.FallbackNever
	default:
		return usagef("--fallback must be auto, always or never, not %q", *fallback)
	}
	kind := hacx.Client
	if *server {
		kind = hacx.Server
	}
	ctx, cancel := nf.withTimeout(ctx)
	defer cancel()
	res, lerr := r.Lookup(ctx, pos[0], kind)
	if res == nil {
		return usagef("%v", lerr) // only an invalid domain gives no result
	}
	if *asJSON {
		out := lookupJSON(res, lerr)
		out.Proxy = proxyName(r.Proxy)
		if err := writeJSON(sio.out, out); err != nil {
			return err
		}
	} else {
		printLookup(sio, res, time.Now())
		if r.Proxy != nil {
			fmt.Fprintf(sio.out, "proxy: %s\n", proxyName(r.Proxy))
		}
	}
	if res.Stale {
		// H5: stale use is reported, never silent; on stderr too, so a
		// script reading --json on stdout still gets the warning.
		diagf(sio, c, "warning: %s", staleText(res, time.Now()))
	}
	switch {
	case res.Published():
		return nil
	case lerr != nil || len(res.Failed()) > 0:
		return &exitError{code: exitFail, msg: failureText(res)}
	case len(res.Routes) > 0:
		// F1: the routes listed are the domain itself, which a client
		// tries; nobody published them.
		return &exitError{code: exitNothing, msg: res.Domain + ": nothing published (no HACX document, host-meta or SRV records); a client would try the domain itself on the ports listed (F1)"}
	default:
		return &exitError{code: exitNothing, msg: res.Domain + ": nothing published (no HACX document, host-meta or SRV records)"}
	}
}

// staleText says which document is stale, since when, and why it was not
// refreshed.
func staleText(res *discover.Result, now time.Time) string {
	s := fmt.Sprintf("%s: using a stale HACX document, expired %s (%s ago)",
		res.Domain, res.StaleSince.Format(time.RFC3339), now.Sub(res.StaleSince).Round(time.Second))
	for _, src := range res.Sources {
		if src.Stale && src.Err != nil {
			s += "; refetch failed: " + src.Err.Error()
		}
	}
	return s
}

// failureText is the one-line summary of a lookup that found no route
// because sources failed; stdout already lists each source.
func failureText(res *discover.Result) string {
	failed := res.Failed()
	if len(failed) == 0 {
		return res.Domain + ": no route found"
	}
	msg := fmt.Sprintf("%s: no route found, %d source(s) failed; %s: %v", res.Domain, len(failed), failed[0].Source, failed[0].Err)
	if len(failed) > 1 {
		msg += " (and more, see the sources listed)"
	}
	return msg
}

func printLookup(sio *stdio, res *discover.Result, now time.Time) {
	fmt.Fprintf(sio.out, "%s (%s): %d route(s)\n", res.Domain, res.Kind, len(res.Routes))
	for i, rt := range res.Routes {
		fmt.Fprintf(sio.out, "  %2d. %-9s %-22s prio=%d weight=%d sni=%s", i+1, rt.Method, rt.Dest(), rt.Priority, rt.Weight, sniText(rt))
		if rt.ALPN != nil {
			fmt.Fprintf(sio.out, " alpn=%s", rt.ALPN)
		}
		if rt.URL != "" {
			fmt.Fprintf(sio.out, " url=%s", rt.URL)
		}
		if len(rt.Pins) > 0 {
			fmt.Fprintf(sio.out, " pins=%d", len(rt.Pins))
		}
		if rt.ECH != nil {
			fmt.Fprint(sio.out, " ech") // E4
		}
		fmt.Fprintf(sio.out, "  [%s", rt.Source)
		if rt.Index > 0 {
			fmt.Fprintf(sio.out, " #%d", rt.Index)
		}
		if rt.Host != "" && rt.Host != res.Domain {
			fmt.Fprintf(sio.out, " via %s", rt.Host)
		}
		fmt.Fprintln(sio.out, "]")
	}
	if res.Stale {
		fmt.Fprintf(sio.out, "WARNING: using a stale HACX document, expired %s (%s ago); the refetch failed\n",
			res.StaleSince.Format(time.RFC3339), now.Sub(res.StaleSince).Round(time.Second))
	}
	reports := make([]discover.SourceReport, 0, len(res.Sources))
	for _, s := range res.Sources {
		reports = append(reports, s.Report())
	}
	printSources(sio.out, reports)
}

func sniText(rt hacx.Route) string {
	if !rt.HasSNI {
		return "(none)"
	}
	return rt.SNI
}

// lookupJSONOut is the --json document; routes and sources have the
// form every report shares (hacx.RouteReport, discover.SourceReport).
type lookupJSONOut struct {
	Domain     string                  `json:"domain"`
	Kind       string                  `json:"kind"`
	Stale      bool                    `json:"stale"`
	StaleSince *time.Time              `json:"stale_since,omitempty"`
	Routes     []hacx.RouteReport      `json:"routes"`
	Sources    []discover.SourceReport `json:"sources"`
	Proxy      string                  `json:"proxy,omitempty"`
	Error      string                  `json:"error,omitempty"`
}

func lookupJSON(res *discover.Result, lerr error) lookupJSONOut {
	out := lookupJSONOut{Domain: res.Domain, Kind: res.Kind.String(), Stale: res.Stale,
		Routes: []hacx.RouteReport{}, Sources: []discover.SourceReport{}}
	if res.Stale {
		t := res.StaleSince
		out.StaleSince = &t
	}
	if lerr != nil {
		out.Error = lerr.Error()
	}
	for _, rt := range res.Routes {
		out.Routes = append(out.Routes, rt.Report())
	}
	for _, s := range res.Sources {
		out.Sources = append(out.Sources, s.Report())
	}
	return out
}

// proxyName names a proxy for reports, never with its credentials; its
// scheme says who resolves names (socks5h: the proxy, T1). "" for none.
func proxyName(p *socks.Proxy) string {
	if p == nil {
		return ""
	}
	return p.String()
}

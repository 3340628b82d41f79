package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/discover"
	"hacx.dev/hacx/internal/audit"
	"hacx.dev/hacx/xmppstream"
)

func init() {
	register(&command{
		name:  "check",
		args:  "[--server] [--json] [--all] [--audit [--strict]] [--html FILE] [network flags] DOMAIN",
		short: "discover a domain's routes and prove which ones reach its XMPP service",
		long: `Check discovers DOMAIN's routes, tries them the way a client does, and
reports: where the routes came from, the routes in the order they are
tried, every attempt with the phase it reached (tcp, starttls, tls, verify,
stream, done), its result and latency, and the winner.

Sources, in the order consulted: the HACX document (H1); when it gives no
route, host-meta.json (Host Meta 2, X3, or XEP-0156, X2), the XRD
host-meta (X2), and the SRV records _xmpps-client._tcp (direct TLS) and
_xmpp-client._tcp (STARTTLS), or _xmpps-server/_xmpp-server with --server
(X1; skipped when Host Meta 2 is present, and with --resolver none; through
a --socks proxy they are asked through it, T1). When none of them publishes anything,
the domain itself is tried, as RFC 6120 clients always have (F1): its
addresses on 5222 with STARTTLS and 5223 with direct TLS (5269 with
--server), by name through a SOCKS proxy; an SRV target "." turns that off
for its service. STARTTLS is TLS or nothing (S1): a server that does not
offer it, refuses it or injects bytes before TLS fails the route. A route works when TLS used the route's exact SNI and ALPN
(A5, A6), the certificate was accepted by the route's pins (A9), DANE or
WebPKI (A10), and the server's stream came from DOMAIN (C4).

Attempts overlap as a client's do (C5): the next route starts after 250 ms
(1 s through a SOCKS proxy) or as soon as the previous one failed. Without --all the check stops at the
first working route, and routes not started by then are reported as not
tried. --all tries every route, to report which ones work.

--server checks the server-to-server service (xmpp-server.xml,
jabber:server) instead of client-to-server.

--audit adds, after the check, what a careful operator would change, each
finding with the rule it concerns and a fix. The audit looks every source
up afresh, even when the HACX document has routes (and SRV even when Host
Meta 2 says to skip it), tries every route they give that the check did
not, fetches the document as a web client of another site would, and asks
the WebSocket and BOSH routes the same way. It reports: sources that
disagree (a route in one but not another, another port, another priority
order; P6), a certificate that expires within 14 days (P7) or does not
name the domain or the SNI its route sends (A10), pins that match no key
served (A9) or include no backup pin (P2), no Strict-Transport-Security on
the HTTPS host (X5), no CORS header on the document (P3), no IPv6 (or no
IPv4) route (A1), a ttl outside 5 minutes to a week (H5), ALPN offered but
not negotiated (A6), a WebSocket or BOSH endpoint that web clients of other
sites cannot use (P8). Findings do not change the exit status unless
--strict is given (it implies --audit): then any finding exits 1.

--html FILE also writes the report as one self-contained HTML file (no
external resources: it works offline and as an e-mail attachment): the
sources, the routes, the audit findings, and a timeline of every attempt
against time, coloured by phase and outcome. The file is replaced
atomically; "-" is not accepted.

Exit status: 0 a route works (with --all: every route works), 4 some
routes work and some do not (--all only), 1 no route works or discovery
failed (or, with --strict, the audit found anything), 3 DOMAIN publishes
nothing and has no address to fall back to, 2 bad usage or an invalid
DOMAIN.

--json writes one object to stdout:

    {"domain": "example.org", "kind": "client",
     "result": "ok",
     "sources": [SOURCE, ...],
     "routes": [ROUTE, ...], "route_notes": ["", ...],
     "attempts": [{"route": 1, "phase": "done", "ok": true, "reachable": true,
                   "verified": "webpki", "pin": "none", "dane": "none",
                   "sni_sent": "xmpp.example.org", "alpn_sent": "xmpp-client",
                   "tls": {"version": "TLS 1.3", "cipher": "TLS_AES_128_GCM_SHA256",
                           "alpn": "xmpp-client",
                           "cert": {"subject": "CN=example.org", "names": ["example.org"],
                                    "issuer": "CN=R10,O=Let's Encrypt,C=US",
                                    "not_after": "2026-03-01T12:00:00Z", "expires_in_days": 61}},
                   "stream_from": "example.org", "plain_features": null,
                   "ech": "none", "ech_outer": "", "ech_retried": false,
                   "start_ms": 0.0, "connect_ms": 1.2, "tls_ms": 9.8, "duration_ms": 12.5,
                   "error": ""}],
     "winner": 1,
     "proxy": "",
     "audit": null}

"result" is one of "ok", "partial", "failed", "nothing-published",
"discovery-failed". "routes" are in the order tried: the sources' order,
except that route memory tries the route that last gave a verified stream
first and routes that recently timed out last; "route_notes" says, per
route, why it moved ("remembered: verified stream 2m0s ago", "moved last:
timed out in tls 40s ago") or "" (--no-cache turns memory off). "route" and
"winner" are 1-based positions in "routes"; "winner" is null when no route
works, and with --all it is the first working route. "attempts" lists the
routes started, in order; "error" is empty for a working route and
"verified" is "pin", "dane" or "webpki" once the certificate was accepted.
"proxy" is the SOCKS proxy every connection went through, as
"socks5h://127.0.0.1:9050" (never with credentials), or "" for none.
Per attempt: "reachable" says TCP connected; "sni_sent" and "alpn_sent" are
what the ClientHello carried, or would have when TCP did not connect
(null: no extension, A5, A6); "tls" is null
until the server's certificate was seen, and then describes it even when it
was refused ("alpn" is the negotiated protocol, "" for none; "cert" is the
leaf); "pin" is "match", "mismatch", "none" (the route has no pins) or ""
(not reached); "dane" is "match", "mismatch", "none", "insecure", "error"
or "" (not consulted: pinned route, DANE off, not reached); "stream_from"
is the server's stream from (C4), "" unless the route works. "connect_ms"
and "tls_ms" are the times from the attempt's start to TCP connected and to
TLS verified (null when not reached); "duration_ms" is the latency to a
verified stream, or to the failure. "plain_features" lists what a STARTTLS
route's server offered before TLS, e.g. ["starttls(required)"]
(untrusted, S1), and is null for other methods or when none were read.
"quic" is the QUIC version a quic route's handshake settled on ("v1", Q1),
"" for other methods; for a quic route "reachable" and "connect_ms" mean
the QUIC handshake, which has no connect of its own.
"ech" is Encrypted Client Hello (E4): "accepted", "rejected" (the route
failed: a route that publishes ech is never tried in clear), "none" (the
route publishes no ech) or "" (not reached); "ech_outer" is the public name
the outer ClientHello carried, the only name an observer saw, and
"ech_retried" says the server's retry configuration was used. An ech route
offers no ALPN ("alpn_sent" null), and its "sni_sent" went in the inner,
encrypted ClientHello (null there means the inner ClientHello named the
domain).

` + jsonAuditHelp + `

` + jsonRouteSourceHelp + `

On a terminal, a progress line on stderr shows the attempts as they run;
it is never written when stderr is a file or pipe.`,
		run: runCheck,
	})
}

func runCheck(ctx context.Context, sio *stdio, args []string) error {
	c := commands["check"]
	fs := newFlags(c, sio)
	var nf netFlags
	nf.register(fs)
	server := fs.Bool("server", false, "check the server-to-server service (xmpp-server.xml)")
	asJSON := fs.Bool("json", false, "write the report as JSON (schema in the help)")
	all := fs.Bool("all", false, "try every route, not only until one works")
	auditFlag := fs.Bool("audit", false, "after the check, report what a careful operator would change (findings with rule IDs and fixes)")
	strict := fs.Bool("strict", false, "exit 1 when the audit has any finding (implies --audit)")
	htmlFile := fs.String("html", "", "also write the report as a self-contained HTML `file` (replaced atomically)")
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
	kind := hacx.Client
	if *server {
		kind = hacx.Server
	}
	env, err := newCheckEnv(sio, c, &nf)
	if err != nil {
		return usagef("%v", err)
	}
	if isTerminal(sio.err) {
		env.progress = sio.err
	}
	if *htmlFile == "-" {
		return usagef("--html wants a file name; the report on stdout is the text or --json one")
	}
	if *htmlFile != "" {
		if err := checkHTMLPath(*htmlFile); err != nil {
			return usagef("--html: %v", err)
		}
	}
	env.htmlFile, env.strict = *htmlFile, *strict
	if *auditFlag || *strict {
		if env.auditor, err = nf.auditor(sio, c); err != nil {
			return usagef("%v", err)
		}
	}
	ctx, cancel := nf.withTimeout(ctx)
	defer cancel()
	return check(ctx, sio, env, pos[0], kind, *all, *asJSON)
}

// checkEnv is what check needs from the network flags: a discovery
// function and a dialer. Tests build one pointing at loopback servers.
type checkEnv struct {
	lookup func(ctx context.Context, domain string, kind hacx.Kind) (*discover.Result, error)
	dialer *dial.Dialer // its Proxy is the one the report names
	// progress, when not nil, gets a live progress line (a terminal).
	progress io.Writer
	// auditor, when not nil, audits the domain after the check (--audit);
	// strict makes any finding exit 1 (--strict).
	auditor *audit.Auditor
	strict  bool
	// htmlFile, when set, receives the HTML report (--html).
	htmlFile string
}

// newCheckEnv wires the shared network flags to a discover.Resolver and a
// dial.Dialer that agree on roots, DNS server and proxy.
func newCheckEnv(sio *stdio, c *command, nf *netFlags) (*checkEnv, error) {
	r, d, err := nf.client(sio, c)
	if err != nil {
		return nil, err
	}
	return &checkEnv{lookup: r.Lookup, dialer: d}, nil
}

// The --json report; the schema is documented in the command's help.
type checkReport struct {
	Domain  string                  `json:"domain"`
	Kind    string                  `json:"kind"`
	Result  string                  `json:"result"`
	Sources []discover.SourceReport `json:"sources"`
	Routes  []hacx.RouteReport      `json:"routes"`
	// RouteNotes say, per route, why route memory moved it ("" for none).
	RouteNotes []string       `json:"route_notes"`
	Attempts   []checkAttempt `json:"attempts"`
	Winner     *int           `json:"winner"`
	Proxy      string         `json:"proxy"`
	// Audit holds the findings of --audit; null without it.
	Audit *audit.Report `json:"audit"`
}

type checkAttempt struct {
	Route      int               `json:"route"`
	Phase      string            `json:"phase"`
	OK         bool              `json:"ok"`
	Reachable  bool              `json:"reachable"`
	Verified   dial.Verification `json:"verified"`
	Pin        string            `json:"pin"`
	DANE       dial.DANEResult   `json:"dane"`
	SNISent    *string           `json:"sni_sent"`
	ALPNSent   *string           `json:"alpn_sent"`
	TLS        *checkTLS         `json:"tls"`
	StreamFrom string            `json:"stream_from"`
	// PlainFeatures is what a STARTTLS server offered before TLS (S1).
	PlainFeatures []string `json:"plain_features"`
	StartMS       float64  `json:"start_ms"`
	ConnectMS     *float64 `json:"connect_ms"`
	TLSMS         *float64 `json:"tls_ms"`
	DurationMS    float64  `json:"duration_ms"`
	Error         string   `json:"error"`
	// ECH is what became of Encrypted Client Hello (E4); ECHOuter is the
	// public name the outer ClientHello carried.
	ECH        dial.ECHResult `json:"ech"`
	ECHOuter   string         `json:"ech_outer"`
	ECHRetried bool           `json:"ech_retried"`
	// QUIC is the QUIC version a quic route's handshake settled on
	// ("v1", Q1); "" for other methods or when not reached.
	QUIC string `json:"quic"`

	quic bool // a quic route: the text report names its QUIC handshake, not tcp and tls
}

// checkTLS is what the TLS handshake showed of the server.
type checkTLS struct {
	Version string     `json:"version"`
	Cipher  string     `json:"cipher"`
	ALPN    string     `json:"alpn"`
	Cert    *checkCert `json:"cert"`
}

// checkCert describes the server's leaf certificate.
type checkCert struct {
	Subject       string    `json:"subject"`
	Names         []string  `json:"names"`
	Issuer        string    `json:"issuer"`
	NotAfter      time.Time `json:"not_after"`
	ExpiresInDays int       `json:"expires_in_days"`
}

// Results of a check, as "result" in --json says them.
const (
	resultOK        = "ok"
	resultPartial   = "partial"
	resultFailed    = "failed"
	resultNothing   = "nothing-published"
	resultDiscovery = "discovery-failed"
)

// check discovers, dials and reports; the returned error carries the exit
// code.
func check(ctx context.Context, sio *stdio, env *checkEnv, domain string, kind hacx.Kind, all, asJSON bool) error {
	rep := checkReport{Domain: domain, Kind: kind.String(), Sources: []discover.SourceReport{}, Routes: []hacx.RouteReport{}, RouteNotes: []string{}, Attempts: []checkAttempt{}, Proxy: proxyName(env.dialer.Proxy)}
	if env.progress != nil {
		fmt.Fprintf(env.progress, "%sdiscovering %s…", clearLine, domain)
	}
	res, lerr := env.lookup(ctx, domain, kind)
	if env.progress != nil {
		fmt.Fprint(env.progress, clearLine)
	}
	if res == nil && lerr != nil {
		return usagef("%v", lerr) // only an invalid domain gives no result, as in lookup
	}
	if res != nil {
		rep.Domain = res.Domain
		for _, s := range res.Sources {
			rep.Sources = append(rep.Sources, s.Report())
		}
		// The order tried: the sources' order as route memory changes it
		// (the last winner first, recent stalls last), with the reasons.
		for _, p := range env.dialer.Plan(ctx, res.Domain, kind, res.Routes) {
			rep.Routes = append(rep.Routes, p.Route.Report())
			rep.RouteNotes = append(rep.RouteNotes, p.Note)
		}
	}
	switch {
	case lerr != nil && (res == nil || len(res.Routes) == 0):
		rep.Result = resultDiscovery
		return finishAudited(ctx, sio, env, &rep, kind, nil, asJSON, &exitError{code: exitFail, msg: "discovery failed: no source gave a route (see sources)"})
	case len(rep.Routes) == 0:
		rep.Result = resultNothing
		return finishAudited(ctx, sio, env, &rep, kind, nil, asJSON, &exitError{code: exitNothing, msg: rep.Domain + " publishes no route (" + kind.String() + ")"})
	}

	d := env.dialer
	if env.progress != nil {
		dd := *env.dialer // a copy: the progress line is this check's
		dd.Logger = slog.New(newProgress(env.progress, len(rep.Routes)))
		d = &dd
		defer fmt.Fprint(env.progress, clearLine)
	}
	var attempts []dial.Attempt
	var derr error
	if all {
		attempts, derr = d.DialAll(ctx, rep.Domain, kind, res.Routes)
	} else {
		var c *dial.Conn
		c, derr = d.DialRoutes(ctx, rep.Domain, kind, res.Routes)
		if c != nil {
			attempts = c.Attempts
			c.Close()
		} else if de := (*dial.Error)(nil); errors.As(derr, &de) {
			attempts = de.Attempts
		}
	}
	working := 0
	now := time.Now()
	for i, a := range attempts {
		ca := reportAttempt(i+1, rep.Routes[i], a, kind, now)
		if a.OK() {
			working++
			if rep.Winner == nil {
				n := i + 1
				rep.Winner = &n
			}
		}
		rep.Attempts = append(rep.Attempts, ca)
	}
	var exit error
	switch {
	case working == 0:
		rep.Result = resultFailed
		msg := "no route works"
		// The attempts already say why each route failed; add only a
		// reason of the dial's own (cancelled, timed out, no routes).
		var de *dial.Error
		switch {
		case errors.As(derr, &de) && de.Err != nil:
			msg += ": " + de.Err.Error()
		case derr != nil && de == nil:
			msg += ": " + derr.Error()
		}
		exit = &exitError{code: exitFail, msg: msg}
	case all && working < len(rep.Routes):
		rep.Result = resultPartial
		exit = &exitError{code: exitPartial, msg: fmt.Sprintf("%d of %d routes work", working, len(rep.Routes))}
	default:
		rep.Result = resultOK
	}
	return finishAudited(ctx, sio, env, &rep, kind, attempts, asJSON, exit)
}

func finishCheck(sio *stdio, rep *checkReport, asJSON bool, exit error) error {
	if asJSON {
		if err := writeJSON(sio.out, rep); err != nil {
			return err
		}
	} else {
		printCheck(sio.out, rep)
		printAudit(sio.out, rep.Audit)
	}
	return exit
}

// reportAttempt is one attempt as --json shows it; r is its route, kind
// the kind of the stream asked for.
func reportAttempt(n int, r hacx.RouteReport, a dial.Attempt, kind hacx.Kind, now time.Time) checkAttempt {
	ca := checkAttempt{Route: n, Phase: a.Phase.String(), OK: a.OK(), Reachable: a.Connect > 0,
		Verified: a.Verified, DANE: a.DANE, SNISent: sent(r.SNI), ALPNSent: sent(r.ALPN),
		StartMS: ms(a.Start), DurationMS: ms(a.Duration)}
	if a.Err != nil {
		ca.Error = a.Err.Error()
	}
	if r.Method == hacx.MethodQUIC {
		ca.quic, ca.QUIC = true, a.QUICVersion
		if r.ALPN == "" {
			// Q1: QUIC needs an ALPN, so a quic route without one offers
			// the kind's (dial).
			alpn := "xmpp-client"
			if kind == hacx.Server {
				alpn = "xmpp-server"
			}
			ca.ALPNSent = &alpn
		}
	}
	if a.Connect > 0 {
		v := ms(a.Connect)
		ca.ConnectMS = &v
	}
	if a.Handshake > 0 {
		v := ms(a.Handshake)
		ca.TLSMS = &v
	}
	var ve *dial.VerifyError
	switch {
	case len(r.Pins) == 0:
		ca.Pin = "none"
	case a.Verified == dial.VerifiedPin:
		ca.Pin = "match"
	case errors.As(a.Err, &ve) && ve.How == dial.VerifiedPin:
		ca.Pin = "mismatch"
	}
	if a.Header != nil {
		ca.StreamFrom = a.Header.From
	}
	ca.ECH, ca.ECHOuter, ca.ECHRetried = a.ECH, a.ECHOuter, a.ECHRetried
	if r.ECH != "" {
		ca.ALPNSent = nil // never offered beside ECH (E4)
	}
	if a.PlainFeatures != nil {
		ca.PlainFeatures = xmppstream.FeatureNames(a.PlainFeatures)
		if ca.PlainFeatures == nil {
			ca.PlainFeatures = []string{}
		}
	}
	if cs := a.TLS; cs != nil {
		t := &checkTLS{Version: tls.VersionName(cs.Version), ALPN: cs.NegotiatedProtocol}
		if cs.CipherSuite != 0 {
			t.Cipher = tls.CipherSuiteName(cs.CipherSuite)
		}
		if len(cs.PeerCertificates) > 0 {
			leaf := cs.PeerCertificates[0]
			names := append([]string{}, leaf.DNSNames...)
			for _, ip := range leaf.IPAddresses {
				names = append(names, ip.String())
			}
			t.Cert = &checkCert{Subject: leaf.Subject.String(), Names: names, Issuer: leaf.Issuer.String(),
				NotAfter: leaf.NotAfter.UTC(), ExpiresInDays: int(leaf.NotAfter.Sub(now).Hours() / 24)}
		}
		ca.TLS = t
	}
	return ca
}

// sent is what a ClientHello carries for a route's SNI or ALPN: nil for
// no extension, which a RouteReport says with "" (A5, A6).
func sent(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// routeAddr is the route's ip:port as the text report shows it, or
// host:port for a route by name (F1 through a proxy).
func routeAddr(r hacx.RouteReport) string {
	host := r.IP
	if host == "" {
		host = r.Host
	}
	return net.JoinHostPort(host, strconv.Itoa(int(r.Port)))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func printCheck(w io.Writer, rep *checkReport) {
	fmt.Fprintf(w, "%s (%s)\n", rep.Domain, rep.Kind)
	if rep.Proxy != "" {
		fmt.Fprintf(w, "proxy: %s\n", rep.Proxy)
	}
	if len(rep.Sources) > 0 {
		fmt.Fprintln(w)
		printSources(w, rep.Sources)
	}
	if len(rep.Routes) > 0 {
		fmt.Fprintln(w, "\nroutes, in the order tried:")
	}
	for i, r := range rep.Routes {
		line := fmt.Sprintf("  %2d. %s record %d: %s %s prio=%d weight=%d", i+1, r.Source, r.Index, r.Method, routeAddr(r), r.Priority, r.Weight)
		if r.SNI != "" {
			line += " sni=" + r.SNI
		} else {
			line += " sni=(none)"
		}
		if r.ALPN != "" {
			line += " alpn=" + r.ALPN
		}
		if r.URL != "" {
			line += " url=" + r.URL
		}
		if len(r.Pins) > 0 {
			line += fmt.Sprintf(" pins=%d", len(r.Pins))
		}
		if r.ECH != "" {
			line += " ech" // E4
		}
		if i < len(rep.RouteNotes) && rep.RouteNotes[i] != "" {
			line += " [" + rep.RouteNotes[i] + "]"
		}
		fmt.Fprintln(w, line)
	}
	if len(rep.Attempts) > 0 {
		fmt.Fprintln(w, "\nattempts:")
	}
	for _, a := range rep.Attempts {
		status := "ok, verified by " + string(a.Verified)
		if !a.OK {
			status = "FAILED in " + a.Phase + ": " + a.Error
		}
		fmt.Fprintf(w, "  %2d. +%-9s %9s  %s\n", a.Route, fmtMS(a.StartMS), fmtMS(a.DurationMS), status)
		printAttemptDetails(w, a)
	}
	for n := len(rep.Attempts) + 1; n <= len(rep.Routes) && rep.Result != resultDiscovery; n++ {
		fmt.Fprintf(w, "  %2d. not tried (a route before it works)\n", n)
	}
	fmt.Fprintln(w)
	if rep.Winner != nil {
		r := rep.Routes[*rep.Winner-1]
		fmt.Fprintf(w, "winner: %d. %s record %d (%s %s)\n", *rep.Winner, r.Source, r.Index, r.Method, routeAddr(r))
	}
	fmt.Fprintln(w, "result:", strings.ReplaceAll(rep.Result, "-", " "))
}

func fmtMS(v float64) string { return fmt.Sprintf("%.1fms", v) }

// printAttemptDetails is the indented detail of one attempt in the text
// report: what was sent, what TLS and the certificate showed, how it was
// checked, and who answered.
func printAttemptDetails(w io.Writer, a checkAttempt) {
	const ind = "        "
	sent := "sent sni=" + orNone(a.SNISent) + " alpn=" + orNone(a.ALPNSent)
	if !a.Reachable {
		if a.quic {
			fmt.Fprintf(w, "%sno QUIC handshake (would have %s)\n", ind, sent)
			return
		}
		fmt.Fprintf(w, "%stcp not connected (would have %s)\n", ind, sent)
		return
	}
	line := "tcp " + fmtMS(*a.ConnectMS)
	if a.TLSMS != nil {
		line += ", tls " + fmtMS(*a.TLSMS)
	}
	if a.quic && a.TLSMS != nil {
		// Q1: QUIC has no connect of its own; its handshake is the TLS one.
		line = "quic " + a.QUIC + " handshake " + fmtMS(*a.TLSMS)
	}
	fmt.Fprintf(w, "%s%s; %s\n", ind, line, sent)
	if a.PlainFeatures != nil {
		offered := strings.Join(a.PlainFeatures, " ")
		if offered == "" {
			offered = "(nothing)"
		}
		fmt.Fprintf(w, "%sstarttls: the server offered %s before TLS\n", ind, offered)
	}
	if t := a.TLS; t != nil {
		alpn := t.ALPN
		if alpn == "" {
			alpn = "(none)"
		}
		fmt.Fprintf(w, "%s%s %s, alpn negotiated %s\n", ind, t.Version, t.Cipher, alpn)
		if c := t.Cert; c != nil {
			fmt.Fprintf(w, "%scertificate %s, issuer %s, expires %s (%s)\n", ind,
				strings.Join(c.Names, " "), c.Issuer, c.NotAfter.Format(time.DateOnly), expiresIn(c.ExpiresInDays))
		}
	}
	var checks []string
	if a.Pin != "" {
		checks = append(checks, "pin "+a.Pin)
	}
	if a.DANE != "" {
		checks = append(checks, "dane "+string(a.DANE))
	}
	if a.StreamFrom != "" {
		checks = append(checks, "stream from "+a.StreamFrom)
	}
	if e := echCheck(a); e != "" {
		checks = append(checks, e)
	}
	if len(checks) > 0 {
		fmt.Fprintf(w, "%s%s\n", ind, strings.Join(checks, ", "))
	}
}

// echCheck is what the reports say of an attempt's Encrypted Client Hello
// (E4): the outcome and the outer name, "" when the attempt did not get
// that far.
func echCheck(a checkAttempt) string {
	switch {
	case a.ECHOuter != "" && a.ECH != "":
		e := "ech " + string(a.ECH) + " (outer sni " + a.ECHOuter
		if a.ECHRetried {
			e += ", with the server's retry configuration"
		}
		return e + ")"
	case a.ECH == dial.ECHNone:
		return "ech none"
	}
	return ""
}

func orNone(s *string) string {
	if s == nil {
		return "(none)"
	}
	return *s
}

func expiresIn(days int) string {
	if days < 0 {
		return fmt.Sprintf("EXPIRED %d days ago", -days)
	}
	return fmt.Sprintf("in %d days", days)
}

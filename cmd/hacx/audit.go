package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/discover"
	"hacx.dev/hacx/internal/audit"
)

// auditor builds what "hacx check --audit" needs beside the check's own
// resolver and dialer, from the same network flags: a resolver that
// consults every source, fresh (no cache: the audit judges what is
// published now), one that reaches SRV even when Host Meta 2 hides it,
// and a dialer without route memory, so that the audit's attempts do not
// reorder the next check.
func (n *netFlags) auditor(sio *stdio, c *command) (*audit.Auditor, error) {
	// The flags' warnings were given once already, for the check.
	quiet := &stdio{in: sio.in, out: sio.out, err: io.Discard}
	r, d, err := n.client(quiet, c)
	if err != nil {
		return nil, err
	}
	r.Fallback, r.Cache = discover.FallbackAlways, nil
	d.Memory = dial.NoMemory
	srv, _, err := n.client(quiet, c)
	if err != nil {
		return nil, err
	}
	srv.Transport, srv.Cache = audit.NotFoundTransport, nil
	a := &audit.Auditor{Lookup: r.Lookup, LookupSRV: srv.Lookup, Dialer: d, Roots: r.Roots, Proxy: r.Proxy, DialContext: testDialContext}
	if server := n.plainResolver(); a.DialContext == nil && r.Proxy == nil && server != "" {
		// The document's host is looked up where every other name is
		// (--resolver), not through the system resolver.
		nd := &net.Dialer{Resolver: dnsResolver(server)}
		a.DialContext = nd.DialContext
	}
	return a, nil
}

// dnsResolver is a Go resolver that asks server (ip:port) only.
func dnsResolver(server string) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, server)
	}}
}

// finishAudited ends a check: it runs the audit when asked (reusing the
// check's attempts), applies --strict, writes --html, then the report.
func finishAudited(ctx context.Context, sio *stdio, env *checkEnv, rep *checkReport, kind hacx.Kind, attempts []dial.Attempt, asJSON bool, exit error) error {
	if env.auditor != nil {
		if env.progress != nil {
			fmt.Fprintf(env.progress, "%sauditing %s…", clearLine, rep.Domain)
		}
		ar, err := env.auditor.Audit(ctx, rep.Domain, kind, attempts)
		if env.progress != nil {
			fmt.Fprint(env.progress, clearLine)
		}
		if err != nil {
			ar = &audit.Report{Findings: []audit.Finding{}, Notes: []string{"audit not run: " + err.Error()}}
		}
		rep.Audit = ar
		if n := len(ar.Findings); n > 0 && env.strict {
			msg := fmt.Sprintf("%d audit finding(s) (--strict)", n)
			if ee, ok := exit.(*exitError); ok && ee.msg != "" {
				msg = ee.msg + "; " + msg
			}
			exit = &exitError{code: exitFail, msg: msg}
		}
	}
	if env.htmlFile != "" {
		if err := writeHTMLReport(env.htmlFile, rep, time.Now()); err != nil {
			msg := "--html: " + err.Error()
			if ee, ok := exit.(*exitError); ok && ee.msg != "" {
				msg = ee.msg + "\n" + msg
			}
			exit = &exitError{code: exitFail, msg: msg}
		}
	}
	return finishCheck(sio, rep, asJSON, exit)
}

// printAudit is the audit section of the text report: one block per
// finding (rule, severity, subject, what, how to fix), then the notes.
func printAudit(w io.Writer, ar *audit.Report) {
	if ar == nil {
		return
	}
	fmt.Fprintf(w, "\naudit: %d finding(s)\n", len(ar.Findings))
	for _, f := range ar.Findings {
		fmt.Fprintf(w, "  [%s] %s: %s\n", f.Rule, f.Severity, f.Subject)
		fmt.Fprintf(w, "        %s\n", f.Message)
		fmt.Fprintf(w, "        fix: %s\n", f.Fix)
	}
	for _, n := range ar.Notes {
		fmt.Fprintf(w, "  not checked: %s\n", strings.TrimSpace(n))
	}
}

// jsonAuditHelp documents the "audit" member of check --json.
const jsonAuditHelp = `"audit" is null without --audit; with it, an object:

    {"findings": [{"check": "cert-expiry", "rule": "P7", "severity": "warning",
                   "subject": "example.org",
                   "message": "the certificate example.org expires in 9 days ...",
                   "fix": "renew it now, ..."}],
     "notes": ["what could not be checked, and why"]}

"check" is one of "sources-disagree" (P6), "cert-expiry" (P7), "cert-name"
(A10), "pin-no-match" (A9), "pin-no-backup" (P2), "hsts-missing" (X5),
"cors-document" (P3), "address-family" (A1), "ttl-range" (H5),
"alpn-ignored" (A6), "cors-web" (P8); "rule" is the rule of docs/RULES.md
it concerns; "severity" is "error" (some clients fail now or soon) or
"warning" (advice). "findings" and "notes" are always arrays.`

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/audit"
	"hacx.dev/hacx/internal/testbed"
)

// auditedDomain publishes a HACX document that works but that a careful
// operator would change: routes on IPv4 only (A1), no ttl (H5), no HSTS
// (X5) and no CORS (P3) on the HTTPS host, a certificate that expires
// within a day (P7), and an SRV record on a port the document does not
// list (P6). Its first route is refused, its second answers for another
// domain, its third works. It returns the flags for "hacx check".
func auditedDomain(t *testing.T) []string {
	t.Helper()
	ca, err := hacxtest.NewCA("check-audit")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(checkDomain) // valid for a day: P7
	if err != nil {
		t.Fatal(err)
	}
	dead, wrong, good := refused(t), startCheckXMPP(t, cert, "other.test"), startCheckXMPP(t, cert, checkDomain)
	doc := fmt.Sprintf(`<hacx>
  <tls ip="%s" port="%d" priority="1"/>
  <tls ip="%s" port="%d" priority="2"/>
  <tls ip="%s" port="%d" priority="3"/>
</hacx>`, dead.Addr(), dead.Port(), wrong.Addr(), wrong.Port(), good.Addr(), good.Port())
	publish(t, cert, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/xmpp-client.xml" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.Write([]byte(doc))
	}))
	dnsSrv, err := testbed.NewDNSServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dnsSrv.Close() })
	if err := dnsSrv.Add(
		fmt.Sprintf("_xmpps-client._tcp.%s. 60 IN SRV 0 0 %d xmpp.%s.", checkDomain, dead.Port()+1, checkDomain),
		fmt.Sprintf("xmpp.%s. 60 IN A %s", checkDomain, good.Addr()),
	); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--ca-file", caFile, "--resolver", dnsSrv.Addr, "--no-cache", "--state-dir", dir, "--socks", "none", checkDomain}
}

// TestCheck_Audit_FindingsExitCodeOnlyWithStrict: --audit adds findings
// with rule IDs and fixes to both reports and leaves the exit status to
// the check; --strict makes any finding exit 1.
func TestCheck_Audit_FindingsExitCodeOnlyWithStrict(t *testing.T) {
	flags := auditedDomain(t)

	code, out, errOut := runCmd(t, "", append([]string{"check", "--audit", "--json"}, flags...)...)
	if code != exitOK {
		t.Fatalf("--audit: exit %d, want 0 (findings are advice)\n%s\n%s", code, out, errOut)
	}
	var rep checkReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Audit == nil || rep.Audit.Notes == nil {
		t.Fatalf("no audit in --json:\n%s", out)
	}
	var rules []string
	for _, f := range rep.Audit.Findings {
		if f.Fix == "" || f.Message == "" || f.Subject == "" {
			t.Errorf("finding without fix, message or subject: %+v", f)
		}
		rules = append(rules, f.Rule)
	}
	for _, want := range []string{"P6", "P7", "A1", "H5", "X5", "P3"} {
		if !slices.Contains(rules, want) {
			t.Errorf("no %s finding; findings: %v\n%s", want, rules, out)
		}
	}
	if rep.Result != resultOK || rep.Winner == nil || *rep.Winner != 3 {
		t.Errorf("the check itself changed: result %q, winner %v", rep.Result, rep.Winner)
	}

	code, text, _ := runCmd(t, "", append([]string{"check", "--audit"}, flags...)...)
	if code != exitOK || !strings.Contains(text, fmt.Sprintf("audit: %d finding(s)", len(rep.Audit.Findings))) ||
		!strings.Contains(text, "[X5] warning: https://example.test/.well-known/xmpp-client.xml") || !strings.Contains(text, "fix: send Strict-Transport-Security") {
		t.Errorf("text report (exit %d):\n%s", code, text)
	}

	code, out, errOut = runCmd(t, "", append([]string{"check", "--strict", "--json"}, flags...)...)
	if code != exitFail || !strings.Contains(errOut, fmt.Sprintf("hacx check: %d audit finding(s) (--strict)", len(rep.Audit.Findings))) {
		t.Errorf("--strict: exit %d, stderr %q; want 1 and the count", code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Audit == nil || rep.Result != resultOK {
		t.Errorf("--strict --json: %v\n%s", err, out)
	}

	// Without --audit the report says so with null.
	_, out, _ = runCmd(t, "", append([]string{"check", "--json"}, flags...)...)
	if !strings.Contains(out, `"audit": null`) {
		t.Errorf("--json without --audit lacks \"audit\": null:\n%s", out)
	}
}

// TestCheck_Audit_FindingJSONIsStable: the members of a finding as the
// help documents them.
func TestCheck_Audit_FindingJSONIsStable(t *testing.T) {
	data, err := json.Marshal(audit.Finding{Check: audit.CheckTTL, Rule: "H5", Severity: audit.SeverityWarning, Subject: "s", Message: "m", Fix: "f"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"check":"ttl-range","rule":"H5","severity":"warning","subject":"s","message":"m","fix":"f"}`
	if string(data) != want {
		t.Errorf("got %s, want %s", data, want)
	}
	_, help, _ := runCmd(t, "", "help", "check")
	for _, c := range []string{audit.CheckSourcesDisagree, audit.CheckCertExpiry, audit.CheckCertName, audit.CheckPinNoMatch,
		audit.CheckPinNoBackup, audit.CheckHSTS, audit.CheckDocumentCORS, audit.CheckAddressFamily, audit.CheckTTL,
		audit.CheckALPN, audit.CheckWebCORS} {
		if !strings.Contains(help, `"`+c+`"`) {
			t.Errorf("hacx help check does not document check %q", c)
		}
	}
}

func TestCheck_HTMLUsage(t *testing.T) {
	for _, arg := range []string{"-", filepath.Join(t.TempDir(), "no-such-dir", "r.html")} {
		code, out, errOut := runCmd(t, "", "check", "--html", arg, "--socks", "none", "example.test")
		if code != exitUsage || out != "" || !strings.Contains(errOut, "--html") {
			t.Errorf("--html %s: exit %d, stdout %q, stderr %q; want 2", arg, code, out, errOut)
		}
	}
}

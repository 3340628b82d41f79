package audit

import (
	"crypto/tls"
	"fmt"
	"hacx.dev/hacx/hacxtest"
	"slices"
	"strings"
	"testing"
	"time"

	"hacx.dev/hacx/internal/loopback"
)

// checks lists the distinct checks of a report's findings, sorted.
func checks(rep *Report) []string {
	var out []string
	for _, f := range rep.Findings {
		if !slices.Contains(out, f.Check) {
			out = append(out, f.Check)
		}
	}
	slices.Sort(out)
	return out
}

func dump(rep *Report) string {
	var b strings.Builder
	for _, f := range rep.Findings {
		fmt.Fprintf(&b, "  [%s %s %s] %s: %s\n", f.Rule, f.Check, f.Severity, f.Subject, f.Message)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	return b.String()
}

// finding returns the findings of check, failing unless there is one
// whose message contains each of want.
func finding(t *testing.T, rep *Report, check string, want ...string) Finding {
	t.Helper()
	for _, f := range rep.Findings {
		if f.Check != check {
			continue
		}
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(f.Message, w)
		}
		if ok {
			if f.Fix == "" || f.Rule == "" || f.Subject == "" {
				t.Errorf("finding without rule, subject or fix: %+v", f)
			}
			return f
		}
	}
	t.Fatalf("no %s finding saying %q:\n%s", check, want, dump(rep))
	return Finding{}
}

// TestAudit_CarefulPublicationHasNoFinding: a publication that does
// everything right (both address families, SRV in line with the HACX
// document, a one-hour ttl, HSTS and CORS, ALPN honoured, web endpoints
// open to other origins, long-lived certificates) gives no finding and
// nothing left unchecked. Every other test changes one thing of it.
func TestAudit_CarefulPublicationHasNoFinding(t *testing.T) {
	w := newWorld(t, worldConfig{})
	w.baseline()
	rep := w.audit()
	if len(rep.Findings) != 0 || len(rep.Notes) != 0 {
		t.Errorf("want no finding and no note:\n%s", dump(rep))
	}
}

func TestAudit_SRVOnAnotherPort_P6(t *testing.T) {
	w := newWorld(t, worldConfig{})
	other, err := loopback.RefusedAddr("127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	w.publish("3600", w.records())
	w.addDNS(w.srv(1, 2, other.Port())...)
	rep := w.audit()
	if got := checks(rep); !slices.Equal(got, []string{CheckSourcesDisagree}) || len(rep.Findings) != 1 {
		t.Fatalf("want one %s finding:\n%s", CheckSourcesDisagree, dump(rep))
	}
	f := finding(t, rep, CheckSourcesDisagree, "same address on another port", w.v4.String(), other.String())
	if f.Rule != "P6" || f.Severity != SeverityWarning {
		t.Errorf("finding %+v", f)
	}
}

func TestAudit_PriorityOrderDiffers_P6(t *testing.T) {
	w := newWorld(t, worldConfig{})
	w.publish("3600", w.records())
	w.addDNS(w.srv(2, 1, w.v4.Port())...) // SRV prefers IPv6, the document IPv4
	rep := w.audit()
	if len(rep.Findings) != 1 {
		t.Fatalf("want one finding:\n%s", dump(rep))
	}
	finding(t, rep, CheckSourcesDisagree, "hacx tries tls "+w.v4.String()+" (priority 1) before tls "+w.v6.String(), "srv the other way round")
}

// TestAudit_HostMeta2LeavesOutARoute_P6_X3: Host Meta 2 makes clients skip
// SRV (X3), but the audit compares SRV with it all the same.
func TestAudit_HostMeta2LeavesOutARoute_P6_X3(t *testing.T) {
	w := newWorld(t, worldConfig{})
	w.baseline()
	w.files["/.well-known/host-meta.json"] = fmt.Sprintf(`{"xmpp": {"ttl": 3600}, "links": [
		{"rel": "urn:xmpp:alt-connections:tls", "port": %d, "priority": 1, "sni": "example.test", "ips": ["127.0.0.2"]},
		{"rel": "urn:xmpp:alt-connections:websocket", "href": "wss://example.test:%[2]d/xmpp-websocket", "priority": 3, "ips": ["127.0.0.3"]},
		{"rel": "urn:xmpp:alt-connections:xbosh", "href": "https://example.test:%[2]d/http-bind", "priority": 4, "ips": ["127.0.0.3"]}]}`, w.v4.Port(), w.web.Port())
	rep := w.audit()
	if got := checks(rep); !slices.Equal(got, []string{CheckSourcesDisagree}) {
		t.Fatalf("want only %s findings:\n%s", CheckSourcesDisagree, dump(rep))
	}
	finding(t, rep, CheckSourcesDisagree, "hacx publishes tls "+w.v6.String()+"; host-meta2 does not")
	finding(t, rep, CheckSourcesDisagree, "srv publishes tls "+w.v6.String()+"; host-meta2 does not")
}

func TestAudit_HostMetaOtherWebSocket_P6_X2(t *testing.T) {
	w := newWorld(t, worldConfig{})
	w.baseline()
	w.files["/.well-known/host-meta"] = fmt.Sprintf(`<?xml version='1.0'?>
<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>
  <Link rel="urn:xmpp:alt-connections:websocket" href="wss://example.test:%[1]d/other-websocket"/>
  <Link rel="urn:xmpp:alt-connections:xbosh" href="https://example.test:%[1]d/http-bind"/>
</XRD>`, w.web.Port())
	rep := w.audit()
	if got := checks(rep); !slices.Equal(got, []string{CheckSourcesDisagree}) || len(rep.Findings) != 2 {
		t.Fatalf("want two %s findings:\n%s", CheckSourcesDisagree, dump(rep))
	}
	finding(t, rep, CheckSourcesDisagree, fmt.Sprintf("hacx publishes websocket wss://example.test:%d/xmpp-websocket; host-meta does not", w.web.Port()))
	finding(t, rep, CheckSourcesDisagree, fmt.Sprintf("host-meta publishes websocket wss://example.test:%d/other-websocket; hacx does not", w.web.Port()))
}

// validFor issues a certificate for domain that expires in d from now
// (negative: expired that long ago).
func validFor(d time.Duration) func(*hacxtest.CA) (*tls.Certificate, error) {
	return func(ca *hacxtest.CA) (*tls.Certificate, error) {
		now := time.Now()
		return ca.IssueValid(now.Add(-30*24*time.Hour), now.Add(d), domain)
	}
}

// TestAudit_CertificateExpiresSoon_P7: one finding per certificate, naming
// every route that serves it.
func TestAudit_CertificateExpiresSoon_P7(t *testing.T) {
	w := newWorld(t, worldConfig{issue: validFor(5 * 24 * time.Hour)})
	w.baseline()
	rep := w.audit()
	if len(rep.Findings) != 1 {
		t.Fatalf("want one finding:\n%s", dump(rep))
	}
	f := finding(t, rep, CheckCertExpiry, "expires in 4 days", "hacx record 1 (tls", "hacx record 4 (bosh", "srv record 1 (tls")
	if f.Rule != "P7" || f.Severity != SeverityWarning || f.Subject != domain {
		t.Errorf("finding %+v", f)
	}
}

func TestAudit_CertificateExpired_P7(t *testing.T) {
	w := newWorld(t, worldConfig{issue: validFor(-24 * time.Hour)})
	w.baseline()
	rep := w.audit()
	if got := checks(rep); !slices.Equal(got, []string{CheckCertExpiry}) {
		t.Fatalf("want only %s:\n%s", CheckCertExpiry, dump(rep))
	}
	if f := finding(t, rep, CheckCertExpiry, "expired 24 hours ago"); f.Severity != SeverityError {
		t.Errorf("finding %+v", f)
	}
}

// TestAudit_CertificateForAnotherName_A10: a certificate that names
// neither the domain nor the URL host is refused by clients; one that
// does but not the SNI the record sends is a warning.
func TestAudit_CertificateForAnotherName_A10(t *testing.T) {
	w := newWorld(t, worldConfig{issue: func(ca *hacxtest.CA) (*tls.Certificate, error) {
		return ca.IssueValid(time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour), "other.test")
	}})
	w.baseline()
	rep := w.audit()
	if got := checks(rep); !slices.Equal(got, []string{CheckCertName}) {
		t.Fatalf("want only %s:\n%s", CheckCertName, dump(rep))
	}
	f := finding(t, rep, CheckCertName, "names other.test, not example.test: clients refuse it")
	if f.Rule != "A10" || f.Severity != SeverityError || !strings.HasPrefix(f.Subject, "hacx record 1 (tls") {
		t.Errorf("finding %+v", f)
	}
	finding(t, rep, CheckCertName, "not example.test or example.test") // the WebSocket and BOSH URL host
}

func TestAudit_SNINotInCertificate_A10(t *testing.T) {
	w := newWorld(t, worldConfig{})
	recs := w.records()
	recs[0] = fmt.Sprintf(`<tls ip="%s" port="%d" priority="1" sni="xmpp.example.test"/>`, w.v4.Addr(), w.v4.Port())
	w.publish("3600", recs)
	w.addDNS(w.srv(1, 2, w.v4.Port())...)
	rep := w.audit()
	if len(rep.Findings) != 1 {
		t.Fatalf("want one finding:\n%s", dump(rep))
	}
	if f := finding(t, rep, CheckCertName, "sends SNI xmpp.example.test but the certificate names example.test"); f.Severity != SeverityWarning {
		t.Errorf("finding %+v", f)
	}
}

// TestAudit_PinMatchesNothing_A9_P2: a single pin of a key the server does
// not have: every client refuses the route, and there is no backup pin.
func TestAudit_PinMatchesNothing_A9_P2(t *testing.T) {
	w := newWorld(t, worldConfig{})
	recs := w.records()
	recs[0] = fmt.Sprintf(`<tls ip="%s" port="%d" priority="1">%s</tls>`, w.v4.Addr(), w.v4.Port(), otherKeyPin(t))
	w.publish("3600", recs)
	w.addDNS(w.srv(1, 2, w.v4.Port())...)
	rep := w.audit()
	if got := checks(rep); !slices.Equal(got, []string{CheckPinNoBackup, CheckPinNoMatch}) {
		t.Fatalf("want %s and %s:\n%s", CheckPinNoMatch, CheckPinNoBackup, dump(rep))
	}
	if f := finding(t, rep, CheckPinNoMatch, "none of the 1 pin(s) matches"); f.Rule != "A9" || f.Severity != SeverityError {
		t.Errorf("finding %+v", f)
	}
	if f := finding(t, rep, CheckPinNoBackup, "one pin only"); f.Rule != "P2" {
		t.Errorf("finding %+v", f)
	}
}

// TestAudit_BackupPin_P2: pinning only keys in service is a finding; a
// spare key's pin next to them is what P2 asks for.
func TestAudit_BackupPin_P2(t *testing.T) {
	w := newWorld(t, worldConfig{})
	served, spare := pinXML(w.xmpp), otherKeyPin(t)
	for _, tt := range []struct {
		pins string
		want []string
		msg  string
	}{
		{served, []string{CheckPinNoBackup}, "one pin only"},
		{served + pinXML512(w.xmpp), []string{CheckPinNoBackup}, "all 2 pins are keys of the served chain"},
		{served + spare, nil, ""},
	} {
		recs := w.records()
		recs[0] = fmt.Sprintf(`<tls ip="%s" port="%d" priority="1">%s</tls>`, w.v4.Addr(), w.v4.Port(), tt.pins)
		w.publish("3600", recs)
		w.dns.Remove("_xmpps-client._tcp.example.test.")
		w.addDNS(w.srv(1, 2, w.v4.Port())...)
		rep := w.audit()
		if got := checks(rep); !slices.Equal(got, tt.want) {
			t.Errorf("pins %s: want %v:\n%s", tt.pins, tt.want, dump(rep))
			continue
		}
		if tt.msg != "" {
			finding(t, rep, CheckPinNoBackup, tt.msg)
		}
	}
}

func TestAudit_NoHSTS_X5(t *testing.T) {
	w := newWorld(t, worldConfig{})
	w.baseline()
	for _, hsts := range []string{"", "max-age=0"} {
		if hsts == "" {
			w.header.Del("Strict-Transport-Security")
		} else {
			w.header.Set("Strict-Transport-Security", hsts)
		}
		rep := w.audit()
		if len(rep.Findings) != 1 {
			t.Fatalf("HSTS %q: want one finding:\n%s", hsts, dump(rep))
		}
		f := finding(t, rep, CheckHSTS, "can be kept off TLS")
		if f.Rule != "X5" || f.Subject != "https://example.test/.well-known/xmpp-client.xml" {
			t.Errorf("finding %+v", f)
		}
	}
}

func TestAudit_DocumentWithoutCORS_P3(t *testing.T) {
	w := newWorld(t, worldConfig{})
	w.baseline()
	w.header.Del("Access-Control-Allow-Origin")
	rep := w.audit()
	if len(rep.Findings) != 1 {
		t.Fatalf("want one finding:\n%s", dump(rep))
	}
	if f := finding(t, rep, CheckDocumentCORS, "web clients on other sites cannot read the document"); f.Rule != "P3" {
		t.Errorf("finding %+v", f)
	}
}

func TestAudit_NoIPv6_A1(t *testing.T) {
	w := newWorld(t, worldConfig{})
	recs := w.records()
	w.publish("3600", append(recs[:1:1], recs[2:]...))
	w.addDNS(w.srv(1, 2, w.v4.Port())[0])
	rep := w.audit()
	if len(rep.Findings) != 1 {
		t.Fatalf("want one finding:\n%s", dump(rep))
	}
	if f := finding(t, rep, CheckAddressFamily, "no IPv6 route"); f.Rule != "A1" || f.Subject != "the HACX document" {
		t.Errorf("finding %+v", f)
	}
}

func TestAudit_TTLOutOfRange_H5(t *testing.T) {
	w := newWorld(t, worldConfig{})
	w.addDNS(w.srv(1, 2, w.v4.Port())...)
	for _, tt := range []struct{ ttl, msg string }{
		{"60", "ttl 60 s is short"},
		{"", "ttl 30 s (the default when the attribute is absent) is short"},
		{"1209600", "ttl 1209600 s (14 days) is long"},
	} {
		w.publish(tt.ttl, w.records())
		rep := w.audit()
		if len(rep.Findings) != 1 {
			t.Fatalf("ttl %q: want one finding:\n%s", tt.ttl, dump(rep))
		}
		if f := finding(t, rep, CheckTTL, tt.msg); f.Rule != "H5" {
			t.Errorf("finding %+v", f)
		}
	}
}

// TestAudit_ALPNIgnored_A6: the SRV routes offer xmpp-client (XEP-0368)
// and so does the record; the server negotiates nothing.
func TestAudit_ALPNIgnored_A6(t *testing.T) {
	w := newWorld(t, worldConfig{noALPN: true})
	recs := w.records()
	recs[0] = fmt.Sprintf(`<tls ip="%s" port="%d" priority="1" alpn="eG1wcC1jbGllbnQ="/>`, w.v4.Addr(), w.v4.Port())
	w.publish("3600", recs)
	w.addDNS(w.srv(1, 2, w.v4.Port())...)
	rep := w.audit()
	if got := checks(rep); !slices.Equal(got, []string{CheckALPN}) {
		t.Fatalf("want only %s:\n%s", CheckALPN, dump(rep))
	}
	f := finding(t, rep, CheckALPN, `offers ALPN "xmpp-client" but the server negotiated none`)
	if f.Rule != "A6" || !strings.HasPrefix(f.Subject, "hacx record 1") {
		t.Errorf("finding %+v", f)
	}
}

func TestAudit_WebEndpointsClosedToOtherOrigins_P8(t *testing.T) {
	for _, tt := range []struct {
		cfg     worldConfig
		subject string
		msg     string
	}{
		{worldConfig{noWebCORS: true}, "hacx record 4 (bosh", "a CORS preflight from https://webclient.invalid got HTTP 405 with no Access-Control-Allow-Origin"},
		{worldConfig{noWSOrigin: true}, "hacx record 3 (websocket", "an upgrade with Origin https://webclient.invalid got HTTP 403"},
	} {
		w := newWorld(t, tt.cfg)
		w.baseline()
		rep := w.audit()
		if len(rep.Findings) != 1 {
			t.Fatalf("want one finding:\n%s", dump(rep))
		}
		if f := finding(t, rep, CheckWebCORS, tt.msg); f.Rule != "P8" || !strings.HasPrefix(f.Subject, tt.subject) {
			t.Errorf("finding %+v", f)
		}
	}
}

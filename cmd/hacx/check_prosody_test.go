package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/internal/testenv"
)

// TestCheck_ProsodyAllTransports runs "hacx check --all --json" as a user
// would, against Debian's Prosody: the HACX document is fetched over HTTPS
// from a loopback publisher (H1), it lists Prosody's direct TLS, WebSocket
// and BOSH endpoints, and every route must be proven (C4) with the report
// fields filled from the real handshakes. A document with one more, dead
// route is then "partly working" (exit 4).
func TestCheck_ProsodyAllTransports(t *testing.T) {
	testenv.Require(t, testbed.ProsodyAvailable())
	const domain = "checkprosody.test"
	ca, err := hacxtest.NewCA("check-prosody")
	if err != nil {
		t.Fatal(err)
	}
	// Valid for 90 days from now: the report must say 89 full days left.
	cert, err := ca.IssueValid(time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour), domain)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := testbed.StartProsody(ctx, testbed.ProsodyConfig{Domain: domain, IP: "127.0.0.21", Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dead, err := loopback.RefusedAddr("127.0.0.22")
	if err != nil {
		t.Fatal(err)
	}

	// The document: direct TLS with SNI and ALPN xmpp-client (base64),
	// WebSocket without SNI (A5: the certificate is still checked), BOSH
	// with SNI.
	routes := fmt.Sprintf(`
  <tls ip="%s" port="%d" priority="1" weight="0" sni="%s" alpn="eG1wcC1jbGllbnQ="/>
  <websocket ip="%s" port="%d" priority="2" weight="0" url="%s"/>
  <bosh ip="%s" port="%d" priority="3" weight="0" sni="%s" url="%s"/>`,
		p.TLSAddr.Addr(), p.TLSAddr.Port(), domain,
		p.HTTPSAddr.Addr(), p.HTTPSAddr.Port(), p.WebSocketURL,
		p.HTTPSAddr.Addr(), p.HTTPSAddr.Port(), domain, p.BOSHURL)
	deadRoute := fmt.Sprintf(`
  <tls ip="%s" port="%d" priority="4" weight="0" sni="%s"/>`, dead.Addr(), dead.Port(), domain)
	var doc atomic.Value
	doc.Store(`<hacx ttl="60">` + routes + "\n</hacx>\n")

	var fetched atomic.Int32
	publish(t, cert, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != domain || r.URL.Path != "/.well-known/xmpp-client.xml" {
			http.NotFound(w, r)
			return
		}
		fetched.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, doc.Load().(string))
	}))
	dnsSrv, err := testbed.NewDNSServer() // empty zone: no SRV, no TLSA
	if err != nil {
		t.Fatal(err)
	}
	defer dnsSrv.Close()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"check", "--all", "--json", "--ca-file", caFile, "--resolver", dnsSrv.Addr,
		"--no-cache", "--state-dir", dir, "--socks", "none", domain}
	runCheckCLI := func(t *testing.T) (int, *checkReport, string) {
		t.Helper()
		var out, errb bytes.Buffer
		code := run(ctx, args, &stdio{in: strings.NewReader(""), out: &out, err: &errb})
		var rep checkReport
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("exit %d, --json does not parse: %v\n%s\nstderr: %s", code, err, out.String(), errb.String())
		}
		if strings.Contains(errb.String(), "\r") {
			t.Errorf("progress line on a stderr that is not a terminal: %q", errb.String())
		}
		return code, &rep, out.String()
	}

	t.Run("all three work", func(t *testing.T) {
		code, rep, out := runCheckCLI(t)
		if code != exitOK || rep.Result != resultOK || len(rep.Attempts) != 3 {
			t.Fatalf("exit %d, result %q, %d attempts; want 0, ok, 3\n%s\nprosody log:\n%s", code, rep.Result, len(rep.Attempts), out, p.Log())
		}
		if fetched.Load() == 0 || rep.Sources[0].Source != "hacx" || rep.Sources[0].Status != "found" {
			t.Errorf("the document was not found over HTTPS: %+v", rep.Sources)
		}
		wantMethods := []hacx.Method{"tls", "websocket", "bosh"}
		for i, a := range rep.Attempts {
			r := rep.Routes[i]
			t.Run(string(r.Method), func(t *testing.T) {
				if r.Method != wantMethods[i] {
					t.Fatalf("route %d is %s, want %s (document order)", i+1, r.Method, wantMethods[i])
				}
				if !a.OK || a.Phase != "done" || a.Error != "" || !a.Reachable {
					t.Fatalf("attempt %+v", a)
				}
				// What was sent is the document's, exactly (A5, A6).
				switch r.Method {
				case "tls":
					if a.SNISent == nil || *a.SNISent != domain || a.ALPNSent == nil || *a.ALPNSent != "xmpp-client" {
						t.Errorf("sent sni %v alpn %v, want %s and xmpp-client", a.SNISent, a.ALPNSent, domain)
					}
				case "websocket":
					if a.SNISent != nil || a.ALPNSent != nil {
						t.Errorf("sent sni %v alpn %v, want neither (A5, A6)", a.SNISent, a.ALPNSent)
					}
				case "bosh":
					if a.SNISent == nil || *a.SNISent != domain {
						t.Errorf("sent sni %v, want %s", a.SNISent, domain)
					}
				}
				if a.TLS == nil || !strings.HasPrefix(a.TLS.Version, "TLS 1.") || a.TLS.Cipher == "" || a.TLS.Cert == nil {
					t.Fatalf("tls %+v", a.TLS)
				}
				c := a.TLS.Cert
				if !slices.Contains(c.Names, domain) || !c.NotAfter.Equal(cert.Leaf.NotAfter.UTC()) || c.ExpiresInDays != 89 ||
					!strings.Contains(c.Issuer, "check-prosody") {
					t.Errorf("cert %+v, want Prosody's certificate for %s from the test CA", c, domain)
				}
				// Verification: no pins, no TLSA record (the DNS zone is
				// empty), so WebPKI with the --ca-file root (A10, X4).
				if a.Verified != "webpki" || a.Pin != "none" || a.DANE != "none" {
					t.Errorf("verified %q pin %q dane %q, want webpki/none/none", a.Verified, a.Pin, a.DANE)
				}
				if a.StreamFrom != domain {
					t.Errorf("stream from %q, want %s (C4)", a.StreamFrom, domain)
				}
				if a.ConnectMS == nil || a.TLSMS == nil || *a.ConnectMS <= 0 || *a.TLSMS < *a.ConnectMS || a.DurationMS < *a.TLSMS {
					t.Errorf("latency: connect %v tls %v total %v", a.ConnectMS, a.TLSMS, a.DurationMS)
				}
			})
		}
	})

	t.Run("one dead route is partly working", func(t *testing.T) {
		doc.Store(`<hacx ttl="60">` + routes + deadRoute + "\n</hacx>\n")
		code, rep, out := runCheckCLI(t)
		if code != exitPartial || rep.Result != resultPartial || len(rep.Attempts) != 4 {
			t.Fatalf("exit %d, result %q, %d attempts; want 4, partial, 4\n%s", code, rep.Result, len(rep.Attempts), out)
		}
		a := rep.Attempts[3]
		if a.OK || a.Reachable || a.Phase != "tcp" || a.Error == "" || a.TLS != nil || a.StreamFrom != "" {
			t.Errorf("dead route attempt %+v", a)
		}
		for _, a := range rep.Attempts[:3] {
			if !a.OK {
				t.Errorf("route %d failed: %s", a.Route, a.Error)
			}
		}
	})
}

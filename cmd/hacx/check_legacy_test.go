package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/internal/testenv"
)

// TestCheck_LegacyServers_X1_F1_S1 runs "hacx check" as a user would
// against Debian's Prosody and ejabberd where nothing but the network as
// it is exists: no HACX document and no host-meta (404), first with only
// an _xmpp-client SRV record, then with nothing but the domain's address
// (the RFC 6120 fallback, F1). Both must connect with STARTTLS and exit 0.
// The servers listen on ports of their own; the route dial hook stands
// in for their being on 5222 and 5223 of the domain's address.
func TestCheck_LegacyServers_X1_F1_S1(t *testing.T) {
	const domain = "legacy.test"
	ca, cert := testCert(t, "check-legacy", domain)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	type server struct {
		name          string
		starttls, tls string
		log           func() string
	}
	var servers []server
	testenv.Require(t, testbed.ProsodyAvailable())
	p, err := testbed.StartProsody(ctx, testbed.ProsodyConfig{Domain: domain, IP: "127.0.0.41", Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	servers = append(servers, server{"prosody", p.StartTLSAddr.String(), p.TLSAddr.String(), p.Log})
	testenv.Require(t, testbed.EjabberdAvailable())
	e, err := testbed.StartEjabberd(ctx, testbed.EjabberdConfig{Domain: domain, IP: "127.0.0.42", Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	servers = append(servers, server{"ejabberd", e.StartTLSAddr.String(), e.TLSAddr.String(), e.Log})

	publish(t, cert, http.NotFoundHandler())
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	const addr = "127.0.0.43" // the domain's address in DNS
	for _, srv := range servers {
		for _, published := range []string{"srv", "nothing"} {
			t.Run(srv.name+"/"+published, func(t *testing.T) {
				dnsSrv, err := testbed.NewDNSServer()
				if err != nil {
					t.Fatal(err)
				}
				defer dnsSrv.Close()
				rr := fmt.Sprintf("%s. 60 IN A %s", domain, addr)
				if published == "srv" {
					host, port, _ := net.SplitHostPort(srv.starttls)
					rr = fmt.Sprintf("_xmpp-client._tcp.%s. 60 IN SRV 0 0 %s xmpp.%s.", domain, port, domain)
					if err := dnsSrv.Add(fmt.Sprintf("xmpp.%s. 60 IN A %s", domain, host)); err != nil {
						t.Fatal(err)
					}
				}
				if err := dnsSrv.Add(rr); err != nil {
					t.Fatal(err)
				}
				ports := map[string]string{addr + ":5222": srv.starttls, addr + ":5223": srv.tls}
				testRouteDialContext = func(ctx context.Context, network, a string) (net.Conn, error) {
					if to, ok := ports[a]; ok {
						a = to
					}
					var d net.Dialer
					return d.DialContext(ctx, network, a)
				}
				defer func() { testRouteDialContext = nil }()
				var out, errb bytes.Buffer
				code := run(ctx, []string{"check", "--json", "--ca-file", caFile, "--resolver", dnsSrv.Addr,
					"--no-cache", "--state-dir", dir, "--socks", "none", domain}, &stdio{in: strings.NewReader(""), out: &out, err: &errb})
				var rep checkReport
				if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
					t.Fatalf("exit %d, --json does not parse: %v\n%s\n%s", code, err, out.String(), errb.String())
				}
				if code != exitOK || rep.Winner == nil {
					t.Fatalf("exit %d: %s\n%s\n%s log:\n%s", code, out.String(), errb.String(), srv.name, srv.log())
				}
				win := rep.Routes[*rep.Winner-1]
				wantSource := map[string]string{"srv": "srv", "nothing": "fallback"}[published]
				if win.Method != "starttls" || string(win.Source) != wantSource {
					t.Errorf("winner %+v, want starttls from %s", win, wantSource)
				}
				a := rep.Attempts[*rep.Winner-1]
				if len(a.PlainFeatures) == 0 || !strings.HasPrefix(a.PlainFeatures[0], "starttls") {
					t.Errorf("plain features %q: want STARTTLS offered first", a.PlainFeatures)
				}
			})
		}
	}
}

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/testbed"
)

func TestLookupCommand(t *testing.T) {
	ca, cert := testCert(t, "lookup", "found.test", "none.test", "broken.test")
	publish(t, cert, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Host {
		case "found.test":
			w.Write([]byte(`<hacx ttl="60"><tls ip="127.0.0.2" port="5223" priority="1" sni="found.test"/></hacx>`))
		case "broken.test":
			http.Error(w, "down", 500)
		default:
			http.NotFound(w, r)
		}
	}))
	dnsSrv, err := testbed.NewDNSServer()
	if err != nil {
		t.Fatal(err)
	}
	defer dnsSrv.Close()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, ca.PEM(), 0o600)
	base := []string{"lookup", "--ca-file", caFile, "--resolver", dnsSrv.Addr, "--no-cache", "--state-dir", dir, "--socks", "none"}

	tests := []struct {
		domain string
		code   int
		status string
	}{
		{"found.test", exitOK, "found"},
		{"none.test", exitNothing, "none"},
		{"broken.test", exitFail, "error"},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), append(base, "--json", tt.domain), &stdio{out: &out, err: &errb})
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tt.code, errb.String())
			}
			var res struct {
				Domain string `json:"domain"`
				Routes []struct {
					Method, IP, Source string
					Port               int
					SNI                *string
				} `json:"routes"`
				Sources []struct{ Source, Status string } `json:"sources"`
			}
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			if res.Domain != tt.domain || res.Sources[0].Source != "hacx" || res.Sources[0].Status != tt.status {
				t.Errorf("json = %s", out.String())
			}
			if tt.code == exitOK && (len(res.Routes) != 1 || res.Routes[0].IP != "127.0.0.2" || res.Routes[0].Port != 5223 || res.Routes[0].SNI == nil) {
				t.Errorf("routes = %+v", res.Routes)
			}
		})
	}

	var out, errb bytes.Buffer
	if code := run(context.Background(), append(base, "found.test"), &stdio{out: &out, err: &errb}); code != exitOK {
		t.Fatalf("text: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "127.0.0.2:5223") || !strings.Contains(out.String(), "[hacx #1]") {
		t.Errorf("text output:\n%s", out.String())
	}
	if code := run(context.Background(), append(base, "--fallback=sometimes", "found.test"), &stdio{out: &out, err: &errb}); code != exitUsage {
		t.Errorf("bad --fallback: exit %d", code)
	}
	if code := run(context.Background(), []string{"lookup"}, &stdio{out: &out, err: &errb}); code != exitUsage {
		t.Errorf("no domain: exit %d", code)
	}
}

// TestLookupCommand_Scenarios runs "hacx lookup" against one loopback
// publisher per situation a user meets, and checks the exit status and
// that the text output says what happened.
func TestLookupCommand_Scenarios(t *testing.T) {
	ca, err := hacxtest.NewCA("lookup scenarios")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"ok.test", "redir.test", "hop.test", "tohttp.test", "srv.test", "nothing.test",
		"err500.test", "big.test", "stale.test", "hm2.test", "legacy.test"}
	cert, err := ca.Issue(names...)
	if err != nil {
		t.Fatal(err)
	}
	wrongCert, err := ca.Issue("someone-else.test")
	if err != nil {
		t.Fatal(err)
	}
	const doc = `<hacx ttl="%s"><tls ip="127.0.0.2" port="5223" priority="1" sni="%s"/></hacx>`
	const xmlPath = "/.well-known/xmpp-client.xml"
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch host, path := r.Host, r.URL.Path; {
		case host == "ok.test" && path == xmlPath, host == "wrongname.test" && path == xmlPath:
			fmt.Fprintf(w, doc, "60", host)
		case host == "stale.test" && path == xmlPath:
			fmt.Fprintf(w, doc, "0", host) // expires at once (H5)
		case host == "redir.test" && path == xmlPath:
			http.Redirect(w, r, "https://hop.test/first", http.StatusFound)
		case host == "hop.test" && path == "/first":
			http.Redirect(w, r, "https://hop.test/second", http.StatusMovedPermanently)
		case host == "hop.test" && path == "/second":
			fmt.Fprintf(w, doc, "60", "redir.test")
		case host == "tohttp.test":
			http.Redirect(w, r, "http://tohttp.test"+path, http.StatusFound)
		case host == "err500.test":
			http.Error(w, "publisher broken", http.StatusInternalServerError)
		case host == "big.test" && path == xmlPath:
			w.Write([]byte("<hacx>" + strings.Repeat("<!-- padding -->", 8192) + "</hacx>"))
		case host == "hm2.test" && path == "/.well-known/host-meta.json":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"xmpp": {"ttl": 60}, "links": [{"rel": "urn:xmpp:alt-connections:tls", "port": 5223, "priority": 1, "sni": "hm2.test", "ips": ["127.0.0.6"]}]}`))
		default:
			http.NotFound(w, r)
		}
	})
	start := func(c *tls.Certificate) *httptest.Server {
		srv := httptest.NewUnstartedServer(handler)
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{*c}}
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv
	}
	good, wrong := start(cert), start(wrongCert)
	var staleDown atomic.Bool
	testDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		target := good.Listener.Addr().String()
		switch {
		case addr == "wrongname.test:443":
			target = wrong.Listener.Addr().String()
		case addr == "stale.test:443" && staleDown.Load():
			return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("publisher down (test)")}
		}
		var d net.Dialer
		return d.DialContext(ctx, network, target)
	}
	t.Cleanup(func() { testDialContext = nil })

	dnsSrv, err := testbed.NewDNSServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dnsSrv.Close() })
	if err := dnsSrv.Add(
		"_xmpps-client._tcp.srv.test. 60 IN SRV 5 0 5223 xmpp.srv.test.",
		"xmpp.srv.test. 60 IN A 127.0.0.5",
		// Present but must not be used: Host Meta 2 replaces SRV (X3).
		"_xmpps-client._tcp.hm2.test. 60 IN SRV 5 0 5223 xmpp.hm2.test.",
		"xmpp.hm2.test. 60 IN A 127.0.0.7",
		// Nothing published, only an address: the F1 fallback.
		"legacy.test. 60 IN A 127.0.0.8",
	); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"lookup", "--ca-file", caFile, "--resolver", dnsSrv.Addr, "--cache-dir", filepath.Join(dir, "cache"),
		"--state-dir", dir, "--socks", "none"}
	lookup := func(t *testing.T, domain string) (int, string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		code := run(context.Background(), append(base[:len(base):len(base)], domain), &stdio{out: &out, err: &errb})
		return code, out.String(), errb.String()
	}

	tests := []struct {
		name, domain string
		code         int
		out          []string // in stdout, in this order
		errOut       string   // in stderr
		notOut       string   // never in stdout
	}{
		{"200", "ok.test", exitOK, []string{"1 route(s)", "127.0.0.2:5223", "[hacx #1]", "hacx       found"}, "", "error"},
		{"RedirectChain_H3", "redir.test", exitOK,
			[]string{"127.0.0.2:5223", "redirected to https://hop.test/first", "redirected to https://hop.test/second"}, "", ""},
		{"RedirectToHTTPRefused_H3", "tohttp.test", exitFail,
			[]string{"0 route(s)", "hacx       error", "to http://tohttp.test/.well-known/xmpp-client.xml refused: not https"}, "no route found, 3 source(s) failed", ""},
		{"404ThenSRV_X1", "srv.test", exitOK,
			[]string{"127.0.0.5:5223", "[srv", "hacx       none", "404"}, "", ""},
		{"404AndNothing_H4", "nothing.test", exitNothing,
			[]string{"0 route(s)", "hacx       none", "srv        none"}, "nothing published", "error"},
		{"OnlyTheFallback_F1", "legacy.test", exitNothing,
			[]string{"2 route(s)", "starttls", "127.0.0.8:5222", "tls", "127.0.0.8:5223", "fallback   found"},
			"a client would try the domain itself", "error"},
		{"500_H4", "err500.test", exitFail, []string{"hacx       error", "status 500"}, "status 500", ""},
		{"OversizedBody_H6", "big.test", exitFail, []string{"hacx       error", "larger than 65536 bytes"}, "", ""},
		{"WrongCertName_H2", "wrongname.test", exitFail, []string{"hacx       error", "webpki", "wrongname.test"}, "", ""},
		{"HostMeta2SkipsSRV_X3", "hm2.test", exitOK,
			[]string{"127.0.0.6:5223", "host-meta2 found", "srv        skipped", "Host Meta 2"}, "", "127.0.0.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := lookup(t, tt.domain)
			if code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			rest := out
			for _, want := range tt.out {
				i := strings.Index(rest, want)
				if i < 0 {
					t.Errorf("stdout lacks %q (in order)", want)
					continue
				}
				rest = rest[i+len(want):]
			}
			if tt.notOut != "" && strings.Contains(out, tt.notOut) {
				t.Errorf("stdout has %q", tt.notOut)
			}
			if !strings.Contains(errOut, tt.errOut) {
				t.Errorf("stderr lacks %q", tt.errOut)
			}
			if t.Failed() || testing.Verbose() {
				t.Logf("stdout:\n%s\nstderr:\n%s", out, errOut)
			}
		})
	}

	t.Run("StaleCachePublisherDown_H5", func(t *testing.T) {
		if code, out, errOut := lookup(t, "stale.test"); code != exitOK {
			t.Fatalf("first lookup: exit %d\n%s%s", code, out, errOut)
		}
		staleDown.Store(true)
		code, out, errOut := lookup(t, "stale.test")
		if code != exitOK {
			t.Errorf("exit %d, want %d (stale routes still count)", code, exitOK)
		}
		for _, want := range []string{"127.0.0.2:5223", "WARNING: using a stale HACX document, expired 20",
			"from cache (STALE), fetched 20", "publisher down (test)"} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q", want)
			}
		}
		if !strings.Contains(errOut, "stale") {
			t.Errorf("stderr does not warn about the stale document: %q", errOut)
		}
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", out, errOut)
		}
	})
}

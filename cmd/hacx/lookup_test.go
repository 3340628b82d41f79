package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hacx.dev/hacx/hacxtest"
)

func TestLookupCommand(t *testing.T) {
	ca, err := hacxtest.NewCA("lookup")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("found.test", "none.test", "broken.test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Host {
		case "found.test":
			w.Write([]byte(`<hacx ttl="60"><tls ip="127.0.0.2" port="5223" priority="1" sni="found.test"/></hacx>`))
		case "broken.test":
			http.Error(w, "down", 500)
		default:
			http.NotFound(w, r)
		}
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	testDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}
	defer func() { testDialContext = nil }()
	dnsSrv, err := hacxtest.NewDNSServer()
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
					Method, Addr, Source string
					SNI                  *string
				} `json:"routes"`
				Sources []struct{ Source, Status string } `json:"sources"`
			}
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			if res.Domain != tt.domain || res.Sources[0].Source != "hacx" || res.Sources[0].Status != tt.status {
				t.Errorf("json = %s", out.String())
			}
			if tt.code == exitOK && (len(res.Routes) != 1 || res.Routes[0].Addr != "127.0.0.2:5223" || res.Routes[0].SNI == nil) {
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

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"

	"hacx.dev/hacx"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/internal/testbed"
)

// socksCLI is example.test on loopback (publisher and direct-TLS XMPP
// server), a SOCKS proxy that knows the publisher by name, and the common
// flags of a run.
type socksCLI struct {
	proxy  *loopback.SOCKSServer
	names  map[string]string // what the proxy resolves
	ca     *hacxtest.CA
	xmpp   string // the route's ip:port
	base   []string
	direct *atomic.Int64 // connections made without the proxy
}

func newSOCKSCLI(t *testing.T) *socksCLI {
	t.Helper()
	ca, cert := testCert(t, "cli-socks", checkDomain)
	xmpp := startCheckXMPP(t, cert, checkDomain)
	doc, err := hacx.Marshal(&hacx.Document{TTL: 60, Records: []hacx.Record{
		{Method: hacx.MethodTLS, IP: xmpp.Addr(), Port: xmpp.Port(), Priority: 1, SNI: checkDomain, HasSNI: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	pub := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != hacx.Client.WellKnownPath() {
			http.NotFound(w, r)
			return
		}
		w.Write(doc)
	}))
	pub.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
	pub.Config.ErrorLog = log.New(io.Discard, "", 0)
	pub.StartTLS()
	t.Cleanup(pub.Close)
	names := map[string]string{checkDomain + ":443": pub.Listener.Addr().String()}
	proxy, err := loopback.NewSOCKSServer(names)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })

	// Without a proxy, names reach the publisher directly, and are counted.
	direct := new(atomic.Int64)
	testDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		direct.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, pub.Listener.Addr().String())
	}
	t.Cleanup(func() { testDialContext = nil })

	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALL_PROXY", "")
	t.Setenv("all_proxy", "")
	return &socksCLI{proxy: proxy, names: names, ca: ca, xmpp: xmpp.String(), direct: direct,
		base: []string{"--ca-file", caFile, "--no-cache", "--state-dir", dir, "--fallback=never"}}
}

func (s *socksCLI) run(t *testing.T, args ...string) (code int, out, errOut string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, &stdio{in: strings.NewReader(""), out: &o, err: &e})
	return code, o.String(), e.String()
}

func TestSOCKS_LookupNamesTheProxyWithoutPassword_T1(t *testing.T) {
	s := newSOCKSCLI(t)
	url := "socks5h://tor:hunter2pw@" + s.proxy.Addr
	// No DNS at all (--resolver none): the proxy sees the fetch alone.
	code, out, errOut := s.run(t, append([]string{"lookup", "--json", "--socks", url, "--resolver", "none"}, append(s.base, checkDomain)...)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct {
		Proxy   string `json:"proxy"`
		Sources []struct {
			Source, Status, DANE string
		} `json:"sources"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Proxy != "socks5h://"+s.proxy.Addr || strings.Contains(out+errOut, "hunter2pw") {
		t.Errorf("proxy %q; output:\n%s", res.Proxy, out)
	}
	if len(res.Sources) == 0 || res.Sources[0].DANE != "unavailable over SOCKS" {
		t.Errorf("sources %+v: want DANE unavailable over SOCKS", res.Sources)
	}
	got := s.proxy.Connects()
	if len(got) != 1 || !got[0].IsName || got[0].Target() != checkDomain+":443" || got[0].User != "tor" {
		t.Errorf("CONNECTs %v: want %s:443 by name, user tor", got, checkDomain)
	}

	code, out, _ = s.run(t, append([]string{"lookup", "--socks", url, "--resolver", "none"}, append(s.base, checkDomain)...)...)
	if code != exitOK || !strings.Contains(out, "proxy: socks5h://"+s.proxy.Addr+"\n") || strings.Contains(out, "hunter2pw") {
		t.Errorf("text output (exit %d):\n%s", code, out)
	}
	if s.direct.Load() != 0 {
		t.Errorf("%d connections around the proxy", s.direct.Load())
	}
}

func TestSOCKS_CheckThroughTheProxy_T1(t *testing.T) {
	s := newSOCKSCLI(t)
	url := "socks5h://tor:hunter2pw@" + s.proxy.Addr
	code, out, errOut := s.run(t, append([]string{"check", "--json", "--socks", url, "--resolver", "none"}, append(s.base[:len(s.base)-1], checkDomain)...)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	var rep checkReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Proxy != "socks5h://"+s.proxy.Addr || rep.Result != resultOK || strings.Contains(out+errOut, "hunter2pw") {
		t.Errorf("report proxy %q result %q\n%s", rep.Proxy, rep.Result, out)
	}
	got := s.proxy.Connects()
	if len(got) != 2 || got[1].IsName || got[1].Target() != s.xmpp {
		t.Errorf("CONNECTs %v: want the fetch by name, then the route %s by IP", got, s.xmpp)
	}

	code, out, _ = s.run(t, append([]string{"check", "--socks", url, "--resolver", "none"}, append(s.base[:len(s.base)-1], checkDomain)...)...)
	if code != exitOK || !strings.Contains(out, "proxy: socks5h://"+s.proxy.Addr+"\n") || strings.Contains(out, "hunter2pw") {
		t.Errorf("text output (exit %d):\n%s", code, out)
	}
	if s.direct.Load() != 0 {
		t.Errorf("%d connections around the proxy", s.direct.Load())
	}
}

func TestSOCKS_AllProxyAndNone(t *testing.T) {
	s := newSOCKSCLI(t)
	t.Setenv("ALL_PROXY", "socks5h://"+s.proxy.Addr)
	code, out, errOut := s.run(t, append([]string{"lookup", "--resolver", "none"}, append(s.base, checkDomain)...)...)
	if code != exitOK || !strings.Contains(out, "proxy: socks5h://"+s.proxy.Addr) || len(s.proxy.Connects()) != 1 {
		t.Errorf("ALL_PROXY not honoured (exit %d, %v): %s%s", code, s.proxy.Connects(), out, errOut)
	}
	if s.direct.Load() != 0 {
		t.Errorf("%d connections around the proxy", s.direct.Load())
	}

	code, out, errOut = s.run(t, append([]string{"lookup", "--socks", "none"}, append(s.base, checkDomain)...)...)
	if code != exitOK || strings.Contains(out, "proxy:") || len(s.proxy.Connects()) != 1 || s.direct.Load() == 0 {
		t.Errorf("--socks none (exit %d, %v, %d direct): %s%s", code, s.proxy.Connects(), s.direct.Load(), out, errOut)
	}

	t.Setenv("ALL_PROXY", "http://u:leakme@127.0.0.1:1")
	code, _, errOut = s.run(t, append([]string{"lookup"}, append(s.base, checkDomain)...)...)
	if code != exitUsage || strings.Contains(errOut, "leakme") {
		t.Errorf("bad ALL_PROXY: exit %d: %s", code, errOut)
	}
	code, _, errOut = s.run(t, append([]string{"check", "--socks", "socks4://127.0.0.1:1"}, append(s.base[:len(s.base)-1], checkDomain)...)...)
	if code != exitUsage {
		t.Errorf("bad --socks: exit %d: %s", code, errOut)
	}
}

// --resolver with --socks: the server is asked through the proxy, as DNS
// over TCP (T1: no DNS outside the proxy); the sources that asked say so,
// and nothing warns.
func TestSOCKS_ResolverThroughTheProxy_T1(t *testing.T) {
	s := newSOCKSCLI(t)
	dnsSrv, err := testbed.NewDNSServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dnsSrv.Close() })
	url := "socks5h://" + s.proxy.Addr
	want := "asked " + dnsSrv.Addr + " through the proxy"
	for _, cmd := range []string{"lookup", "check"} {
		base := slices.Clone(s.base)
		if cmd == "check" {
			base = base[:len(base)-1] // check has no --fallback
		}
		args := append([]string{cmd, "--json", "--socks", url, "--resolver", dnsSrv.Addr}, append(base, checkDomain)...)
		code, out, errOut := s.run(t, args...)
		if code != exitOK {
			t.Fatalf("%s: exit %d: %s\n%s", cmd, code, errOut, out)
		}
		if strings.Contains(errOut, "warning") {
			t.Errorf("%s: stderr %q: nothing to warn about", cmd, errOut)
		}
		if !strings.Contains(out, want) {
			t.Errorf("%s: output does not say %q:\n%s", cmd, want, out)
		}
	}
	if len(dnsSrv.Queries()) == 0 {
		t.Error("the resolver was never asked: the test proves nothing")
	}
	for _, q := range dnsSrv.Queries() {
		if q.Net != "tcp" {
			t.Errorf("query %v: want DNS over TCP through the proxy", q)
		}
	}
	sawDNS := false
	for _, c := range s.proxy.Connects() {
		sawDNS = sawDNS || c.Target() == dnsSrv.Addr
	}
	if !sawDNS {
		t.Errorf("CONNECTs %v: none to the resolver %s", s.proxy.Connects(), dnsSrv.Addr)
	}
	// The help of --resolver says it.
	_, _, help := s.run(t, "lookup", "--help")
	if !strings.Contains(help, "through the proxy") || !strings.Contains(help, defaultProxyResolver) {
		t.Errorf("lookup --help does not say that DNS goes through the proxy, to %s by default:\n%s", defaultProxyResolver, help)
	}
	if s.direct.Load() != 0 {
		t.Errorf("%d connections around the proxy", s.direct.Load())
	}
}

// Without --resolver, --socks sends DNS to defaultProxyResolver (DNS over
// HTTPS to an IP address) through the proxy (T1). Here the test proxy
// takes that address to a DoH server on loopback that answers from zones
// signed at test time, anchored with --trust-anchor: the answers are
// validated (D1), and the only DNS is the proxy's CONNECT to the resolver.
func TestSOCKS_DefaultResolverThroughTheProxy_T1(t *testing.T) {
	s := newSOCKSCLI(t)
	auth := testbed.NewAuthority()
	zones := map[string]*testbed.Zone{}
	var anchor string
	for _, origin := range []string{".", "test.", checkDomain + "."} {
		z, err := testbed.NewZone(origin, 0)
		if err != nil {
			t.Fatal(err)
		}
		zones[origin] = z
		if origin == "." {
			anchor = z.TrustAnchor()
		}
	}
	if err := zones["."].Delegate("test.", zones["test."].DS()); err != nil {
		t.Fatal(err)
	}
	if err := zones["test."].Delegate(checkDomain+".", zones[checkDomain+"."].DS()); err != nil {
		t.Fatal(err)
	}
	for origin, z := range zones {
		rrs, err := z.Signed()
		if err != nil {
			t.Fatal(err)
		}
		auth.SetZone(origin, rrs)
	}
	var queries atomic.Int64
	cert, err := s.ca.Issue("1.1.1.1")
	if err != nil {
		t.Fatal(err)
	}
	doh := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries.Add(1)
		body, _ := io.ReadAll(r.Body)
		q := new(dns.Msg)
		if r.URL.Path != "/dns-query" || r.Header.Get("Content-Type") != "application/dns-message" || q.Unpack(body) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		wire, err := auth.Answer(q).Pack()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/dns-message")
		w.Write(wire)
	}))
	doh.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
	doh.Config.ErrorLog = log.New(io.Discard, "", 0)
	doh.StartTLS()
	t.Cleanup(doh.Close)
	names := maps.Clone(s.names)
	names["1.1.1.1:443"] = doh.Listener.Addr().String()
	proxy, err := loopback.NewSOCKSServer(names)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	anchorFile := filepath.Join(t.TempDir(), "root.ds")
	if err := os.WriteFile(anchorFile, []byte(anchor+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	url := "socks5h://" + proxy.Addr
	code, out, errOut := s.run(t, append([]string{"lookup", "--json", "--socks", url, "--trust-anchor", anchorFile}, append(s.base, checkDomain)...)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	var res struct {
		Sources []struct{ DANE, DNSSEC, Note string } `json:"sources"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Sources) == 0 || res.Sources[0].DANE != "no-tlsa" || !strings.Contains(res.Sources[0].DNSSEC, "_443._tcp."+checkDomain+" TLSA: secure") ||
		!strings.Contains(res.Sources[0].Note, "asked "+defaultProxyResolver+" through the proxy") {
		t.Errorf("sources %+v: want a secure denial of TLSA from %s through the proxy", res.Sources, defaultProxyResolver)
	}
	if queries.Load() == 0 {
		t.Error("the DoH server was never asked")
	}
	// The text report says the same, under the source.
	code, out, errOut = s.run(t, append([]string{"lookup", "--socks", url, "--trust-anchor", anchorFile}, append(s.base, checkDomain)...)...)
	if want := "DNSSEC _443._tcp." + checkDomain + " TLSA: secure"; code != exitOK || !strings.Contains(out, want) {
		t.Errorf("text report (exit %d) does not say %q:\n%s%s", code, want, out, errOut)
	}
	var sawResolver bool
	for _, c := range proxy.Connects() {
		sawResolver = sawResolver || (c.Target() == "1.1.1.1:443" && !c.IsName)
	}
	if !sawResolver {
		t.Errorf("CONNECTs %v: none to the resolver 1.1.1.1:443", proxy.Connects())
	}
	if s.direct.Load() != 0 {
		t.Errorf("%d connections around the proxy", s.direct.Load())
	}
}

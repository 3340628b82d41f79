package discover

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"hacx.dev/hacx"
)

func mustAdd(t *testing.T, w *world, rrs ...string) {
	t.Helper()
	if err := w.dns.Add(rrs...); err != nil {
		t.Fatal(err)
	}
}

func TestSRV_FallbackOn404_MergedRoutes_X1(t *testing.T) {
	// The same records and routes whichever way answers are trusted (D1).
	for _, mode := range []DNSSEC{DNSSECValidate, DNSSECResolver, DNSSECOff} {
		t.Run(mode.String(), func(t *testing.T) { testSRVFallbackOn404(t, mode) })
	}
}

func testSRVFallbackOn404(t *testing.T, mode DNSSEC) {
	w := newWorld(t)
	w.serve(files{}, []string{"example.test"}, "example.test") // 404 everywhere
	mustAdd(t, w,
		"_xmpps-client._tcp.example.test. 60 IN SRV 5 0 5223 tls.example.test.",
		"_xmpp-client._tcp.example.test. 60 IN SRV 10 0 5222 plain.example.test.",
		"tls.example.test. 60 IN A 127.0.0.2",
		"tls.example.test. 60 IN AAAA ::1",
		"plain.example.test. 60 IN A 127.0.0.3",
	)
	r := w.resolver()
	r.DNSSEC = mode
	res, err := r.Lookup(context.Background(), "example.test", hacx.Client)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		method hacx.Method
		addr   string
	}{{hacx.MethodTLS, "[::1]:5223"}, {hacx.MethodTLS, "127.0.0.2:5223"}, {hacx.MethodStartTLS, "127.0.0.3:5222"}}
	if len(res.Routes) != len(want) {
		t.Fatalf("routes = %v", res.Routes)
	}
	for i, wnt := range want {
		got := res.Routes[i]
		if got.Method != wnt.method || got.Addr.String() != wnt.addr || got.Source != hacx.SourceSRV || got.SNI != "example.test" || got.Index != 1 {
			t.Errorf("route %d = %+v, want %s %s", i, got, wnt.method, wnt.addr)
		}
	}
	if res.Routes[0].Host != "tls.example.test" || string(res.Routes[0].ALPN) != "xmpp-client" || res.Routes[2].ALPN != nil {
		t.Errorf("host/alpn: %+v", res.Routes[0])
	}
}

func TestSRV_TargetDotMeansNoService_X1(t *testing.T) {
	w := newWorld(t)
	w.serve(files{}, []string{"example.test"}, "example.test")
	mustAdd(t, w,
		"_xmpps-client._tcp.example.test. 60 IN SRV 0 0 0 .",
		"_xmpp-client._tcp.example.test. 60 IN SRV 0 0 0 .",
	)
	res, err := w.resolver().Lookup(context.Background(), "example.test", hacx.Client)
	if err != nil || len(res.Routes) != 0 {
		t.Fatalf("err %v routes %v", err, res.Routes)
	}
	n := 0
	for _, s := range res.Sources {
		if s.Source == hacx.SourceSRV {
			n++
			if s.Status != StatusNone || !strings.Contains(s.Note, `"."`) {
				t.Errorf("SRV source = %+v", s)
			}
		}
	}
	if n != 2 {
		t.Errorf("%d SRV sources", n)
	}
}

func TestSRV_ServerKindNames_X1(t *testing.T) {
	w := newWorld(t)
	w.serve(files{}, []string{"example.test"}, "example.test")
	mustAdd(t, w,
		"_xmpps-server._tcp.example.test. 60 IN SRV 0 0 5270 s2s.example.test.",
		"s2s.example.test. 60 IN A 127.0.0.4",
	)
	res, err := w.resolver().Lookup(context.Background(), "example.test", hacx.Server)
	if err != nil || len(res.Routes) != 1 || string(res.Routes[0].ALPN) != "xmpp-server" {
		t.Fatalf("err %v routes %v", err, res.Routes)
	}
}

func TestFallback_Policy(t *testing.T) {
	w := newWorld(t)
	w.serve(files{"/.well-known/xmpp-client.xml": docA}, []string{"example.test"}, "example.test")
	mustAdd(t, w,
		"_xmpps-client._tcp.example.test. 60 IN SRV 0 0 5223 tls.example.test.",
		"tls.example.test. 60 IN A 127.0.0.5",
	)
	for _, tt := range []struct {
		fb     Fallback
		routes int
	}{{FallbackAuto, 2}, {FallbackNever, 2}, {FallbackAlways, 3}} {
		r := w.resolver()
		r.Fallback = tt.fb
		res, err := r.Lookup(context.Background(), "example.test", hacx.Client)
		if err != nil || len(res.Routes) != tt.routes {
			t.Errorf("fallback %s: err %v, %d routes, want %d", tt.fb, err, len(res.Routes), tt.routes)
		}
	}
}

func TestFallback_FetchErrorWithoutCache_H4_X1(t *testing.T) {
	w := newWorld(t) // no HTTPS server at all: connection refused
	mustAdd(t, w,
		"_xmpps-client._tcp.example.test. 60 IN SRV 0 0 5223 tls.example.test.",
		"tls.example.test. 60 IN A 127.0.0.5",
	)
	res, err := w.resolver().Lookup(context.Background(), "example.test", hacx.Client)
	if err != nil || len(res.Routes) != 1 || res.Sources[0].Status != StatusError {
		t.Fatalf("err %v routes %v hacx source %+v", err, res.Routes, res.Sources[0])
	}
}

const hostMeta2 = `{
  "xmpp": {"ttl": 300, "public-key-pins-sha-256": ["47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="]},
  "links": [
    {"rel": "urn:xmpp:alt-connections:tls", "port": 5223, "priority": 10, "weight": 5, "sni": "example.test", "ips": ["127.0.0.6", "::1"]},
    {"rel": "urn:xmpp:alt-connections:websocket", "href": "wss://ws.example.test/xmpp", "priority": 20, "ips": ["127.0.0.7"]},
    {"rel": "urn:xmpp:alt-connections:quic", "port": 443, "priority": 30, "ips": ["127.0.0.8"]},
    {"rel": "urn:xmpp:alt-connections:s2s-tls", "port": 5270, "ips": ["127.0.0.9"]}
  ]
}`

func TestHostMeta2_RoutesAndSkipsSRV_X3(t *testing.T) {
	w := newWorld(t)
	w.serve(files{"/.well-known/host-meta.json": hostMeta2}, []string{"example.test"}, "example.test")
	mustAdd(t, w,
		"_xmpps-client._tcp.example.test. 60 IN SRV 0 0 5223 tls.example.test.",
		"tls.example.test. 60 IN A 127.0.0.5",
	)
	res, err := w.resolver().Lookup(context.Background(), "example.test", hacx.Client)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range w.dns.Queries() {
		if q.Type == "SRV" {
			t.Errorf("SRV queried despite Host Meta 2: %v", q)
		}
	}
	if len(res.Routes) != 4 {
		t.Fatalf("routes = %v (s2s links must be skipped)", res.Routes)
	}
	if q := res.Routes[3]; q.Method != hacx.MethodQUIC || q.Addr != netip.MustParseAddrPort("127.0.0.8:443") || string(q.ALPN) != "xmpp-client" {
		t.Errorf("quic route = %+v (Q1)", q)
	}
	ws := res.Routes[2]
	if ws.Method != hacx.MethodWebSocket || ws.Addr != netip.MustParseAddrPort("127.0.0.7:443") || ws.URL != "wss://ws.example.test/xmpp" || ws.Host != "ws.example.test" || ws.Index != 2 {
		t.Errorf("websocket route = %+v", ws)
	}
	for _, r := range res.Routes {
		if r.Source != hacx.SourceHostMeta2 || len(r.Pins) != 1 || !r.Pins[0].Usable() {
			t.Errorf("route %v: source %s pins %v", r, r.Source, r.Pins)
		}
	}
	if res.Routes[0].Method != hacx.MethodTLS || string(res.Routes[0].ALPN) != "xmpp-client" || res.Routes[0].SNI != "example.test" {
		t.Errorf("tls route = %+v", res.Routes[0])
	}
}

const xrd = `<?xml version='1.0' encoding='utf-8'?>
<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>
  <Link rel="urn:xmpp:alt-connections:xbosh" href="https://web.example.test:5443/http-bind"/>
  <Link rel="urn:xmpp:alt-connections:websocket" href="wss://web.example.test:5443/ws"/>
  <Link rel="lrdd" href="https://example.test/x"/>
</XRD>`

func TestHostMetaXRD_LegacyLinksResolved_X2(t *testing.T) {
	w := newWorld(t)
	w.serve(files{"/.well-known/host-meta": xrd}, []string{"example.test"}, "example.test")
	mustAdd(t, w, "web.example.test. 60 IN A 127.0.0.10")
	r := w.resolver()
	res, err := r.Lookup(context.Background(), "example.test", hacx.Client)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Routes) != 2 {
		t.Fatalf("routes = %v", res.Routes)
	}
	for _, rt := range res.Routes {
		if rt.Source != hacx.SourceHostMeta || rt.Addr.String() != "127.0.0.10:5443" || rt.Priority != legacyPriority || rt.Host != "web.example.test" {
			t.Errorf("route %+v", rt)
		}
	}
}

func TestLookupTLSA_ADBit_X4(t *testing.T) {
	w := newWorld(t)
	mustAdd(t, w, "_443._tcp.example.test. 60 IN TLSA 3 1 1 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	r := w.resolver()
	r.DNSSEC = DNSSECResolver
	ctx := context.Background()
	recs, secure, err := r.LookupTLSA(ctx, "example.test", 443)
	if err != nil || len(recs) != 1 || secure {
		t.Fatalf("no AD: recs %d secure %v err %v", len(recs), secure, err)
	}
	w.dns.SetAD(true)
	r = w.resolver() // a new one: the first remembers the answer for its TTL
	r.DNSSEC = DNSSECResolver
	recs, secure, err = r.LookupTLSA(ctx, "example.test.", 443)
	if err != nil || len(recs) != 1 || !secure {
		t.Fatalf("AD from configured resolver: recs %d secure %v err %v", len(recs), secure, err)
	}
	q := w.dns.Queries()
	if last := q[len(q)-1]; last.Name != "_443._tcp.example.test." || last.Type != "TLSA" || !last.DO {
		t.Errorf("query = %+v, want TLSA _443._tcp.example.test. with DO", last)
	}
	recs, _, err = r.LookupTLSA(ctx, "none.example.test", 443)
	if err != nil || len(recs) != 0 {
		t.Errorf("NXDOMAIN: %v %v", recs, err)
	}
	w.dns.SetRcode("_443._tcp.broken.test", dns.RcodeServerFailure)
	if _, _, err := r.LookupTLSA(ctx, "broken.test", 443); err == nil {
		t.Error("SERVFAIL not reported")
	}
}

func TestResolverTrust_OnlyLoopbackOrConfigured_X4(t *testing.T) {
	tests := []struct {
		conf     string
		explicit string
		trusted  bool
	}{
		{"nameserver 127.0.0.53\n", "", true},
		{"nameserver ::1\n", "", true},
		{"nameserver 192.0.2.1\n", "", false}, // on paper only: nothing is sent
		{"nameserver 192.0.2.1\n", "192.0.2.1:53", true},
	}
	for _, tt := range tests {
		r := &Resolver{DNSServer: tt.explicit}
		_, trusted, err := r.dnsServerFrom(strings.NewReader(tt.conf))
		if err != nil || trusted != tt.trusted {
			t.Errorf("%q explicit %q: trusted %v err %v, want %v", tt.conf, tt.explicit, trusted, err, tt.trusted)
		}
	}
}

func TestLookupTLSA_UntrustedResolverADIgnored_X4(t *testing.T) {
	w := newWorld(t)
	w.dns.SetAD(true)
	mustAdd(t, w, "_443._tcp.example.test. 60 IN TLSA 3 1 1 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	r := w.resolver()
	r.DNSSEC = DNSSECResolver
	r.dnsUntrusted = true // as if taken from resolv.conf and not on loopback
	recs, secure, err := r.LookupTLSA(context.Background(), "example.test", 443)
	if err != nil || len(recs) != 1 || secure {
		t.Fatalf("untrusted AD: recs %d secure %v err %v", len(recs), secure, err)
	}
}

func TestDANE_SecureMismatchFailsBootstrap_X4(t *testing.T) {
	w := newWorld(t)
	w.serve(files{"/.well-known/xmpp-client.xml": docA}, []string{"example.test"}, "example.test")
	w.dns.SetAD(true)
	mustAdd(t, w, "_443._tcp.example.test. 60 IN TLSA 3 1 1 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	r := w.resolver()
	r.DNSSEC = DNSSECResolver
	_, err := lookupNever(t, r, "example.test")
	var te *TLSError
	if !errorsAs(err, &te) || te.Check != "dane" {
		t.Fatalf("err = %v, want a dane TLSError", err)
	}
}

func TestDANE_UnsignedFallsBackToWebPKI_X4(t *testing.T) {
	w := newWorld(t)
	w.serve(files{"/.well-known/xmpp-client.xml": docA}, []string{"example.test"}, "example.test")
	mustAdd(t, w, "_443._tcp.example.test. 60 IN TLSA 3 1 1 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	r := w.resolver()
	r.DNSSEC = DNSSECResolver
	res, err := lookupNever(t, r, "example.test")
	if err != nil || res.Sources[0].DANE != "unsigned" {
		t.Fatalf("err %v DANE %q", err, res.Sources[0].DANE)
	}
	// Validating in process, with a server that passes no DNSSEC records
	// (the test server has no root zone): nothing proven, WebPKI decides.
	res, err = lookupNever(t, w.resolver(), "example.test")
	if err != nil || res.Sources[0].DANE != "not validated" || !strings.Contains(res.Sources[0].DNSSEC, "TLSA: indeterminate") {
		t.Fatalf("err %v DANE %q DNSSEC %q", err, res.Sources[0].DANE, res.Sources[0].DNSSEC)
	}
}

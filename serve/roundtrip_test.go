package serve_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http/httptest"
	"slices"
	"testing"

	"hacx.dev/hacx"
	"hacx.dev/hacx/discover"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/serve"
)

const roundTripTOML = `
[[domain]]
name = "example.test"
ttl = 300

[[domain.client]]
method = "tls"
ip = "127.0.0.2"
port = 5223
priority = 5
weight = 0
sni = "xmpp.example.test"
alpn = "xmpp-client"

[[domain.client]]
method = "websocket"
ip = "127.0.0.3"
port = 443
priority = 10
url = "wss://chat.example.test/xmpp-websocket"

[[domain.client]]
method = "bosh"
ip = "::1"
port = 8443
priority = 20
sni = "chat.example.test"
url = "https://chat.example.test/http-bind"

[[domain.server]]
method = "tls"
ip = "127.0.0.4"
port = 5270
priority = 1
`

// key is what a route must carry through publishing and discovery
// unchanged (A4-A8): method, address, SNI (absent vs set), ALPN, URL.
func key(r hacx.Route) string {
	return fmt.Sprintf("%s %s sni=%t:%q alpn=%q url=%s", r.Method, r.Addr, r.HasSNI, r.SNI, r.ALPN, r.URL)
}

// TestRoundTrip_ServeThenDiscover_P5_H1: what hacx serve publishes from a
// config, fetched over verified HTTPS by the discover package, gives back
// the configured routes: from the HACX documents of both kinds, and the
// same WebSocket and BOSH endpoints from host-meta (X2, X3, P5).
func TestRoundTrip_ServeThenDiscover_P5_H1(t *testing.T) {
	cfg, err := serve.ParseConfig([]byte(roundTripTOML), "roundtrip.toml")
	if err != nil {
		t.Fatal(err)
	}
	h, err := serve.NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := hacxtest.NewCA("roundtrip")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("example.test")
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(h)
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
	ts.StartTLS()
	defer ts.Close()

	var dials []string
	r := &discover.Resolver{
		Roots: ca.Pool(),
		NoDNS: true, // no SRV: every route below came through HTTPS
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials = append(dials, addr)
			var d net.Dialer
			return d.DialContext(ctx, network, ts.Listener.Addr().String())
		},
	}

	for _, tc := range []struct {
		kind hacx.Kind
		want []string
	}{
		{hacx.Client, []string{
			"tls 127.0.0.2:5223 sni=true:\"xmpp.example.test\" alpn=\"xmpp-client\" url=",
			"websocket 127.0.0.3:443 sni=false:\"\" alpn=\"\" url=wss://chat.example.test/xmpp-websocket",
			"bosh [::1]:8443 sni=true:\"chat.example.test\" alpn=\"\" url=https://chat.example.test/http-bind",
		}},
		{hacx.Server, []string{"tls 127.0.0.4:5270 sni=false:\"\" alpn=\"\" url="}},
	} {
		res, err := r.Lookup(context.Background(), "example.test", tc.kind)
		if err != nil {
			t.Fatalf("%v: %v", tc.kind, err)
		}
		var got []string
		for _, rt := range res.Routes {
			if rt.Source != hacx.SourceHACX {
				t.Errorf("%v: route from %s although HACX answered (X1)", tc.kind, rt.Source)
			}
			got = append(got, key(rt))
		}
		// Priorities differ, so the RFC 2782 order is the config's (C2).
		if !slices.Equal(got, tc.want) {
			t.Errorf("%v routes:\n got %q\nwant %q", tc.kind, got, tc.want)
		}
		if res.Document == nil || res.Document.TTL != 300 {
			t.Errorf("%v: document %+v, want ttl 300", tc.kind, res.Document)
		}
	}
	if len(dials) == 0 || dials[0] != "example.test:443" {
		t.Errorf("fetches dialled %q, want example.test:443 (H1)", dials)
	}

	// The same endpoints through host-meta, as a client without HACX
	// support sees them.
	r.Fallback = discover.FallbackAlways
	res, err := r.Lookup(context.Background(), "example.test", hacx.Client)
	if err != nil {
		t.Fatal(err)
	}
	bySource := map[hacx.Source][]string{}
	for _, rt := range res.Routes {
		bySource[rt.Source] = append(bySource[rt.Source], key(rt))
	}
	// Host Meta 2 carries the same addresses, ports (the BOSH record's
	// 8443 although its URL says 443) and ALPN; without an sni
	// parameter its websocket link sends the URL host (X3).
	wantHM2 := []string{
		"tls 127.0.0.2:5223 sni=true:\"xmpp.example.test\" alpn=\"xmpp-client\" url=",
		"websocket 127.0.0.3:443 sni=true:\"chat.example.test\" alpn=\"\" url=wss://chat.example.test/xmpp-websocket",
		"bosh [::1]:8443 sni=true:\"chat.example.test\" alpn=\"\" url=https://chat.example.test/http-bind",
	}
	if got := bySource[hacx.SourceHostMeta2]; !slices.Equal(got, wantHM2) {
		t.Errorf("host-meta2 routes:\n got %q\nwant %q", got, wantHM2)
	}
}

package discover

import (
	"context"
	"net/netip"
	"testing"

	"hacx.dev/hacx"
	"hacx.dev/hacx/hostmeta"
)

// TestHostMeta2_QUICLinks_Q1: quic and s2s-quic links become quic routes
// of their kind, one per ip, on UDP 443 when no port is given (XEP-0467),
// with the ALPN of the kind and the link's sni or else the domain.
func TestHostMeta2_QUICLinks_Q1(t *testing.T) {
	doc, err := hostmeta.ParseJSON([]byte(`{"xmpp": {"ttl": 60}, "links": [
	  {"rel": "urn:xmpp:alt-connections:quic", "priority": 1, "weight": 3, "ips": ["127.0.0.8", "::1"]},
	  {"rel": "urn:xmpp:alt-connections:quic", "port": 8443, "sni": "front.example.net", "ips": ["127.0.0.9"]},
	  {"rel": "urn:xmpp:alt-connections:s2s-quic", "port": 5270, "ips": ["127.0.0.10"]}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		kind hacx.Kind
		want []hacx.Route
	}{
		{hacx.Client, []hacx.Route{
			{Method: hacx.MethodQUIC, Addr: netip.MustParseAddrPort("127.0.0.8:443"), SNI: "example.test", ALPN: []byte("xmpp-client"), Priority: 1, Weight: 3, Index: 1},
			{Method: hacx.MethodQUIC, Addr: netip.MustParseAddrPort("[::1]:443"), SNI: "example.test", ALPN: []byte("xmpp-client"), Priority: 1, Weight: 3, Index: 1},
			{Method: hacx.MethodQUIC, Addr: netip.MustParseAddrPort("127.0.0.9:8443"), SNI: "front.example.net", ALPN: []byte("xmpp-client"), Index: 2},
		}},
		{hacx.Server, []hacx.Route{
			{Method: hacx.MethodQUIC, Addr: netip.MustParseAddrPort("127.0.0.10:5270"), SNI: "example.test", ALPN: []byte("xmpp-server"), Index: 3},
		}},
	}
	for _, tt := range tests {
		routes, notes := (&Resolver{}).hostMetaRoutes(context.Background(), "example.test", tt.kind, doc, hacx.SourceHostMeta2)
		if len(notes) != 0 || len(routes) != len(tt.want) {
			t.Fatalf("%s: routes %v notes %v", tt.kind, routes, notes)
		}
		for i, w := range tt.want {
			r := routes[i]
			if r.Method != w.Method || r.Addr != w.Addr || !r.HasSNI || r.SNI != w.SNI || string(r.ALPN) != string(w.ALPN) ||
				r.Priority != w.Priority || r.Weight != w.Weight || r.Index != w.Index || r.Host != "example.test" || r.Source != hacx.SourceHostMeta2 {
				t.Errorf("%s route %d = %+v, want %+v", tt.kind, i, r, w)
			}
		}
	}
}

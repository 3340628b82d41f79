package hacx

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
)

// TestRouteJSON_A5_A6_A9 pins the one JSON form of a route every report
// shares: sni and alpn absent when the route sends none (A5, A6), pins an
// array of "hash=base64" strings, one per acceptable key (A9).
func TestRouteJSON_A5_A6_A9(t *testing.T) {
	key1 := bytes.Repeat([]byte{1}, 32)
	key2 := bytes.Repeat([]byte{2}, 48)
	tests := []struct {
		name  string
		route Route
		want  string
	}{
		{
			name: "websocket: no sni, no alpn, no pins (A5, A6, A7)",
			route: Route{Method: MethodWebSocket, Addr: netip.MustParseAddrPort("192.0.2.1:443"),
				URL: "wss://xmpp.example.org/ws", Priority: 1, Source: SourceHACX, Index: 2},
			want: `{"source":"hacx","index":2,"method":"websocket","ip":"192.0.2.1","port":443,` +
				`"url":"wss://xmpp.example.org/ws","pins":[],"priority":1,"weight":0}`,
		},
		{
			name: "tls: sni, alpn and two pinned keys (A5, A6, A9)",
			route: Route{Method: MethodTLS, Addr: netip.MustParseAddrPort("[2001:db8::1]:5223"),
				SNI: "xmpp.example.org", HasSNI: true, ALPN: []byte("xmpp-client"),
				Pins: []Pin{
					{Digests: []Digest{{Hash: "sha-256", Value: key1}}},
					{Digests: []Digest{{Hash: "sha-256", Value: key1}, {Hash: "sha-384", Value: key2}}},
				},
				Priority: 10, Weight: 5, Source: SourceHACX, Index: 1},
			want: `{"source":"hacx","index":1,"method":"tls","ip":"2001:db8::1","port":5223,` +
				`"sni":"xmpp.example.org","alpn":"xmpp-client",` +
				`"pins":["sha-256=AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",` +
				`"sha-256=AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE= sha-384=AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIC"],` +
				`"priority":10,"weight":5}`,
		},
		{
			name: "srv: host known, no SNI flag means no sni even with a name set (A5)",
			route: Route{Method: MethodStartTLS, Addr: netip.MustParseAddrPort("192.0.2.7:5222"),
				SNI: "ignored.example.org", Host: "xmpp.example.org", Source: SourceSRV, Index: 1},
			want: `{"source":"srv","index":1,"method":"starttls","ip":"192.0.2.7","port":5222,` +
				`"host":"xmpp.example.org","pins":[],"priority":0,"weight":0}`,
		},
		{
			name: "alpn that is not printable is written as base64 (A6)",
			route: Route{Method: MethodTLS, Addr: netip.MustParseAddrPort("192.0.2.1:443"),
				SNI: "a.example", HasSNI: true, ALPN: []byte{0, 'h', 2}, Source: SourceStatic},
			want: `{"source":"static","index":0,"method":"tls","ip":"192.0.2.1","port":443,` +
				`"sni":"a.example","alpn":"base64:AGgC","pins":[],"priority":0,"weight":0}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.route.Report())
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("json.Marshal(Route.Report())\n got %s\nwant %s", got, tt.want)
			}
			var back RouteReport
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatal(err)
			}
			if again, _ := json.Marshal(back); !bytes.Equal(again, got) {
				t.Errorf("round trip through RouteReport: %s, want %s", again, got)
			}
		})
	}
}

// TestRoute_DefaultJSONRoundTrips: a Route itself keeps Go's default JSON
// form, so a program that stores routes reads back exactly what it wrote;
// reports use Route.Report.
func TestRoute_DefaultJSONRoundTrips(t *testing.T) {
	pin, err := NewPinSPKI([]byte("a SubjectPublicKeyInfo"), "sha-256")
	if err != nil {
		t.Fatal(err)
	}
	r := Route{Method: MethodTLS, Addr: netip.MustParseAddrPort("[2001:db8::1]:5223"), SNI: "a.example", HasSNI: true,
		ALPN: []byte("xmpp-client"), URL: "", Pins: []Pin{pin}, Priority: 1, Weight: 2, Source: SourceHACX, Host: "a.example", Index: 3}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Route
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	if again, _ := json.Marshal(back); !bytes.Equal(again, data) || back.Addr != r.Addr || !back.HasSNI || string(back.ALPN) != "xmpp-client" {
		t.Errorf("round trip: %s\nwant %s", again, data)
	}
}

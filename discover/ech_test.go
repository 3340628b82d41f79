package discover

import (
	"bytes"
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"hacx.dev/hacx"
	"hacx.dev/hacx/ech"
	"hacx.dev/hacx/hostmeta"
)

// TestHostMeta2_ECHCarriedIntoRoutes_E4: a link's ech becomes the route's
// ECHConfigList; a link whose ech is not a usable list is dropped with a
// note, never turned into a route with a clear SNI.
func TestHostMeta2_ECHCarriedIntoRoutes_E4(t *testing.T) {
	k, err := ech.GenerateKey("public.example.test")
	if err != nil {
		t.Fatal(err)
	}
	list := base64.StdEncoding.EncodeToString(k.ConfigList())
	doc, err := hostmeta.ParseJSON([]byte(`{"xmpp": {"ttl": 60}, "links": [
	  {"rel": "urn:xmpp:alt-connections:tls", "port": 443, "ech": "` + list + `", "ips": ["127.0.0.8"]},
	  {"rel": "urn:xmpp:alt-connections:websocket", "href": "wss://example.test/ws", "ech": "` + list + `", "ips": ["127.0.0.8"]},
	  {"rel": "urn:xmpp:alt-connections:tls", "port": 5223, "ech": "AEX+DQ==", "ips": ["127.0.0.9"]},
	  {"rel": "urn:xmpp:alt-connections:tls", "port": 5223, "ips": ["127.0.0.10"]}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	routes, notes := (&Resolver{}).hostMetaRoutes(context.Background(), "example.test", hacx.Client, doc, hacx.SourceHostMeta2)
	if len(routes) != 3 {
		t.Fatalf("routes %v notes %v", routes, notes)
	}
	for i, r := range routes[:2] {
		if !bytes.Equal(r.ECH, k.ConfigList()) {
			t.Errorf("route %d (%v) ech %x", i, r, r.ECH)
		}
	}
	if routes[2].ECH != nil || routes[2].Addr.Addr().String() != "127.0.0.10" {
		t.Errorf("route without ech = %+v", routes[2])
	}
	if len(notes) != 1 || !strings.HasPrefix(notes[0], "link 3: ech:") {
		t.Errorf("notes %q, want one for link 3", notes)
	}
}

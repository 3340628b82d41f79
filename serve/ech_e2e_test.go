package serve

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/ech"
)

// TestGateway_ECHEndToEnd_E4: a client dialing an ech route reaches the
// c2s upstream through the gateway: the gateway decrypts the inner
// ClientHello with its --ech-key, sees the route's SNI there, and routes
// the connection, which offers no ALPN beside ECH, as c2s (G1).
func TestGateway_ECHEndToEnd_E4(t *testing.T) {
	c2s := startFakeXMPP(t, nil, false)
	var key *ech.Key
	g := startGateway(t, gwConfig(&Upstream{C2S: c2s.addr()}, Gateway{}), func(s *Server) {
		var err error
		// The certificate also names other.test: the public name.
		if key, err = ech.GenerateKey("other.test"); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "ech.pem")
		if err := key.WriteFile(path); err != nil {
			t.Fatal(err)
		}
		s.ECHKeyFiles = []string{path}
	})
	r := hacx.Route{Method: hacx.MethodTLS, Addr: netip.MustParseAddrPort(g.addr), SNI: gwDomain, HasSNI: true,
		ALPN: []byte("xmpp-client"), ECH: key.ConfigList(), Source: hacx.SourceStatic}
	d := &dial.Dialer{Roots: g.ca.Pool(), TLSA: dial.NoDANE, Memory: dial.NoMemory, HandshakeTimeout: 20 * time.Second}
	c, err := d.DialRoutes(context.Background(), gwDomain, hacx.Client, []hacx.Route{r})
	if err != nil {
		t.Fatalf("%v\n%s", err, g.log)
	}
	defer c.Close()
	if !c.TLS.ECHAccepted || c.Header.ID != "fake" {
		t.Fatalf("ECH accepted %v, stream id %q (want the fake upstream's)", c.TLS.ECHAccepted, c.Header.ID)
	}
	if c2s.accepted.Load() != 1 {
		t.Errorf("upstream accepted %d connections", c2s.accepted.Load())
	}
}

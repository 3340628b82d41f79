package dial_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/discover"
)

// TestDial_ThroughDiscovery_H1_C4 runs the whole client path: the HACX
// document fetched over verified HTTPS from a loopback publisher, its
// records dialed in order, the dead one skipped.
func TestDial_ThroughDiscovery_H1_C4(t *testing.T) {
	ca := newCA(t)
	cert := issue(t, ca, domain)
	xmpp := startTLS(t, "127.0.0.2", cert, domain, modeXMPP)
	dead := refusedAddr(t)
	doc, err := hacx.Marshal(&hacx.Document{TTL: 60, Records: []hacx.Record{
		{Method: hacx.MethodTLS, IP: dead.Addr(), Port: dead.Port(), Priority: 1},
		{Method: hacx.MethodTLS, IP: xmpp.addr.Addr(), Port: xmpp.addr.Port(), Priority: 2, SNI: domain, HasSNI: true, ALPN: []byte("xmpp-client")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	pub := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != domain || r.URL.Path != hacx.Client.WellKnownPath() {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.Write(doc)
	}))
	pub.TLS = (&tlsServer{}).tlsConfig(cert)
	pub.StartTLS()
	defer pub.Close()
	pubAddr := pub.Listener.Addr().String()

	res := &discover.Resolver{
		Roots:    ca.Pool(),
		NoDNS:    true, // no DNS outside loopback in tests
		Fallback: discover.FallbackNever,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr == net.JoinHostPort(domain, "443") {
				addr = pubAddr // the domain's web server lives on loopback
			}
			var nd net.Dialer
			return nd.DialContext(ctx, network, addr)
		},
	}
	d := newDialer(ca)
	d.Routes = res
	d.TLSA = nil // the Resolver's own lookups, none under NoDNS: WebPKI decides
	c, err := d.Dial(context.Background(), domain)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Route.Source != hacx.SourceHACX || c.Route.Index != 2 || c.Verified != dial.VerifiedWebPKI {
		t.Errorf("winner %s verified %q", c.Route, c.Verified)
	}
	if len(c.Attempts) != 2 || c.Attempts[0].Phase != dial.PhaseTCP {
		t.Errorf("attempts %+v", c.Attempts)
	}
	if h := xmpp.seen(); len(h) != 1 || h[0].sni != domain || len(h[0].alpn) != 1 || h[0].alpn[0] != "xmpp-client" {
		t.Errorf("ClientHello %+v", h)
	}
}

package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/xmppstream"
)

// startQUICGateway is startGateway with a QUIC socket on loopback; it
// returns the gateway and the socket's address.
func startQUICGateway(t *testing.T, cfg *Config) (*testGateway, netip.AddrPort) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, cfg, func(s *Server) { s.QUICPacketConn = pc })
	return g, pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// quicDialer dials the gateway's QUIC socket, trusting the test CA.
func quicDialer(g *testGateway) *dial.Dialer {
	return &dial.Dialer{Roots: g.ca.Pool(), TLSA: dial.NoDANE, Memory: dial.NoMemory,
		HandshakeTimeout: 10 * time.Second, StreamTimeout: 10 * time.Second}
}

func quicRoute(addr netip.AddrPort) hacx.Route {
	return hacx.Route{Method: hacx.MethodQUIC, Addr: addr, SNI: gwDomain, HasSNI: true, Source: hacx.SourceStatic, Index: 1}
}

// TestGateway_QUIC_RoutesByALPN_Q1_G1: a QUIC connection with ALPN
// xmpp-client reaches the c2s upstream, xmpp-server the s2s one; the
// stream flows both ways and is reported like a TCP one.
func TestGateway_QUIC_RoutesByALPN_Q1_G1(t *testing.T) {
	c2s := startFakeXMPP(t, nil, false)
	s2s := startFakeXMPP(t, nil, false)
	g, addr := startQUICGateway(t, gwConfig(&Upstream{C2S: c2s.addr(), S2S: s2s.addr()}, Gateway{}))
	for _, tt := range []struct {
		kind hacx.Kind
		up   *fakeXMPP
	}{{hacx.Client, c2s}, {hacx.Server, s2s}} {
		t.Run(tt.kind.String(), func(t *testing.T) {
			before := tt.up.accepted.Load()
			c, err := quicDialer(g).DialRoutes(context.Background(), gwDomain, tt.kind, []hacx.Route{quicRoute(addr)})
			if err != nil {
				t.Fatalf("%v\n%s", err, g.log)
			}
			defer c.Close()
			if c.Header.ID != "fake" || tt.up.accepted.Load() != before+1 {
				t.Fatalf("stream id %q: not the %v upstream's", c.Header.ID, tt.kind)
			}
			sc, err := c.StreamConn()
			if err != nil {
				t.Fatal(err)
			}
			ns := map[hacx.Kind]string{hacx.Client: "jabber:client", hacx.Server: "jabber:server"}[tt.kind]
			hdr := "<stream:stream to='" + gwDomain + "' xmlns='" + ns + "' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
			if _, err := sc.Write([]byte(hdr)); err != nil {
				t.Fatal(err)
			}
			sp := xmppstream.NewSplitter(sc, 0)
			sc.SetDeadline(time.Now().Add(10 * time.Second))
			if tok, err := sp.Next(); err != nil || tok.Kind != xmppstream.TokenOpen {
				t.Fatalf("header: %v", err)
			}
			if tok, err := sp.Next(); err != nil || tok.Name.Local != "features" {
				t.Fatalf("features: %v", err)
			}
			if err := echoRoundTrip(sc, "q1"); err != nil {
				t.Fatal(err)
			}
		})
	}
	ci := g.rec.waitConn(t, "a quic s2s connection", func(c *ConnInfo) bool { return c.Listener == "quic" && c.Route == "s2s" })
	if ci.ALPN != "xmpp-server" || ci.Domain != gwDomain || ci.Upstream != s2s.addr() || ci.In == 0 || ci.Out == 0 {
		t.Fatalf("reported as %+v", ci)
	}
}

// TestGateway_QUIC_UpstreamDown_StreamError_G1: over QUIC too an
// unreachable upstream is a remote-connection-failed stream error, at
// once.
func TestGateway_QUIC_UpstreamDown_StreamError_G1(t *testing.T) {
	dead := refusedAddr(t)
	g, addr := startQUICGateway(t, gwConfig(&Upstream{C2S: dead}, Gateway{}))
	_, err := quicDialer(g).DialRoutes(context.Background(), gwDomain, hacx.Client, []hacx.Route{quicRoute(addr)})
	var se *xmppstream.StreamError
	if !errors.As(err, &se) || se.Condition != "remote-connection-failed" {
		t.Fatalf("got %v, want a remote-connection-failed stream error", err)
	}
}

// TestGateway_QUIC_OnlyXMPPProtocols_G1: the QUIC listener offers only
// the XMPP protocols with an upstream: HTTP/3 and xmpp-server without an
// s2s upstream fail the handshake, before anything reaches an upstream.
func TestGateway_QUIC_OnlyXMPPProtocols_G1(t *testing.T) {
	c2s := startFakeXMPP(t, nil, false)
	g, addr := startQUICGateway(t, gwConfig(&Upstream{C2S: c2s.addr()}, Gateway{}))
	for _, alpn := range []string{"h3", "xmpp-server"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		qc, err := quic.DialAddr(ctx, addr.String(), &tls.Config{ServerName: gwDomain, RootCAs: g.ca.Pool(), NextProtos: []string{alpn}}, nil)
		cancel()
		if err == nil {
			qc.CloseWithError(0, "")
			t.Fatalf("alpn %s: handshake completed", alpn)
		}
		if !strings.Contains(err.Error(), "no_application_protocol") && !strings.Contains(err.Error(), "no application protocol") {
			t.Errorf("alpn %s: %v, want a no_application_protocol alert", alpn, err)
		}
	}
	if n := c2s.accepted.Load(); n != 0 {
		t.Fatalf("the upstream was reached %d times", n)
	}
}

// TestGateway_QUIC_ConnectionLimits_G4: over MaxConnsPerIP a QUIC client's
// handshake is refused and reported as a limit, while the connection
// within the limit goes on.
func TestGateway_QUIC_ConnectionLimits_G4(t *testing.T) {
	c2s := startFakeXMPP(t, nil, false)
	g, addr := startQUICGateway(t, gwConfig(&Upstream{C2S: c2s.addr()}, Gateway{MaxConnsPerIP: 1}))
	// The HTTPS connection that proved the gateway serving counts until
	// it is reported closed.
	g.rec.waitConn(t, "the start-up check", func(c *ConnInfo) bool { return c.Listener == "https" })
	first, err := quicDialer(g).DialRoutes(context.Background(), gwDomain, hacx.Client, []hacx.Route{quicRoute(addr)})
	if err != nil {
		t.Fatalf("%v\n%s", err, g.log)
	}
	defer first.Close()
	_, err = quicDialer(g).DialRoutes(context.Background(), gwDomain, hacx.Client, []hacx.Route{quicRoute(addr)})
	var de *dial.Error
	if !errors.As(err, &de) || de.Attempts[0].Phase != dial.PhaseTLS {
		t.Fatalf("second connection: %v, want a refused handshake", err)
	}
	g.rec.waitConn(t, "a refused quic connection", func(c *ConnInfo) bool { return c.Listener == "quic" && c.Outcome == OutcomeLimit })
	if n := c2s.accepted.Load(); n != 1 {
		t.Fatalf("the upstream was reached %d times, want 1", n)
	}
	sc, err := first.StreamConn()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Write([]byte("<stream:stream to='" + gwDomain + "' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")); err != nil {
		t.Fatal(err)
	}
	sp := xmppstream.NewSplitter(sc, 0)
	sc.SetDeadline(time.Now().Add(10 * time.Second))
	for range 2 { // the header and features the dialer read
		if _, err := sp.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if err := echoRoundTrip(sc, "still"); err != nil {
		t.Fatalf("the first connection: %v", err)
	}
}

// TestGateway_QUIC_DerivedRecords_G2: a domain fronted by a gateway with a
// QUIC socket publishes quic records on its port (Q1, G2), xmpp-client for
// c2s and xmpp-server for s2s, and a client of the document reaches the
// upstream over them.
func TestGateway_QUIC_DerivedRecords_G2(t *testing.T) {
	c2s := startFakeXMPP(t, nil, false)
	s2s := startFakeXMPP(t, nil, false)
	g, addr := startQUICGateway(t, gwConfig(&Upstream{C2S: c2s.addr(), S2S: s2s.addr()}, Gateway{}))
	for _, kind := range []hacx.Kind{hacx.Client, hacx.Server} {
		tr := &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: g.ca.Pool()},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, g.addr)
			},
		}
		res, err := (&http.Client{Transport: tr}).Get("https://" + gwDomain + kind.WellKnownPath())
		if err != nil {
			t.Fatal(err)
		}
		doc, err := hacx.ParseReader(res.Body)
		res.Body.Close()
		tr.CloseIdleConnections()
		if err != nil {
			t.Fatal(err)
		}
		var quics []hacx.Route
		for _, r := range doc.Routes(hacx.SourceHACX) {
			if r.Method == hacx.MethodQUIC {
				quics = append(quics, r)
			}
		}
		alpn := map[hacx.Kind]string{hacx.Client: "xmpp-client", hacx.Server: "xmpp-server"}[kind]
		if len(quics) != 1 || quics[0].Addr != addr || string(quics[0].ALPN) != alpn || quics[0].SNI != gwDomain {
			t.Fatalf("%v: quic routes %v in %+v", kind, quics, doc.Records)
		}
		c, err := quicDialer(g).DialRoutes(context.Background(), gwDomain, kind, quics)
		if err != nil {
			t.Fatalf("%v: %v", kind, err)
		}
		c.Close()
	}
}

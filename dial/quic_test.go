package dial_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/socks"
	"hacx.dev/hacx/xmppstream"
)

// startQUIC starts a loopback QUIC XMPP endpoint presenting a certificate
// of ca for domain (Q1).
func startQUIC(t testing.TB, ca *hacxtest.CA, cfg loopback.QUICConfig) *loopback.QUICServer {
	t.Helper()
	s, err := loopback.StartQUIC("127.0.0.1:0", issue(t, ca, domain), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestQUIC_VerifiedStream_Q1: a QUIC route gives a verified stream with
// the exact SNI, the kind's ALPN when the route names none, WebPKI as for
// direct TLS, and the QUIC version in the attempt.
func TestQUIC_VerifiedStream_Q1(t *testing.T) {
	ca := newCA(t)
	s := startQUIC(t, ca, loopback.QUICConfig{})
	r := route(hacx.MethodQUIC, s.Addr(), 1)
	r.SNI, r.HasSNI = domain, true
	c := dialOK(t, newDialer(ca), r)
	if c.Route.Method != hacx.MethodQUIC || c.Verified != dial.VerifiedWebPKI || c.Header.From != domain || c.TLS.NegotiatedProtocol != "xmpp-client" {
		t.Fatalf("conn: route %s verified %s from %q alpn %q", c.Route, c.Verified, c.Header.From, c.TLS.NegotiatedProtocol)
	}
	a := c.Attempts[0]
	if a.QUICVersion != "v1" || a.Handshake <= 0 || a.Phase != dial.PhaseDone {
		t.Errorf("attempt: quic %q handshake %s phase %s", a.QUICVersion, a.Handshake, a.Phase)
	}
	cs := s.Contacts()
	if len(cs) != 1 || cs[0].SNI != domain || !slices.Equal(cs[0].ALPN, []string{"xmpp-client"}) || cs[0].To != domain {
		t.Errorf("server saw %+v", cs)
	}
}

// TestQUIC_ExactALPN_A6_Q1: a route's own ALPN is offered alone, and a
// server route's default is xmpp-server (XEP-0467).
func TestQUIC_ExactALPN_A6_Q1(t *testing.T) {
	ca := newCA(t)
	s := startQUIC(t, ca, loopback.QUICConfig{Kind: hacx.Server})
	r := route(hacx.MethodQUIC, s.Addr(), 1)
	c, err := newDialer(ca).DialRoutes(context.Background(), domain, hacx.Server, []hacx.Route{r})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	r.ALPN = []byte("xmpp-server")
	r.Index = 2
	c, err = newDialer(ca).DialRoutes(context.Background(), domain, hacx.Server, []hacx.Route{r})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	cs := s.Contacts()
	if len(cs) != 2 || cs[0].SNI != "" || !slices.Equal(cs[0].ALPN, []string{"xmpp-server"}) || !slices.Equal(cs[1].ALPN, []string{"xmpp-server"}) {
		t.Errorf("server saw %+v (no SNI without sni, A5; exactly one ALPN, A6)", cs)
	}
}

// TestQUIC_RefusedThenNextRoute_C3: a QUIC server with the wrong
// certificate, the wrong ALPN, a pin that does not match or a stream from
// another domain is refused, and the next route is tried.
func TestQUIC_RefusedThenNextRoute_C3(t *testing.T) {
	ca := newCA(t)
	rogue, err := hacxtest.NewCA("rogue")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		start func() *loopback.QUICServer
		pin   bool
		phase dial.Phase
		check func(error) bool
	}{
		{"wrong certificate", func() *loopback.QUICServer { return startQUIC(t, rogue, loopback.QUICConfig{}) }, false, dial.PhaseVerify,
			func(err error) bool {
				var ve *dial.VerifyError
				return errors.As(err, &ve) && ve.How == dial.VerifiedWebPKI
			}},
		{"pin mismatch", func() *loopback.QUICServer { return startQUIC(t, ca, loopback.QUICConfig{}) }, true, dial.PhaseVerify,
			func(err error) bool {
				var ve *dial.VerifyError
				return errors.As(err, &ve) && ve.How == dial.VerifiedPin
			}},
		{"wrong alpn", func() *loopback.QUICServer { return startQUIC(t, ca, loopback.QUICConfig{NextProtos: []string{"h3"}}) }, false, dial.PhaseTLS,
			func(err error) bool { var ve *dial.VerifyError; return err != nil && !errors.As(err, &ve) }},
		{"other domain", func() *loopback.QUICServer { return startQUIC(t, ca, loopback.QUICConfig{Domain: "other.test"}) }, false, dial.PhaseStream,
			func(err error) bool { return errors.Is(err, xmppstream.ErrWrongDomain) }},
	}
	good := startTLS(t, "127.0.0.1", issue(t, ca, domain), domain, modeXMPP)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.start()
			r := route(hacx.MethodQUIC, s.Addr(), 1)
			if tt.pin {
				other, err := hacxtest.SelfSigned(domain)
				if err != nil {
					t.Fatal(err)
				}
				pin, err := hacx.NewPin(other.Leaf)
				if err != nil {
					t.Fatal(err)
				}
				r.Pins = []hacx.Pin{pin}
			}
			c := dialOK(t, newDialer(ca), r, route(hacx.MethodTLS, good.addr, 2))
			if c.Route.Index != 2 {
				t.Fatalf("winner %s", c.Route)
			}
			a := c.Attempts[0]
			if a.Phase != tt.phase || !tt.check(a.Err) {
				t.Errorf("quic attempt: phase %s err %v, want phase %s", a.Phase, a.Err, tt.phase)
			}
		})
	}
}

// TestQUIC_BlackholeCostsOnlyTheStagger_C5: a QUIC route to a UDP socket
// that never answers costs the stagger, not the handshake timeout; the
// DialPacket hook sees the route's ip:port (A8).
func TestQUIC_BlackholeCostsOnlyTheStagger_C5(t *testing.T) {
	ca := newCA(t)
	hole, err := net.ListenPacket("udp", "127.0.0.1:0") // bound, never read
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	dead := netip.MustParseAddrPort("192.0.2.1:443") // as published
	good := startTLS(t, "127.0.0.1", issue(t, ca, domain), domain, modeXMPP)
	var mu sync.Mutex
	var dialed []string
	d := newDialer(ca)
	d.Stagger = 20 * time.Millisecond
	d.DialPacket = func(ctx context.Context, network, addr string) (net.PacketConn, net.Addr, error) {
		mu.Lock()
		dialed = append(dialed, network+" "+addr)
		mu.Unlock()
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		return pc, hole.LocalAddr(), err
	}
	start := time.Now()
	c := dialOK(t, d, route(hacx.MethodQUIC, dead, 1), route(hacx.MethodTLS, good.addr, 2))
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("took %s with a 20 s handshake timeout", el)
	}
	if c.Route.Index != 2 {
		t.Fatalf("winner %s", c.Route)
	}
	if a := c.Attempts[0]; a.Phase != dial.PhaseTLS || !errors.Is(a.Err, dial.ErrLostRace) {
		t.Errorf("quic attempt: phase %s err %v", a.Phase, a.Err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"udp " + dead.String()}; !slices.Equal(dialed, want) {
		t.Errorf("DialPacket saw %v, want %v", dialed, want)
	}
}

// TestQUIC_SkippedThroughSOCKS5_T1: through a SOCKS5 proxy a QUIC route is
// skipped with ErrQUICThroughProxy and no packet is sent; the TCP route
// goes through the proxy.
func TestQUIC_SkippedThroughSOCKS5_T1(t *testing.T) {
	ca := newCA(t)
	s := startQUIC(t, ca, loopback.QUICConfig{})
	good := startTLS(t, "127.0.0.1", issue(t, ca, domain), domain, modeXMPP)
	proxy, err := loopback.NewSOCKSServer(map[string]string{good.addr.String(): good.addr.String()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	d := newDialer(ca)
	d.Proxy = &socks.Proxy{Addr: proxy.Addr}
	d.DialPacket = func(context.Context, string, string) (net.PacketConn, net.Addr, error) {
		t.Error("DialPacket called through a proxy")
		return nil, nil, errors.New("test: no UDP")
	}
	c := dialOK(t, d, route(hacx.MethodQUIC, s.Addr(), 1), route(hacx.MethodTLS, good.addr, 2))
	if c.Route.Index != 2 || !errors.Is(c.Attempts[0].Err, dial.ErrQUICThroughProxy) {
		t.Fatalf("winner %s, quic attempt %v", c.Route, c.Attempts[0].Err)
	}
	if cs := s.Contacts(); len(cs) != 0 {
		t.Errorf("the QUIC server was reached around the proxy: %+v", cs)
	}
}

// TestQUIC_StreamConn: the stream conn of a QUIC route is the RFC 6120
// byte stream: the server's header and features first, elements both
// ways, the client's </stream:stream> ends the server's stream, and the
// addresses are the QUIC connection's.
func TestQUIC_StreamConn(t *testing.T) {
	ca := newCA(t)
	s := startQUIC(t, ca, loopback.QUICConfig{})
	c := dialOK(t, newDialer(ca), route(hacx.MethodQUIC, s.Addr(), 1))
	sc, err := c.StreamConn()
	if err != nil {
		t.Fatal(err)
	}
	sc.SetDeadline(time.Now().Add(20 * time.Second))
	if ra, ok := sc.RemoteAddr().(*net.UDPAddr); !ok || netip.AddrPortFrom(ra.AddrPort().Addr().Unmap(), ra.AddrPort().Port()) != s.Addr() {
		t.Errorf("remote address %v, want udp %s", sc.RemoteAddr(), s.Addr())
	}
	if _, err := sc.Write([]byte(echoHeader + "<message xmlns='jabber:client'><body>over quic</body></message>")); err != nil {
		t.Fatal(err)
	}
	sp := xmppstream.NewSplitter(sc, 0)
	if tok := next(t, sp); tok.Kind != xmppstream.TokenOpen || tok.Header.From != domain {
		t.Fatalf("first token %v", tok.Kind)
	}
	if tok := next(t, sp); tok.Name.Local != "features" {
		t.Fatalf("second token %s", tok.Name.Local)
	}
	if tok := next(t, sp); tok.Name.Local != "message" || !strings.Contains(string(tok.Raw), "over quic") {
		t.Fatalf("echo %q", tok.Raw)
	}
	if _, err := sc.Write([]byte("</stream:stream>")); err != nil {
		t.Fatal(err)
	}
	if tok := next(t, sp); tok.Kind != xmppstream.TokenClose {
		t.Fatalf("after our close: %v", tok.Kind)
	}
	if err := sc.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	if s.Ends() != 1 {
		t.Errorf("server saw %d stream ends, want 1", s.Ends())
	}
}

// TestQUIC_ECHRouteNotDialed_E4: a QUIC route that publishes ECH is not
// dialed with a clear SNI: it fails before any packet is sent.
func TestQUIC_ECHRouteNotDialed_E4(t *testing.T) {
	ca := newCA(t)
	s := startQUIC(t, ca, loopback.QUICConfig{})
	r := route(hacx.MethodQUIC, s.Addr(), 1)
	r.ECH = []byte{0, 1, 2}
	de := dialFail(t, newDialer(ca), r)
	if len(de.Attempts) != 1 || !errors.Is(de.Attempts[0].Err, dial.ErrECHRejected) {
		t.Fatalf("attempts %v", de.Attempts)
	}
	if cs := s.Contacts(); len(cs) != 0 {
		t.Errorf("the server was reached: %+v", cs)
	}
}

package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"hacx.dev/hacx"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/hostmeta"
	"hacx.dev/hacx/xmppstream"
)

// TestGateway_RoutesByALPN_G1: one TLS port carries c2s (ALPN
// xmpp-client), s2s (xmpp-server) and HTTP (h2, http/1.1) to their
// upstreams; without ALPN a stream header goes to c2s and a request to
// HTTP; the direct-TLS listener sends everything to c2s.
func TestGateway_RoutesByALPN_G1(t *testing.T) {
	c2s := startFakeXMPP(t, nil, false)
	s2s := startFakeXMPP(t, nil, false)
	g := startGateway(t, gwConfig(&Upstream{C2S: c2s.addr(), S2S: s2s.addr()}, Gateway{}), nil)

	for _, tt := range []struct {
		name, addr string
		alpn       []string
		kind       hacx.Kind
		up         *fakeXMPP
	}{
		{"alpn xmpp-client", g.addr, []string{"xmpp-client"}, hacx.Client, c2s},
		{"alpn xmpp-server", g.addr, []string{"xmpp-server"}, hacx.Server, s2s},
		{"no alpn, stream header", g.addr, nil, hacx.Client, c2s},
		{"xmpps listener, no alpn", g.xmpps, nil, hacx.Client, c2s},
		{"xmpps listener, alpn", g.xmpps, []string{"xmpp-client"}, hacx.Client, c2s},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.up.accepted.Load()
			c, err := g.tlsClient(tt.addr, "", gwDomain, tt.alpn...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if h, err := openStream(c, gwDomain, tt.kind); err != nil {
				t.Fatalf("stream: %v\n%s", err, g.log)
			} else if h.ID != "fake" {
				t.Fatalf("stream id %q: not the fake upstream's", h.ID)
			}
			if err := echoRoundTrip(c, "1"); err != nil {
				t.Fatal(err)
			}
			if tt.up.accepted.Load() != before+1 {
				t.Fatalf("the %v upstream was not the one used", tt.kind)
			}
		})
	}

	for _, alpn := range [][]string{{"h2"}, {"http/1.1"}, nil} {
		t.Run(fmt.Sprintf("http alpn %v", alpn), func(t *testing.T) {
			tr := &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: g.ca.Pool(), NextProtos: alpn},
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, network, g.addr)
				},
				ForceAttemptHTTP2: len(alpn) > 0 && alpn[0] == "h2",
			}
			defer tr.CloseIdleConnections()
			res, err := (&http.Client{Transport: tr}).Get("https://" + gwDomain + "/.well-known/xmpp-client.xml")
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if _, err := hacx.ParseReader(res.Body); err != nil || res.StatusCode != 200 {
				t.Fatalf("status %d, %v", res.StatusCode, err)
			}
			want := 1
			if len(alpn) > 0 && alpn[0] == "h2" {
				want = 2
			}
			if res.ProtoMajor != want {
				t.Fatalf("HTTP/%d, want HTTP/%d", res.ProtoMajor, want)
			}
		})
	}

	// One log line and one report per connection, with its route.
	c := g.rec.waitConn(t, "an s2s connection", func(c *ConnInfo) bool { return c.Route == "s2s" })
	if c.Outcome != OutcomeClosed || c.In == 0 || c.Out == 0 || c.Upstream != s2s.addr() || c.Domain != gwDomain {
		t.Fatalf("s2s connection reported as %+v", c)
	}
	if !strings.Contains(g.log.String(), "route=s2s") {
		t.Fatalf("no log line for the s2s connection:\n%s", g.log)
	}
}

// TestGateway_UpstreamDown_StreamError_G1: when the XMPP server is down,
// a c2s client gets the server's header and
// <stream:error><remote-connection-failed/>, a WebSocket client the same
// in RFC 7395 framing, a BOSH client a terminate body with that
// condition; none waits for a timeout.
func TestGateway_UpstreamDown_StreamError_G1(t *testing.T) {
	dead := refusedAddr(t)
	g := startGateway(t, gwConfig(&Upstream{C2S: dead, S2S: dead, HTTP: "http://" + dead}, Gateway{}), nil)

	for _, kind := range []hacx.Kind{hacx.Client, hacx.Server} {
		alpn := map[hacx.Kind]string{hacx.Client: "xmpp-client", hacx.Server: "xmpp-server"}[kind]
		c, err := g.tlsClient(g.addr, "", gwDomain, alpn)
		if err != nil {
			t.Fatal(err)
		}
		_, err = openStream(c, gwDomain, kind)
		var se *xmppstream.StreamError
		if !errors.As(err, &se) || se.Condition != "remote-connection-failed" {
			t.Fatalf("%v: got %v, want a remote-connection-failed stream error", kind, err)
		}
		waitEOF(t, c, "the refused stream")
		c.Close()
	}
	g.rec.waitConn(t, "an upstream failure", func(c *ConnInfo) bool {
		return c.Route == "c2s" && c.Outcome == OutcomeUpstreamFailed && c.Upstream == dead && c.Err != nil
	})

	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, g.addr)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: g.ca.Pool()}, DialContext: dial}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "wss://"+gwDomain+DefaultWebSocketPath, &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{"xmpp"}})
	if err != nil {
		t.Fatalf("websocket: %v", err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, xmppstream.WSOpen(gwDomain)); err != nil {
		t.Fatal(err)
	}
	_, msg, err := ws.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := xmppstream.CheckWSOpen(msg, gwDomain); err != nil {
		t.Fatalf("websocket open: %v", err)
	}
	_, msg, err = ws.Read(ctx)
	if err != nil || !strings.Contains(string(msg), "remote-connection-failed") {
		t.Fatalf("websocket: got %q, %v; want a remote-connection-failed stream error", msg, err)
	}

	res, err := hc.Post("https://"+gwDomain+DefaultBOSHPath, "text/xml; charset=utf-8", strings.NewReader(string(xmppstream.BOSHSessionRequest(gwDomain, 1, hacx.Client))))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	_, err = xmppstream.ParseBOSHSession(body, gwDomain)
	var se *xmppstream.StreamError
	if !errors.As(err, &se) || se.Condition != "remote-connection-failed" {
		t.Fatalf("bosh: got %d %q (%v), want a terminate body with remote-connection-failed", res.StatusCode, body, err)
	}
}

// TestGateway_ProxyProtocolV2_G3: with proxy-protocol, the upstream reads
// a PROXY v2 header naming the client's address and the gateway address
// the client reached, before the client's first byte.
func TestGateway_ProxyProtocolV2_G3(t *testing.T) {
	up := startFakeXMPP(t, nil, true)
	g := startGateway(t, gwConfig(&Upstream{C2S: up.addr(), ProxyProtocol: true}, Gateway{}), nil)
	c, err := g.tlsClient(g.addr, "127.0.0.77", gwDomain, "xmpp-client")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := openStream(c, gwDomain, hacx.Client); err != nil {
		t.Fatal(err)
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	want := proxyInfo{src: netip.MustParseAddrPort(c.LocalAddr().String()), dst: netip.MustParseAddrPort(g.addr)}
	if len(up.headers) != 1 || up.headers[0] != want {
		t.Fatalf("PROXY headers %v, want [%v]", up.headers, want)
	}
}

// TestGateway_TLSUpstream_G3: a tls:// upstream is encrypted to again and
// verified for the domain against the configured roots; an upstream whose
// certificate those roots do not accept is a failed upstream, answered
// with a stream error, never a stream relayed unverified.
func TestGateway_TLSUpstream_G3(t *testing.T) {
	ca, err := hacxtest.NewCA("upstream")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(gwDomain)
	if err != nil {
		t.Fatal(err)
	}
	up := startFakeXMPP(t, &tls.Config{Certificates: []tls.Certificate{*cert}}, false)
	cfg := gwConfig(&Upstream{C2S: "tls://" + up.addr(), RootCAs: ca.Pool()}, Gateway{})
	g := startGateway(t, cfg, nil)
	c, err := g.tlsClient(g.addr, "", gwDomain, "xmpp-client")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := openStream(c, gwDomain, hacx.Client); err != nil {
		t.Fatalf("over a verified tls:// upstream: %v\n%s", err, g.log)
	}
	if err := echoRoundTrip(c, "tls"); err != nil {
		t.Fatal(err)
	}
	c.Close()

	// The same upstream, checked against the gateway's own CA: refused.
	bad := gwConfig(&Upstream{C2S: "tls://" + up.addr(), RootCAs: g.ca.Pool()}, Gateway{})
	g.cfg.Store(bad)
	if err := g.s.Reload(); err != nil {
		t.Fatal(err)
	}
	c, err = g.tlsClient(g.addr, "", gwDomain, "xmpp-client")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = openStream(c, gwDomain, hacx.Client)
	var se *xmppstream.StreamError
	if !errors.As(err, &se) || se.Condition != "remote-connection-failed" {
		t.Fatalf("unverifiable upstream: got %v, want remote-connection-failed", err)
	}
}

// TestGateway_SlowClientsDoNotBlockOthers_G4: connections that never
// finish their handshake, or never speak after it, are closed after their
// timeouts, reach no upstream, and meanwhile other clients get through.
func TestGateway_SlowClientsDoNotBlockOthers_G4(t *testing.T) {
	up := startFakeXMPP(t, nil, false)
	g := startGateway(t, gwConfig(&Upstream{C2S: up.addr()}, Gateway{
		HandshakeTimeout: 300 * time.Millisecond, FirstByteTimeout: 300 * time.Millisecond,
	}), nil)

	// Slowloris: TCP only, then a few bytes of a ClientHello, then nothing.
	var slow []net.Conn
	for range 20 {
		c, err := net.Dial("tcp", g.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte{0x16, 0x03, 0x01})
		slow = append(slow, c)
	}
	// Silent after the handshake.
	silent, err := g.tlsClient(g.addr, "", gwDomain, "xmpp-client")
	if err != nil {
		t.Fatal(err)
	}
	// Meanwhile a real client gets its stream.
	c, err := g.tlsClient(g.addr, "", gwDomain, "xmpp-client")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := openStream(c, gwDomain, hacx.Client); err != nil {
		t.Fatal(err)
	}
	for _, s := range slow {
		waitEOF(t, s, "a connection that never finished its handshake")
		s.Close()
	}
	waitEOF(t, silent, "a silent connection")
	silent.Close()
	g.rec.waitConn(t, "a handshake timeout", func(c *ConnInfo) bool { return c.Outcome == OutcomeHandshakeTimeout })
	g.rec.waitConn(t, "a first-byte timeout", func(c *ConnInfo) bool { return c.Outcome == OutcomeFirstByteTimeout && c.Route == "c2s" })
	if n := up.accepted.Load(); n != 1 {
		t.Fatalf("the upstream saw %d connections, want 1 (the real client's)", n)
	}
	// The stream still works after the slow ones are gone.
	if err := echoRoundTrip(c, "after"); err != nil {
		t.Fatal(err)
	}
}

// TestGateway_ConnectionLimits_G4: one address gets MaxConnsPerIP
// connections and the next is closed before TLS, while another address
// still gets in; the total MaxConns applies across addresses.
func TestGateway_ConnectionLimits_G4(t *testing.T) {
	up := startFakeXMPP(t, nil, false)
	g := startGateway(t, gwConfig(&Upstream{C2S: up.addr()}, Gateway{MaxConnsPerIP: 2, MaxConns: 3}), nil)
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	for range 2 {
		c, err := g.tlsClient(g.addr, "127.0.0.21", gwDomain, "xmpp-client")
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
	}
	if c, err := g.tlsClient(g.addr, "127.0.0.21", gwDomain, "xmpp-client"); err == nil {
		c.Close()
		t.Fatal("a third connection from one address got through MaxConnsPerIP 2")
	}
	g.rec.waitConn(t, "a refusal", func(c *ConnInfo) bool {
		return c.Outcome == OutcomeLimit && c.Client.Addr() == netip.MustParseAddr("127.0.0.21")
	})
	c, err := g.tlsClient(g.addr, "127.0.0.22", gwDomain, "xmpp-client")
	if err != nil {
		t.Fatalf("another address refused: %v", err)
	}
	open = append(open, c)
	if _, err := openStream(c, gwDomain, hacx.Client); err != nil {
		t.Fatal(err)
	}
	if c, err := g.tlsClient(g.addr, "127.0.0.23", gwDomain, "xmpp-client"); err == nil {
		c.Close()
		t.Fatal("a fourth connection got through MaxConns 3")
	}
}

// TestGateway_IdleTimeout_G4: a relayed stream on which nothing moves is
// closed after the c2s idle timeout, one that keeps talking is not.
func TestGateway_IdleTimeout_G4(t *testing.T) {
	up := startFakeXMPP(t, nil, false)
	g := startGateway(t, gwConfig(&Upstream{C2S: up.addr()}, Gateway{C2SIdleTimeout: 400 * time.Millisecond}), nil)
	quiet, err := g.tlsClient(g.addr, "", gwDomain, "xmpp-client")
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close()
	busy, err := g.tlsClient(g.addr, "", gwDomain, "xmpp-client")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, c := range []net.Conn{quiet, busy} {
		if _, err := openStream(c, gwDomain, hacx.Client); err != nil {
			t.Fatal(err)
		}
	}
	ended := make(chan struct{})
	go func() { waitEOF(t, quiet, "the idle stream"); close(ended) }()
	// The busy stream keeps talking until the quiet one is closed.
	for i := 0; ; i++ {
		select {
		case <-ended:
			if err := echoRoundTrip(busy, "last"); err != nil {
				t.Fatalf("the busy stream was closed too: %v", err)
			}
			c := g.rec.waitConn(t, "an idle close", func(c *ConnInfo) bool { return c.Outcome == OutcomeIdle })
			if c.Route != "c2s" {
				t.Fatalf("idle close reported as %+v", c)
			}
			return
		default:
		}
		if err := echoRoundTrip(busy, fmt.Sprint(i)); err != nil {
			t.Fatalf("busy stream: %v", err)
		}
	}
}

// TestGateway_GracefulShutdown_G4: on shutdown the listeners close at
// once, an open stream keeps working until the shutdown timeout, and is
// then closed and reported as such; Serve returns.
func TestGateway_GracefulShutdown_G4(t *testing.T) {
	up := startFakeXMPP(t, nil, false)
	g := startGateway(t, gwConfig(&Upstream{C2S: up.addr()}, Gateway{}), func(s *Server) { s.ShutdownTimeout = time.Second })
	c, err := g.tlsClient(g.addr, "", gwDomain, "xmpp-client")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := openStream(c, gwDomain, hacx.Client); err != nil {
		t.Fatal(err)
	}
	g.cancel()
	// The listener closes before the drain; wait for it.
	for deadline := time.Now().Add(10 * time.Second); ; {
		nc, err := net.Dial("tcp", g.addr)
		if err != nil {
			break
		}
		nc.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting after shutdown began")
		}
	}
	if err := echoRoundTrip(c, "draining"); err != nil {
		t.Fatalf("the open stream stopped at once instead of draining: %v", err)
	}
	waitEOF(t, c, "the stream at the end of the drain")
	select {
	case err := <-g.done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
		g.done <- nil
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	g.rec.waitConn(t, "a stream closed by shutdown", func(c *ConnInfo) bool { return c.Outcome == OutcomeShutdown && c.Route == "c2s" })
}

// TestGateway_CertReloadKeepsStreams: a new certificate is served to new
// handshakes while a relayed stream opened before keeps working.
func TestGateway_CertReloadKeepsStreams(t *testing.T) {
	up := startFakeXMPP(t, nil, false)
	g := startGateway(t, gwConfig(&Upstream{C2S: up.addr()}, Gateway{}), nil)
	c, err := g.tlsClient(g.addr, "", gwDomain, "xmpp-client")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := openStream(c, gwDomain, hacx.Client); err != nil {
		t.Fatal(err)
	}
	old := c.ConnectionState().PeerCertificates[0].SerialNumber
	fresh := writeCertFiles(t, g.ca, g.dir, gwDomain)
	if changed, err := g.s.CheckFiles(); !changed || err != nil {
		t.Fatalf("CheckFiles: %v, %v", changed, err)
	}
	if err := echoRoundTrip(c, "after-reload"); err != nil {
		t.Fatalf("the stream did not survive the reload: %v", err)
	}
	c2, err := g.tlsClient(g.addr, "", gwDomain, "xmpp-client")
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	got := c2.ConnectionState().PeerCertificates[0].SerialNumber
	if got.Cmp(fresh.Leaf.SerialNumber) != 0 || got.Cmp(old) == 0 {
		t.Fatalf("new handshake got serial %v, want the new certificate's %v", got, fresh.Leaf.SerialNumber)
	}
}

// TestGateway_WebSocketAndBOSH_G1_G3: on a domain's WebSocket and BOSH
// paths requests reach the HTTP upstream with the domain as Host and the
// client's address in X-Forwarded-For; the WebSocket is relayed both ways
// after the upgrade; other paths are the discovery files.
func TestGateway_WebSocketAndBOSH_G1_G3(t *testing.T) {
	type seen struct{ host, xff, proto string }
	got := make(chan seen, 10)
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Host, r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto")}
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"xmpp"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(context.Background())
			if err != nil {
				return
			}
			if h, err := xmppstream.CheckWSClientOpen(msg); err == nil {
				msg = xmppstream.WSServerOpen(h.To, "fake")
			}
			c.Write(context.Background(), typ, msg)
		}
	})
	mux.HandleFunc("/bosh", func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Host, r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto")}
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), "to='"+gwDomain+"'") {
			http.Error(w, "not a session request for "+gwDomain, 400)
			return
		}
		fmt.Fprintf(w, "<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' sid='sid' wait='60' hold='1' from='%s' authid='fake' xmpp:version='1.0'/>", gwDomain)
	})
	hs := httptest.NewServer(mux)
	defer hs.Close()
	g := startGateway(t, gwConfig(&Upstream{HTTP: hs.URL, WebSocketPath: "/ws", BOSHPath: "/bosh"}, Gateway{}), nil)

	var local string
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.78")}}
		c, err := d.DialContext(ctx, network, g.addr)
		if err == nil {
			local = c.LocalAddr().(*net.TCPAddr).IP.String()
		}
		return c, err
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: g.ca.Pool()}, DialContext: dial}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "wss://"+gwDomain+"/ws", &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{"xmpp"}})
	if err != nil {
		t.Fatalf("websocket: %v\n%s", err, g.log)
	}
	defer ws.CloseNow()
	if ws.Subprotocol() != "xmpp" {
		t.Fatalf("subprotocol %q", ws.Subprotocol())
	}
	ws.Write(ctx, websocket.MessageText, xmppstream.WSOpen(gwDomain))
	if _, msg, err := ws.Read(ctx); err != nil {
		t.Fatal(err)
	} else if _, err := xmppstream.CheckWSOpen(msg, gwDomain); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		m := fmt.Sprintf("<message xmlns='jabber:client' id='%d'/>", i)
		ws.Write(ctx, websocket.MessageText, []byte(m))
		if _, msg, err := ws.Read(ctx); err != nil || string(msg) != m {
			t.Fatalf("echo %q, %v", msg, err)
		}
	}
	if s := <-got; s.host != gwDomain || s.xff != local || s.proto != "https" {
		t.Fatalf("websocket upstream saw %+v, want Host %s, X-Forwarded-For %s, proto https", s, gwDomain, local)
	}
	ws.Close(websocket.StatusNormalClosure, "")

	res, err := hc.Post("https://"+gwDomain+"/bosh", "text/xml", strings.NewReader(string(xmppstream.BOSHSessionRequest(gwDomain, 1, hacx.Client))))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if _, err := xmppstream.ParseBOSHSession(body, gwDomain); err != nil {
		t.Fatalf("bosh: %v (%q)", err, body)
	}
	if s := <-got; s.host != gwDomain || s.xff != local {
		t.Fatalf("bosh upstream saw %+v", s)
	}
	res, err = hc.Get("https://" + gwDomain + "/.well-known/host-meta")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("host-meta: %d", res.StatusCode)
	}
	g.rec.waitConn(t, "a websocket connection", func(c *ConnInfo) bool { return c.Route == "websocket" && c.Outcome == OutcomeClosed && c.In > 0 })
}

// TestGateway_DerivedDocuments_G2: a domain with upstreams and no records
// publishes direct TLS with ALPN on the HTTPS port (and on the XMPPS
// port), WebSocket and BOSH on the HTTPS port, for each public IP, and
// host-meta links to the same.
func TestGateway_DerivedDocuments_G2(t *testing.T) {
	up := startFakeXMPP(t, nil, false)
	cfg := gwConfig(&Upstream{C2S: up.addr(), S2S: up.addr(), HTTP: "http://127.0.0.1:1"}, Gateway{
		PublicIPs: []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")},
	})
	g := startGateway(t, cfg, nil)
	port := netip.MustParseAddrPort(g.addr).Port()
	xport := netip.MustParseAddrPort(g.xmpps).Port()
	hc := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: g.ca.Pool()},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, g.addr)
		},
	}}
	get := func(path string) []byte {
		res, err := hc.Get("https://" + gwDomain + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d", path, res.StatusCode)
		}
		return b
	}
	doc, err := hacx.Parse(get("/.well-known/xmpp-client.xml"))
	if err != nil || len(doc.Warnings) > 0 {
		t.Fatalf("derived document: %v %v", err, doc.Warnings)
	}
	var got []string
	for _, r := range doc.Records {
		got = append(got, fmt.Sprintf("%s %s %d %d sni=%s alpn=%s %s", r.Method, r.IP, r.Port, r.Priority, r.SNI, r.ALPN, r.URL))
	}
	host := fmt.Sprintf("%s:%d", gwDomain, port)
	var want []string
	for _, ip := range []string{"192.0.2.10", "2001:db8::10"} {
		want = append(want,
			fmt.Sprintf("tls %s %d 10 sni=%s alpn=xmpp-client ", ip, port, gwDomain),
			fmt.Sprintf("tls %s %d 15 sni=%s alpn=xmpp-client ", ip, xport, gwDomain),
			fmt.Sprintf("websocket %s %d 20 sni=%s alpn= wss://%s/xmpp-websocket", ip, port, gwDomain, host),
			fmt.Sprintf("bosh %s %d 30 sni=%s alpn= https://%s/http-bind", ip, port, gwDomain, host),
		)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("derived client records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	sdoc, err := hacx.Parse(get("/.well-known/xmpp-server.xml"))
	if err != nil || len(sdoc.Records) != 2 || string(sdoc.Records[0].ALPN) != "xmpp-server" || sdoc.Records[0].Port != port {
		t.Fatalf("derived server records: %v %v", err, sdoc.Records)
	}
	hm, err := hostmeta.ParseJSON(get("/.well-known/host-meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	rels := map[string]bool{}
	for _, l := range hm.Links {
		rels[l.Rel] = true
	}
	for _, rel := range []string{hostmeta.RelWebSocket, hostmeta.RelBOSH, hostmeta.RelTLS, hostmeta.RelS2STLS} {
		if !rels[rel] {
			t.Errorf("host-meta.json has no %s link: %+v", rel, hm.Links)
		}
	}
}

// TestGateway_NoUpstreamForKind_G1: a client asking for s2s where only
// c2s is forwarded is refused at the TLS layer (the ALPN is not offered);
// a c2s stream naming a domain that has no c2s upstream gets host-unknown.
func TestGateway_NoUpstreamForKind_G1(t *testing.T) {
	up := startFakeXMPP(t, nil, false)
	cfg := gwConfig(&Upstream{C2S: up.addr()}, Gateway{})
	cfg.Domains = append(cfg.Domains, Domain{Name: "other.test", Upstream: &Upstream{HTTP: "http://127.0.0.1:1"}})
	g := startGateway(t, cfg, nil)
	if c, err := g.tlsClient(g.addr, "", gwDomain, "xmpp-server"); err == nil {
		c.Close()
		t.Fatal("xmpp-server negotiated with no s2s upstream configured")
	}
	c, err := g.tlsClient(g.addr, "", "other.test", "xmpp-client")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = openStream(c, "other.test", hacx.Client)
	var se *xmppstream.StreamError
	if !errors.As(err, &se) || se.Condition != "host-unknown" {
		t.Fatalf("got %v, want host-unknown", err)
	}
	if up.accepted.Load() != 0 {
		t.Fatal("the c2s upstream of another domain was used")
	}
}

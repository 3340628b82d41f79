package dial_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/coder/websocket"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/xmppstream"
)

func TestWebSocket_RouteAddrHostAndPath_A8(t *testing.T) {
	ca := newCA(t)
	// The certificate names only the URL host: acceptable for websocket (A10).
	srv := startHTTP(t, "127.0.0.2", issue(t, ca, urlHost), httpOpts{from: domain})
	r := route(hacx.MethodWebSocket, srv.addr, 1) // chat.example.test resolves nowhere: only ip:port can work
	c := dialOK(t, newDialer(ca), r)
	if c.WebSocket == nil || c.Header.From != domain || c.Verified != dial.VerifiedWebPKI {
		t.Fatalf("conn %+v", c)
	}
	hosts, paths := srv.seenHTTP()
	if len(hosts) != 1 || hosts[0] != urlHost || paths[0] != "/xmpp-websocket" {
		t.Errorf("server saw Host %v path %v", hosts, paths)
	}
	if h := srv.seen(); len(h) != 1 || h[0].sni != "" || len(h[0].alpn) != 0 {
		t.Errorf("ClientHello %+v: want no SNI and no ALPN (A5, A7)", h)
	}
	// The stream goes on: features come next, then the server echoes.
	ctx := context.Background()
	_, msg, err := c.WebSocket.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := xmppstream.CheckWSFeatures(msg); err != nil {
		t.Errorf("features: %v", err)
	}
	if err := c.WebSocket.Write(ctx, websocket.MessageText, []byte("<presence xmlns='jabber:client'/>")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.WebSocket.Read(ctx); err != nil || string(msg) != "<presence xmlns='jabber:client'/>" {
		t.Errorf("echo %q %v", msg, err)
	}
}

func TestWebSocket_SNISent_A5(t *testing.T) {
	ca := newCA(t)
	srv := startHTTP(t, "127.0.0.1", issue(t, ca, domain), httpOpts{from: domain})
	r := route(hacx.MethodWebSocket, srv.addr, 1)
	r.SNI, r.HasSNI = "front.example.test", true
	dialOK(t, newDialer(ca), r)
	if h := srv.seen(); len(h) != 1 || h[0].sni != "front.example.test" {
		t.Errorf("ClientHello %+v", h)
	}
}

func TestWebSocket_NoSubprotocolSkipped_C3(t *testing.T) {
	ca := newCA(t)
	cert := issue(t, ca, domain)
	bad := startHTTP(t, "127.0.0.2", cert, httpOpts{from: domain, noSubprotocol: true})
	good := startHTTP(t, "127.0.0.3", cert, httpOpts{from: domain})
	c := dialOK(t, newDialer(ca), route(hacx.MethodWebSocket, bad.addr, 1), route(hacx.MethodWebSocket, good.addr, 2))
	if c.Route.Index != 2 || !errors.Is(c.Attempts[0].Err, dial.ErrNoSubprotocol) {
		t.Errorf("winner %s, attempt 1 err %v", c.Route, c.Attempts[0].Err)
	}
}

func TestWebSocket_WrongDomainSkipped_C4(t *testing.T) {
	ca := newCA(t)
	srv := startHTTP(t, "127.0.0.1", issue(t, ca, domain), httpOpts{from: "other.test"})
	de := dialFail(t, newDialer(ca), route(hacx.MethodWebSocket, srv.addr, 1))
	if !errors.Is(de, xmppstream.ErrWrongDomain) || de.Attempts[0].Phase != dial.PhaseStream {
		t.Errorf("err %v", de)
	}
}

func TestWebSocket_NameNeitherDomainNorURLHost_A10(t *testing.T) {
	ca := newCA(t)
	srv := startHTTP(t, "127.0.0.1", issue(t, ca, "elsewhere.test"), httpOpts{from: domain})
	de := dialFail(t, newDialer(ca), route(hacx.MethodWebSocket, srv.addr, 1))
	if de.Attempts[0].Phase != dial.PhaseVerify {
		t.Errorf("phase %s, want verify", de.Attempts[0].Phase)
	}
}

func TestBOSH_SessionCreated_A8_C4(t *testing.T) {
	ca := newCA(t)
	srv := startHTTP(t, "127.0.0.2", issue(t, ca, urlHost), httpOpts{from: domain})
	c := dialOK(t, newDialer(ca), route(hacx.MethodBOSH, srv.addr, 1))
	if c.BOSH == nil || c.BOSH.Session.SID != "sid-1" || c.Header.From != domain {
		t.Fatalf("conn %+v", c)
	}
	hosts, paths := srv.seenHTTP()
	if len(hosts) != 1 || hosts[0] != urlHost || paths[0] != "/http-bind" {
		t.Errorf("server saw Host %v path %v", hosts, paths)
	}
	// Closing terminates the session over the same route.
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if hosts, _ := srv.seenHTTP(); len(hosts) != 2 {
		t.Errorf("terminate not sent: %d requests", len(hosts))
	}
}

func TestBOSH_WrongDomainSkipped_C4(t *testing.T) {
	ca := newCA(t)
	srv := startHTTP(t, "127.0.0.1", issue(t, ca, domain), httpOpts{from: "other.test"})
	de := dialFail(t, newDialer(ca), route(hacx.MethodBOSH, srv.addr, 1))
	if !errors.Is(de, xmppstream.ErrWrongDomain) {
		t.Errorf("err %v", de)
	}
}

func TestHTTPRoutes_NoGoroutineLeak_C5(t *testing.T) {
	ca := newCA(t)
	cert := issue(t, ca, domain)
	good := startHTTP(t, "127.0.0.2", cert, httpOpts{from: domain})
	bad := startHTTP(t, "127.0.0.3", cert, httpOpts{from: domain, noSubprotocol: true})
	routes := []hacx.Route{
		route(hacx.MethodWebSocket, bad.addr, 1),
		route(hacx.MethodBOSH, good.addr, 2),
		route(hacx.MethodWebSocket, good.addr, 3),
		route(hacx.MethodBOSH, bad.addr, 4),
	}
	d := newDialer(ca)
	d.Stagger = time.Millisecond // all four overlap
	base := runtime.NumGoroutine()
	for range 3 {
		atts, err := d.DialAll(context.Background(), domain, hacx.Client, routes)
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range atts {
			if a.OK() != (i != 0) {
				t.Errorf("route %d: ok=%v err=%v", i+1, a.OK(), a.Err)
			}
		}
		c, err := d.DialRoutes(context.Background(), domain, hacx.Client, routes)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	waitGoroutines(t, base)
}

// TestWebSocket_TLSUnderneath: WebSocketTLS is the connection the
// WebSocket runs on: closing it ends a WebSocket read at once, which
// the WebSocket's own Close would not against a silent peer.
func TestWebSocket_TLSUnderneath(t *testing.T) {
	ca := newCA(t)
	srv := startHTTP(t, "127.0.0.1", issue(t, ca, domain), httpOpts{from: domain})
	c := dialOK(t, newDialer(ca), route(hacx.MethodWebSocket, srv.addr, 1))
	if c.WebSocketTLS == nil {
		t.Fatal("no WebSocketTLS")
	}
	if got := c.WebSocketTLS.RemoteAddr().String(); got != srv.addr.String() {
		t.Errorf("WebSocketTLS to %s, the route is %s", got, srv.addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, _, err := c.WebSocket.Read(ctx); err != nil { // the features
		t.Fatal(err)
	}
	read := make(chan error, 1)
	go func() {
		_, _, err := c.WebSocket.Read(ctx) // the echo server sends nothing more
		read <- err
	}()
	c.WebSocketTLS.NetConn().Close()
	if err := <-read; err == nil || ctx.Err() != nil {
		t.Errorf("read after closing the connection underneath: %v (ctx %v)", err, ctx.Err())
	}
	c.WebSocket.CloseNow()
}

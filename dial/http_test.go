package dial_test

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

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
	if c.Header.From != domain || c.Verified != dial.VerifiedWebPKI || c.Features != nil {
		t.Fatalf("conn %+v", c)
	}
	hosts, paths := srv.seenHTTP()
	if len(hosts) != 1 || hosts[0] != urlHost || paths[0] != "/xmpp-websocket" {
		t.Errorf("server saw Host %v path %v", hosts, paths)
	}
	if h := srv.seen(); len(h) != 1 || h[0].sni != "" || len(h[0].alpn) != 0 {
		t.Errorf("ClientHello %+v: want no SNI and no ALPN (A5, A7)", h)
	}
	// The stream goes on: the features come next, in their own message,
	// then the server echoes each message.
	sc, err := c.StreamConn()
	if err != nil {
		t.Fatal(err)
	}
	sc.SetDeadline(time.Now().Add(20 * time.Second))
	header := "<stream:stream to='" + domain + "' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
	if _, err := io.WriteString(sc, header+"<presence/>"); err != nil {
		t.Fatal(err)
	}
	sp := xmppstream.NewSplitter(sc, 0)
	if tok, err := sp.Next(); err != nil || tok.Kind != xmppstream.TokenOpen || tok.Header.From != domain {
		t.Fatalf("header %q, %v", tok.Raw, err)
	}
	if tok, err := sp.Next(); err != nil || tok.Name != (xml.Name{Space: xmppstream.NSStream, Local: "features"}) {
		t.Fatalf("features %q, %v", tok.Raw, err)
	}
	// The server got <presence/> as one namespace-complete message.
	if tok, err := sp.Next(); err != nil || tok.Name != (xml.Name{Space: "jabber:client", Local: "presence"}) || !strings.Contains(string(tok.Raw), "xmlns='jabber:client'") {
		t.Errorf("echo %q %v", tok.Raw, err)
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
	if c.Header.From != domain {
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

// TestWebSocket_CloseEndsBlockedRead: closing the stream conn while a
// Read waits (the echo server sends nothing after the features) ends the
// Read at once: Close ends the stream with <close/>, which the echo
// server sends back, and the WebSocket with its close handshake.
func TestWebSocket_CloseEndsBlockedRead(t *testing.T) {
	ca := newCA(t)
	srv := startHTTP(t, "127.0.0.1", issue(t, ca, domain), httpOpts{from: domain})
	c := dialOK(t, newDialer(ca), route(hacx.MethodWebSocket, srv.addr, 1))
	sc, err := c.StreamConn()
	if err != nil {
		t.Fatal(err)
	}
	if la, ra := sc.LocalAddr(), sc.RemoteAddr(); la == nil || ra.String() != srv.addr.String() {
		t.Errorf("addresses %v -> %v, the route is %s", la, ra, srv.addr)
	}
	sp := xmppstream.NewSplitter(sc, 0)
	for range 2 { // the header and the features
		if _, err := sp.Next(); err != nil {
			t.Fatal(err)
		}
	}
	read := make(chan error, 1)
	go func() {
		for { // the echo of Close's <close/> may come first
			if _, err := sp.Next(); err != nil {
				read <- err
				return
			}
		}
	}()
	start := time.Now()
	if err := sc.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case <-read:
	case <-time.After(10 * time.Second):
		t.Fatal("the Read still waits after Close")
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Close took %v", el)
	}
}

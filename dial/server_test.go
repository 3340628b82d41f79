package dial_test

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"hacx.dev/hacx"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/xmppstream"
)

// The loopback world the tests dial: an XMPP domain whose certificate is
// issued by a runtime CA, and servers on 127.0.0.x (network rule).
const (
	domain  = "example.test"
	urlHost = "chat.example.test"
)

// hello is what a server saw of a ClientHello (A5, A6).
type hello struct {
	sni  string
	alpn []string
}

// mode is how a test server behaves after accepting TCP.
type mode int

const (
	modeXMPP      mode = iota // TLS, then a stream from the server's from
	modeBlackhole             // accept TCP, never answer: a dead route
	modeEcho                  // like modeXMPP, then echo what the client sends
	modeHTTP                  // TLS, then an HTTP response: a web server on the port
	modeSMTP                  // TLS, then an SMTP banner
	modeSilent                // TLS, then never a stream header
)

type tlsServer struct {
	addr   netip.AddrPort
	mu     sync.Mutex
	hellos []hello
	// close stops the server and its connections; the test's cleanup
	// calls it too.
	close func()
}

func (s *tlsServer) seen() []hello {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]hello(nil), s.hellos...)
}

func (s *tlsServer) tlsConfig(cert *tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{*cert},
		NextProtos:   []string{"xmpp-client", "xmpp-server", "h2", "http/1.1"},
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			s.mu.Lock()
			s.hellos = append(s.hellos, hello{sni: h.ServerName, alpn: append([]string(nil), h.SupportedProtos...)})
			s.mu.Unlock()
			return nil, nil
		},
	}
}

// startTLS starts a direct-TLS XMPP server on ip, claiming to be from.
func startTLS(t testing.TB, ip string, cert *tls.Certificate, from string, m mode) *tlsServer {
	t.Helper()
	return startTLSKind(t, ip, cert, from, m, hacx.Client)
}

// startTLSKind is startTLS for a server of kind (jabber:client or jabber:server).
func startTLSKind(t testing.TB, ip string, cert *tls.Certificate, from string, m mode, kind hacx.Kind) *tlsServer {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	s := &tlsServer{addr: netip.MustParseAddrPort(ln.Addr().String())}
	cfg := s.tlsConfig(cert)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serveConn(c, cfg, from, m, kind)
			}()
		}
	}()
	s.close = sync.OnceFunc(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	t.Cleanup(s.close)
	return s
}

func serveConn(c net.Conn, cfg *tls.Config, from string, m mode, kind hacx.Kind) {
	if m == modeBlackhole {
		io.Copy(io.Discard, c) // hold the connection, say nothing
		return
	}
	tc := tls.Server(c, cfg)
	tc.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.Handshake(); err != nil {
		return
	}
	switch m {
	case modeHTTP:
		tc.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		return
	case modeSMTP:
		tc.Write([]byte("220 mail.example.test ESMTP ready\r\n"))
		io.Copy(io.Discard, tc)
		return
	case modeSilent:
		io.Copy(io.Discard, tc)
		return
	}
	if _, err := xmppstream.ReadClientOpen(tc, kind); err != nil {
		return
	}
	xmppstream.WriteServerOpen(tc, from, "stream-1", kind)
	xmppstream.WriteFeatures(tc, loopback.Features(kind))
	if m == modeEcho {
		io.Copy(tc, tc)
		return
	}
	io.Copy(io.Discard, tc)
}

// httpServer is a WebSocket and BOSH endpoint on ip: /xmpp-websocket
// (RFC 7395) and /http-bind (XEP-0206).
type httpServer struct {
	tlsServer
	hosts []string // Host headers seen
	paths []string
}

type httpOpts struct {
	from          string
	noSubprotocol bool // accept the upgrade without echoing "xmpp" (C3)
	silent        bool // never answer: no <open/>, no BOSH session response
	upgradeStatus int  // answer the WebSocket upgrade with this status and a short body
}

func startHTTP(t testing.TB, ip string, cert *tls.Certificate, o httpOpts) *httpServer {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	s := &httpServer{}
	s.addr = netip.MustParseAddrPort(ln.Addr().String())
	mux := http.NewServeMux()
	note := func(r *http.Request) {
		s.mu.Lock()
		s.hosts = append(s.hosts, r.Host)
		s.paths = append(s.paths, r.URL.Path)
		s.mu.Unlock()
	}
	mux.HandleFunc("/xmpp-websocket", func(w http.ResponseWriter, r *http.Request) {
		note(r)
		if o.upgradeStatus != 0 {
			w.WriteHeader(o.upgradeStatus)
			io.WriteString(w, "no websocket here")
			return
		}
		ao := &websocket.AcceptOptions{Subprotocols: []string{"xmpp"}}
		if o.noSubprotocol {
			ao.Subprotocols = nil
		}
		ws, err := websocket.Accept(w, r, ao)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := r.Context()
		if o.silent {
			for { // read until the client goes, never answer
				if _, _, err := ws.Read(ctx); err != nil {
					return
				}
			}
		}
		_, msg, err := ws.Read(ctx)
		if err != nil {
			return
		}
		if _, err := xmppstream.CheckWSClientOpen(msg); err != nil {
			return
		}
		ws.Write(ctx, websocket.MessageText, xmppstream.WSServerOpen(o.from, "ws-1"))
		ws.Write(ctx, websocket.MessageText, loopback.WSFeatures(loopback.Features(hacx.Client)))
		for { // echo until the client goes
			typ, msg, err := ws.Read(ctx)
			if err != nil {
				return
			}
			ws.Write(ctx, typ, msg)
		}
	})
	mux.HandleFunc("/http-bind", func(w http.ResponseWriter, r *http.Request) {
		note(r)
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if o.silent {
			<-r.Context().Done() // the client gives up
			return
		}
		if _, err := loopback.ParseBOSHRequest(body); err != nil {
			w.Write(xmppstream.BOSHTerminate("")) // a terminate request, or junk
			return
		}
		sess := &xmppstream.BOSHSession{SID: "sid-1", Header: xmppstream.Header{From: o.from, Version: "1.0"},
			Wait: 60, Hold: 1, Requests: 2, Ver: "1.6", Features: loopback.Features(hacx.Client)}
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.Write(loopback.BOSHSessionBody(sess))
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = ln
	srv.TLS = s.tlsConfig(cert)
	srv.TLS.NextProtos = []string{"http/1.1"}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of some tests
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return s
}

func (s *httpServer) seenHTTP() (hosts, paths []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.hosts...), append([]string(nil), s.paths...)
}

// refusedAddr returns a loopback address nothing listens on: connecting
// is refused at once.
// refusedAddr is a port nothing listens on, on a loopback address no test
// listens on, so no other test can take the port meanwhile.
func refusedAddr(t testing.TB) netip.AddrPort {
	t.Helper()
	a, err := loopback.RefusedAddr("127.0.0.13")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func newCA(t testing.TB) *hacxtest.CA {
	t.Helper()
	ca, err := hacxtest.NewCA(t.Name())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func issue(t testing.TB, ca *hacxtest.CA, names ...string) *tls.Certificate {
	t.Helper()
	c, err := ca.Issue(names...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func route(m hacx.Method, addr netip.AddrPort, index int) hacx.Route {
	r := hacx.Route{Method: m, Addr: addr, Source: hacx.SourceStatic, Index: index}
	switch m {
	case hacx.MethodWebSocket:
		r.URL = "wss://" + urlHost + "/xmpp-websocket"
	case hacx.MethodBOSH:
		r.URL = "https://" + urlHost + "/http-bind"
	}
	return r
}

var errTest = errors.New("test")

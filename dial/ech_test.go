package dial_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/ech"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/loopback"
)

// The ECH world: the front end's public name, the only name an observer
// may see, and the hidden name the inner ClientHello asks for.
const (
	echPublic = "front.cdn.test"
	echInner  = "hidden.example.test"
)

func echKey(t testing.TB) *ech.Key {
	t.Helper()
	k, err := ech.GenerateKey(echPublic)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// recordingRelay forwards loopback TCP connections to target and keeps
// every byte the client sent: what an observer on the path sees.
type recordingRelay struct {
	ln     net.Listener
	addr   netip.AddrPort
	target string
	wg     sync.WaitGroup
	mu     sync.Mutex
	sent   bytes.Buffer
}

func startRelay(t testing.TB, target netip.AddrPort) *recordingRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recordingRelay{ln: ln, addr: ln.Addr().(*net.TCPAddr).AddrPort(), target: target.String()}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				defer c.Close()
				s, err := net.Dial("tcp", r.target)
				if err != nil {
					return
				}
				defer s.Close()
				done := make(chan struct{})
				go func() {
					io.Copy(c, s)
					c.Close()
					close(done)
				}()
				io.Copy(io.MultiWriter(s, r), c)
				s.Close()
				<-done
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); r.wg.Wait() })
	return r
}

func (r *recordingRelay) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sent.Write(p)
}

func (r *recordingRelay) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.sent.Bytes())
}

func startECHXMPP(t testing.TB, cert *tls.Certificate, keys ...*ech.Key) *hacxtest.XMPPServer {
	t.Helper()
	cfg := hacxtest.XMPPConfig{}
	if keys != nil {
		cfg.ECHKeys = ech.Keys(keys).TLS()
	}
	s, err := hacxtest.StartXMPP("127.0.0.1:0", cert, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func echRoute(addr netip.AddrPort, list []byte) hacx.Route {
	r := route(hacx.MethodTLS, addr, 1)
	r.SNI, r.HasSNI = echInner, true
	r.ALPN = []byte("xmpp-client")
	r.ECH = list
	return r
}

// onlyAttempt is the single attempt of a one-route dial.
func onlyAttempt(t *testing.T, d *dial.Dialer, r hacx.Route) dial.Attempt {
	t.Helper()
	as, err := d.DialAll(context.Background(), domain, hacx.Client, []hacx.Route{r})
	if err != nil {
		t.Fatalf("DialAll: %v", err)
	}
	if len(as) != 1 {
		t.Fatalf("%d attempts", len(as))
	}
	return as[0]
}

// TestECH_AcceptedEndToEnd_E4: a route with ech is dialed with it: the
// server decrypts the inner ClientHello (inner SNI = the route's sni, no
// ALPN offered), the attempt says accepted with the public name, and an
// observer between client and server sees the public name and never the
// inner name, the domain or "xmpp".
func TestECH_AcceptedEndToEnd_E4(t *testing.T) {
	ca := newCA(t)
	k := echKey(t)
	srv := startECHXMPP(t, issue(t, ca, domain, echPublic), k)
	relay := startRelay(t, srv.Addr())
	c := dialOK(t, newDialer(ca), echRoute(relay.addr, k.ConfigList()))
	if !c.TLS.ECHAccepted {
		t.Fatal("the winning connection did not use ECH")
	}
	last, ok := srv.Last()
	if !ok || !last.ECHAccepted || last.SNI != echInner || last.ALPN != nil {
		t.Fatalf("server saw %+v, want ECH accepted, inner SNI %q, no ALPN", last, echInner)
	}
	c.Close()
	seen := relay.bytes()
	if !bytes.Contains(seen, []byte(echPublic)) {
		t.Errorf("the outer ClientHello does not carry the public name %q", echPublic)
	}
	for _, secret := range []string{echInner, domain, "xmpp"} {
		if bytes.Contains(seen, []byte(secret)) {
			t.Errorf("an observer saw %q in the client's bytes", secret)
		}
	}

	at := onlyAttempt(t, newDialer(ca), echRoute(srv.Addr(), k.ConfigList()))
	if !at.OK() || at.ECH != dial.ECHAccepted || at.ECHOuter != echPublic || at.ECHRetried {
		t.Errorf("attempt: ok=%v ech=%q outer=%q retried=%v err=%v", at.OK(), at.ECH, at.ECHOuter, at.ECHRetried, at.Err)
	}
	plain := onlyAttempt(t, newDialer(ca), route(hacx.MethodTLS, srv.Addr(), 1))
	if !plain.OK() || plain.ECH != dial.ECHNone || plain.ECHOuter != "" {
		t.Errorf("route without ech: ech=%q outer=%q err=%v", plain.ECH, plain.ECHOuter, plain.Err)
	}
}

// TestECH_WebSocketAndBOSH_E4: the HTTP methods reach ECH through the same
// TLS dial; the inner SNI is the domain when the route names none.
func TestECH_WebSocketAndBOSH_E4(t *testing.T) {
	ca := newCA(t)
	k := echKey(t)
	cert := issue(t, ca, domain, urlHost, echPublic)
	cfg := loopback.HTTPConfig{ECHKeys: ech.Keys{k}.TLS()}
	ws, err := loopback.StartWebSocket("127.0.0.1:0", cert, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	bosh, err := loopback.StartBOSH("127.0.0.1:0", cert, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bosh.Close() })
	for _, tt := range []struct {
		m    hacx.Method
		addr netip.AddrPort
		last func() (loopback.Contact, bool)
	}{
		{hacx.MethodWebSocket, ws.Addr(), ws.Last},
		{hacx.MethodBOSH, bosh.Addr(), bosh.Last},
	} {
		t.Run(string(tt.m), func(t *testing.T) {
			r := route(tt.m, tt.addr, 1)
			r.ECH = k.ConfigList()
			at := onlyAttempt(t, newDialer(ca), r)
			if !at.OK() || at.ECH != dial.ECHAccepted || at.ECHOuter != echPublic {
				t.Fatalf("attempt: ech=%q outer=%q err=%v", at.ECH, at.ECHOuter, at.Err)
			}
			if last, _ := tt.last(); !last.ECHAccepted || last.SNI != domain {
				t.Errorf("server saw %+v, want ECH accepted with inner SNI %q", last, domain)
			}
		})
	}
}

// TestECH_StaleConfigRetried_E4: a server that rotated its key rejects
// the published (stale) configuration and sends its new one; the attempt
// uses it once and succeeds.
func TestECH_StaleConfigRetried_E4(t *testing.T) {
	ca := newCA(t)
	stale, current := echKey(t), echKey(t)
	srv := startECHXMPP(t, issue(t, ca, domain, echPublic), current)
	at := onlyAttempt(t, newDialer(ca), echRoute(srv.Addr(), stale.ConfigList()))
	if !at.OK() || at.ECH != dial.ECHAccepted || !at.ECHRetried {
		t.Fatalf("attempt: ok=%v ech=%q retried=%v err=%v", at.OK(), at.ECH, at.ECHRetried, at.Err)
	}
	cs := srv.Contacts()
	if len(cs) != 2 || cs[0].ECHAccepted || cs[0].SNI != echPublic || !cs[1].ECHAccepted || cs[1].SNI != echInner {
		t.Fatalf("server contacts %+v, want a rejected outer hello then an accepted inner one", cs)
	}
}

// TestECH_RejectedFailsTheRoute_E4: a route that publishes ECH and is not
// accepted fails with ErrECHRejected and a reason, and is never dialed
// again with a clear SNI: a server with another key and no retry
// configuration, a server without ECH, and a rejection whose certificate
// is not the public name's.
func TestECH_RejectedFailsTheRoute_E4(t *testing.T) {
	ca := newCA(t)
	k := echKey(t)
	other := echKey(t)
	noRetry := startECHXMPP(t, issue(t, ca, domain, echPublic))
	noRetry.Close()
	tests := []struct {
		name    string
		srv     func() *hacxtest.XMPPServer
		want    error
		message string
	}{
		{"wrong key, no retry configuration", func() *hacxtest.XMPPServer {
			cfg := hacxtest.XMPPConfig{ECHKeys: []tls.EncryptedClientHelloKey{{Config: other.Config.Raw, PrivateKey: other.PrivateKey.Bytes()}}}
			s, err := hacxtest.StartXMPP("127.0.0.1:0", issue(t, ca, domain, echPublic), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}, dial.ErrECHRejected, "sent no retry configuration"},
		{"server without ECH", func() *hacxtest.XMPPServer {
			return startECHXMPP(t, issue(t, ca, domain, echPublic))
		}, dial.ErrECHRejected, "sent no retry configuration"},
		{"rejection not from the public name", func() *hacxtest.XMPPServer {
			return startECHXMPP(t, issue(t, ca, domain), other)
		}, nil, "not valid for the public name " + echPublic},
		{"stale, then the retry rejected too", func() *hacxtest.XMPPServer {
			// The retry configuration names a key the server does
			// not hold: it is tried once, then the route fails.
			bogus := []tls.EncryptedClientHelloKey{
				{Config: other.Config.Raw, PrivateKey: other.PrivateKey.Bytes()},
				{Config: echKey(t).Config.Raw, PrivateKey: other.PrivateKey.Bytes(), SendAsRetry: true},
			}
			s, err := hacxtest.StartXMPP("127.0.0.1:0", issue(t, ca, domain, echPublic), hacxtest.XMPPConfig{ECHKeys: bogus})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}, dial.ErrECHRejected, "with the retry configuration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tt.srv()
			at := onlyAttempt(t, newDialer(ca), echRoute(srv.Addr(), k.ConfigList()))
			if at.OK() {
				t.Fatal("the route succeeded without ECH accepted")
			}
			if tt.want != nil && !errors.Is(at.Err, tt.want) {
				t.Errorf("err = %v, want %v", at.Err, tt.want)
			}
			if !strings.Contains(at.Err.Error(), tt.message) {
				t.Errorf("err = %q, want it to say %q", at.Err, tt.message)
			}
			if at.ECH == dial.ECHAccepted || at.ECHOuter != echPublic {
				t.Errorf("attempt ech=%q outer=%q", at.ECH, at.ECHOuter)
			}
			for _, c := range srv.Contacts() {
				if c.SNI != echPublic {
					t.Errorf("the server saw SNI %q in clear: a downgrade", c.SNI)
				}
			}
		})
	}
}

// BenchmarkECHVsPlainTLS measures what Encrypted Client Hello adds to a
// direct-TLS route: the time to a verified stream with ECH accepted
// against the same route without ech, to the same loopback server, in
// one run:
//
//	go test -run '^$' -bench ECHVsPlainTLS ./dial/
//
// ech reports its cost relative to plain TLS as x-plain.
func BenchmarkECHVsPlainTLS(b *testing.B) {
	ca := newCA(b)
	k := echKey(b)
	srv := startECHXMPP(b, issue(b, ca, domain, echPublic), k)
	perOp := func(b *testing.B, r hacx.Route) time.Duration {
		return timeToStream(b, newDialer(ca), []hacx.Route{r}, nil, func(b *testing.B, c *dial.Conn) {
			if c.TLS.ECHAccepted != (r.ECH != nil) {
				b.Fatalf("ECHAccepted = %v", c.TLS.ECHAccepted)
			}
		})
	}
	plainRoute := echRoute(srv.Addr(), nil)
	var plain time.Duration
	b.Run("plain", func(b *testing.B) { plain = perOp(b, plainRoute) })
	b.Run("ech", func(b *testing.B) {
		e := perOp(b, echRoute(srv.Addr(), k.ConfigList()))
		reportRatio(b, e, plain, "x-plain")
		if plain > 0 {
			b.Logf("ech %.2f ms, plain %.2f ms, ratio %.2f×", float64(e.Microseconds())/1000, float64(plain.Microseconds())/1000, float64(e)/float64(plain))
		}
	})
}

// TestECH_OtherMethodsFailClosed_E4: a QUIC or STARTTLS route that
// carries ech fails rather than go out with a clear ClientHello.
func TestECH_OtherMethodsFailClosed_E4(t *testing.T) {
	ca := newCA(t)
	k := echKey(t)
	srv := startECHXMPP(t, issue(t, ca, domain, echPublic), k)
	for _, m := range []hacx.Method{hacx.MethodQUIC, hacx.MethodStartTLS} {
		r := route(m, srv.Addr(), 1)
		r.ECH = k.ConfigList()
		at := onlyAttempt(t, newDialer(ca), r)
		if at.OK() || !errors.Is(at.Err, dial.ErrECHRejected) {
			t.Errorf("%s: err = %v, want ErrECHRejected", m, at.Err)
		}
	}
	if n := len(srv.Contacts()); n != 0 {
		t.Errorf("the server was contacted %d times", n)
	}
}

package dial_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/discover"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/internal/testenv"
	"hacx.dev/hacx/socks"
)

// socksFixture is a domain's HACX publisher and direct-TLS XMPP server on
// loopback, and a SOCKS5 proxy that knows the publisher by name.
type socksFixture struct {
	ca    *hacxtest.CA
	xmpp  *hacxtest.XMPPServer
	proxy *loopback.SOCKSServer
	hits  func() int // requests the publisher served
	// direct is a Resolver.DialContext that maps domain:443 to the
	// publisher and refuses any other address (nothing leaves loopback);
	// directs counts its calls: a fetch around the proxy shows here.
	direct  func(ctx context.Context, network, addr string) (net.Conn, error)
	directs func() int64
}

func newSOCKSFixture(t *testing.T) *socksFixture {
	t.Helper()
	ca, err := hacxtest.NewCA("socks")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(domain)
	if err != nil {
		t.Fatal(err)
	}
	xmpp, err := hacxtest.StartXMPP("127.0.0.2:0", cert, hacxtest.XMPPConfig{RequireALPN: "xmpp-client"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { xmpp.Close() })
	doc, err := hacx.Marshal(&hacx.Document{TTL: 60, Records: []hacx.Record{
		{Method: hacx.MethodTLS, IP: xmpp.Addr().Addr(), Port: xmpp.Addr().Port(), Priority: 1, SNI: domain, HasSNI: true, ALPN: []byte("xmpp-client")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	hits := make(chan struct{}, 100)
	pub := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits <- struct{}{}
		if r.Host != domain || r.URL.Path != hacx.Client.WellKnownPath() {
			http.NotFound(w, r)
			return
		}
		w.Write(doc)
	}))
	pub.TLS = (&tlsServer{}).tlsConfig(cert)
	pub.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	pub.StartTLS()
	t.Cleanup(pub.Close)
	proxy, err := loopback.NewSOCKSServer(map[string]string{domain + ":443": pub.Listener.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	f := &socksFixture{ca: ca, xmpp: xmpp, proxy: proxy, hits: func() int { return len(hits) }}
	var directs atomic.Int64
	f.directs = directs.Load
	f.direct = func(ctx context.Context, network, addr string) (net.Conn, error) {
		directs.Add(1)
		if addr != domain+":443" {
			return nil, fmt.Errorf("test: no direct route to %s", addr)
		}
		var nd net.Dialer
		return nd.DialContext(ctx, network, pub.Listener.Addr().String())
	}
	return f
}

func TestSOCKS5h_DialThroughDiscovery_T1(t *testing.T) {
	f := newSOCKSFixture(t)
	p := &socks.Proxy{Addr: f.proxy.Addr, Username: "stream-7", Password: "x"}
	d := &dial.Dialer{Roots: f.ca.Pool(), Proxy: p,
		Routes: &discover.Resolver{Roots: f.ca.Pool(), Proxy: p, Fallback: discover.FallbackNever}}
	c, err := d.Dial(context.Background(), domain)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Verified != dial.VerifiedWebPKI || c.Header == nil || c.Header.From != domain {
		t.Errorf("conn verified %q header %+v", c.Verified, c.Header)
	}
	got := f.proxy.Connects()
	if len(got) != 2 {
		t.Fatalf("CONNECTs %v: want the HACX fetch and the route", got)
	}
	if !got[0].IsName || got[0].Target() != domain+":443" {
		t.Errorf("HACX fetch arrived as %v, want CONNECT %s:443 by name", got[0], domain)
	}
	if got[1].IsName || got[1].Target() != f.xmpp.Addr().String() {
		t.Errorf("route arrived as %v, want CONNECT %s (A8)", got[1], f.xmpp.Addr())
	}
	for _, cn := range got {
		if cn.User != "stream-7" {
			t.Errorf("%v: isolation user not sent", cn)
		}
	}
	// C3-C5 unchanged through the proxy: exact SNI and ALPN (A5, A6).
	if cs := f.xmpp.Contacts(); len(cs) != 1 || cs[0].SNI != domain || len(cs[0].ALPN) != 1 || cs[0].ALPN[0] != "xmpp-client" {
		t.Errorf("server saw %+v", cs)
	}
}

// TestDialer_ResolverProxyCarriesRoutes_T1: a Dialer without Proxy whose
// Discovery fetches through one dials the routes it found through that
// proxy too, never directly.
func TestDialer_ResolverProxyCarriesRoutes_T1(t *testing.T) {
	f := newSOCKSFixture(t)
	p := &socks.Proxy{Addr: f.proxy.Addr}
	var direct atomic.Int64
	for _, routes := range []dial.RouteSource{
		&discover.Resolver{Roots: f.ca.Pool(), Proxy: p, Fallback: discover.FallbackNever},
	} {
		before := len(f.proxy.Connects())
		d := &dial.Dialer{Roots: f.ca.Pool(), Routes: routes,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				direct.Add(1)
				var nd net.Dialer
				return nd.DialContext(ctx, network, addr)
			}}
		c, err := d.Dial(context.Background(), domain)
		if err != nil {
			t.Fatalf("%T: %v", routes, err)
		}
		c.Close()
		got := f.proxy.Connects()[before:]
		if direct.Load() != 0 || len(got) != 2 || got[1].IsName || got[1].Target() != f.xmpp.Addr().String() {
			t.Errorf("%T: %d direct dials, CONNECTs %v: want the fetch and the route %s through the proxy",
				routes, direct.Load(), got, f.xmpp.Addr())
		}
	}
}

// A zero Routes goes through the Dialer's proxy too; a Discovery without
// one would bypass it and is refused before anything is sent (T1).
func TestDialer_ProxyCoversDiscovery_T1(t *testing.T) {
	f := newSOCKSFixture(t)
	p := &socks.Proxy{Addr: f.proxy.Addr}
	for _, routes := range []dial.RouteSource{
		&discover.Resolver{Roots: f.ca.Pool(), DialContext: f.direct},
	} {
		d := &dial.Dialer{Roots: f.ca.Pool(), Proxy: p, Routes: routes}
		_, err := d.Dial(context.Background(), domain)
		if !errors.Is(err, dial.ErrProxyBypass) {
			t.Fatalf("Dial with an unproxied %T: %v, want ErrProxyBypass", routes, err)
		}
		if f.hits() != 0 || f.directs() != 0 || len(f.proxy.Connects()) != 0 || len(f.xmpp.Contacts()) != 0 {
			t.Errorf("%T: contact made: %d requests, %d direct dials, %v CONNECTs, %d XMPP contacts",
				routes, f.hits(), f.directs(), f.proxy.Connects(), len(f.xmpp.Contacts()))
		}
	}

	// With Routes nil the default discovery uses the proxy. It has the
	// system roots, so the fetch fails verification: but through the proxy.
	d := &dial.Dialer{Roots: f.ca.Pool(), Proxy: p}
	if _, err := d.Dial(context.Background(), domain); err == nil {
		t.Fatal("default discovery trusted the test CA")
	}
	// The fetch fails, so the F1 fallback follows: the domain itself, by
	// name, through the proxy too.
	got := f.proxy.Connects()
	for _, cn := range got {
		if tg := cn.Target(); !cn.IsName || tg != domain+":443" && tg != domain+":5222" && tg != domain+":5223" {
			t.Errorf("CONNECT %v: want %s:443 (or the F1 ports) by name", cn, domain)
		}
	}
	if len(got) == 0 {
		t.Error("the default discovery did not go through the proxy")
	}
}

// The stagger through a proxy is 1 s by default (C5): a blackholed first
// route holds the race that long before the next starts.
func TestDialer_ProxyStagger_C5(t *testing.T) {
	f := newSOCKSFixture(t)
	hole, err := loopback.StartBlackhole("127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	d := &dial.Dialer{Roots: f.ca.Pool(), TLSA: dial.NoDANE, Proxy: &socks.Proxy{Addr: f.proxy.Addr}}
	routes := []hacx.Route{
		{Method: hacx.MethodTLS, Addr: hole.Addr(), SNI: domain, HasSNI: true, Priority: 1, Source: hacx.SourceStatic},
		{Method: hacx.MethodTLS, Addr: f.xmpp.Addr(), SNI: domain, HasSNI: true, ALPN: []byte("xmpp-client"), Priority: 2, Source: hacx.SourceStatic},
	}
	c, err := d.DialRoutes(context.Background(), domain, hacx.Client, routes)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.Attempts) != 2 || c.Route.Addr != f.xmpp.Addr() {
		t.Fatalf("winner %v, attempts %+v", c.Route, c.Attempts)
	}
	if s := c.Attempts[1].Start; s < dial.DefaultProxyStagger || s > dial.DefaultProxyStagger+time.Second {
		t.Errorf("second route started at %v, want about %v", s, dial.DefaultProxyStagger)
	}
}

func TestSOCKS_FailingProxyNoDirectFallback_T1(t *testing.T) {
	for _, mode := range []string{"refuse 0x02", "refuse 0x05", "stall"} {
		t.Run(mode, func(t *testing.T) {
			f := newSOCKSFixture(t)
			switch mode {
			case "refuse 0x02":
				f.proxy.Refuse(loopback.SOCKSNotAllowed)
			case "refuse 0x05":
				f.proxy.Refuse(loopback.SOCKSConnectionRefused)
			default:
				f.proxy.Stall(true)
			}
			p, err := socks.Parse("socks5h://tor:pa55word@" + f.proxy.Addr)
			if err != nil {
				t.Fatal(err)
			}
			d := &dial.Dialer{Roots: f.ca.Pool(), Proxy: p, ConnectTimeout: 300 * time.Millisecond,
				Routes: &discover.Resolver{Roots: f.ca.Pool(), Proxy: p, Timeout: 300 * time.Millisecond, DialContext: f.direct}}
			route := hacx.Route{Method: hacx.MethodTLS, Addr: f.xmpp.Addr(), SNI: domain, HasSNI: true, ALPN: []byte("xmpp-client"), Source: hacx.SourceStatic}
			_, err = d.DialRoutes(context.Background(), domain, hacx.Client, []hacx.Route{route})
			var de *dial.Error
			if !errors.As(err, &de) || len(de.Attempts) != 1 {
				t.Fatalf("want a *dial.Error with one attempt, got %v", err)
			}
			var se *socks.Error
			msg := de.Attempts[0].Err.Error() // a stall is a connect timeout naming the proxy
			if !errors.As(de.Attempts[0].Err, &se) || !strings.Contains(msg, "socks5h://"+f.proxy.Addr) || strings.Contains(msg, "pa55word") {
				t.Errorf("attempt error %q: want a *socks.Error naming the proxy without the password", msg)
			}
			// Discovery fails the same way.
			_, err = d.Dial(context.Background(), domain)
			if err == nil || !strings.Contains(err.Error(), "socks5h://"+f.proxy.Addr) || strings.Contains(err.Error(), "pa55word") {
				t.Errorf("Dial error %v: want the proxy named, no password", err)
			}
			if len(f.xmpp.Contacts()) != 0 || f.hits() != 0 || f.directs() != 0 {
				t.Errorf("direct contact: %d XMPP, %d HTTPS, %d direct dials", len(f.xmpp.Contacts()), f.hits(), f.directs())
			}
		})
	}
}

// TestSOCKS_ProsodyAllTransports_T1: a real Prosody over direct TLS,
// WebSocket and BOSH, every connection through the proxy to the record's
// ip:port (A8), with the exact SNI and ALPN and a verified stream (C4).
func TestSOCKS_ProsodyAllTransports_T1(t *testing.T) {
	if err := testbed.ProsodyAvailable(); err != nil {
		testenv.Require(t, err)
	}
	const pdomain = "prosody.test"
	ca, err := hacxtest.NewCA("prosody-socks")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(pdomain)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pr, err := testbed.StartProsody(ctx, testbed.ProsodyConfig{Domain: pdomain, IP: "127.0.0.11", Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	proxy, err := loopback.NewSOCKSServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	d := dial.Dialer{Roots: ca.Pool(), Proxy: &socks.Proxy{Addr: proxy.Addr}}
	routes := []hacx.Route{
		{Method: hacx.MethodTLS, Addr: pr.TLSAddr, SNI: pdomain, HasSNI: true, ALPN: []byte("xmpp-client")},
		{Method: hacx.MethodWebSocket, Addr: pr.HTTPSAddr, SNI: pdomain, HasSNI: true, URL: pr.WebSocketURL},
		{Method: hacx.MethodBOSH, Addr: pr.HTTPSAddr, SNI: pdomain, HasSNI: true, URL: pr.BOSHURL},
	}
	for _, rt := range routes {
		t.Run(string(rt.Method), func(t *testing.T) {
			rt.Source = hacx.SourceStatic
			before := len(proxy.Connects())
			c, err := d.DialRoutes(ctx, pdomain, hacx.Client, []hacx.Route{rt})
			if err != nil {
				t.Fatalf("%v\nprosody log:\n%s", err, pr.Log())
			}
			defer c.Close()
			if c.Header == nil || c.Header.From != pdomain || c.Verified != dial.VerifiedWebPKI {
				t.Errorf("header %+v verified %q", c.Header, c.Verified)
			}
			got := proxy.Connects()[before:]
			if len(got) == 0 {
				t.Fatal("no CONNECT: the route was dialed around the proxy")
			}
			for _, cn := range got {
				if cn.IsName || cn.Target() != rt.Addr.String() || cn.Reply != 0 {
					t.Errorf("%v (reply %d): want CONNECT %s by IP", cn, cn.Reply, rt.Addr)
				}
			}
		})
	}
}

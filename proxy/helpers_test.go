package proxy_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/proxy"
	"hacx.dev/hacx/xmppstream"
)

const domain = "relay.test"

// bed is a CA, a certificate for domain, and echo endpoints of each
// transport on loopback.
type bed struct {
	ca   *hacxtest.CA
	cert *tls.Certificate
}

func newBed(t *testing.T) *bed {
	t.Helper()
	ca, err := hacxtest.NewCA("proxy")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(domain)
	if err != nil {
		t.Fatal(err)
	}
	return &bed{ca: ca, cert: cert}
}

// echoRoute starts an echo endpoint for method and returns its route.
func (b *bed) echoRoute(t *testing.T, method hacx.Method, cfg loopback.EchoConfig) hacx.Route {
	t.Helper()
	r, _ := b.echoRouteEnds(t, method, cfg)
	return r
}

// echoRouteEnds is echoRoute that also returns the count of streams the
// proxy ended at the endpoint.
func (b *bed) echoRouteEnds(t *testing.T, method hacx.Method, cfg loopback.EchoConfig) (hacx.Route, func() int) {
	t.Helper()
	var ends func() int
	r := hacx.Route{Method: method, SNI: domain, HasSNI: true, Source: hacx.SourceStatic, Index: 1}
	switch method {
	case hacx.MethodTLS:
		s, err := loopback.StartEchoXMPP("127.0.0.1:0", b.cert, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		ends = s.Ends
		r.Addr = s.Addr()
	case hacx.MethodWebSocket:
		s, err := loopback.StartEchoWebSocket("127.0.0.1:0", b.cert, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		ends = s.Ends
		r.Addr = s.Addr()
		r.URL = fmt.Sprintf("wss://%s:%d/xmpp-websocket", domain, s.Addr().Port())
	case hacx.MethodBOSH:
		s, err := loopback.StartEchoBOSH("127.0.0.1:0", b.cert, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		ends = s.Ends
		r.Addr = s.Addr()
		r.URL = fmt.Sprintf("https://%s:%d/http-bind", domain, s.Addr().Port())
	}
	return r, ends
}

// startProxy serves a proxy whose dialer knows only routes, and returns
// its address. The server is shut down at the end of the test.
func (b *bed) startProxy(t *testing.T, routes []hacx.Route, mod func(*proxy.Server)) (*proxy.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return b.serveProxy(t, context.Background(), ln, routes, mod), ln.Addr().String()
}

// serveProxy serves a proxy on ln under ctx; at the end of the test it is
// closed and Serve must have returned ErrServerClosed, or ctx's error
// when ctx ended.
func (b *bed) serveProxy(t *testing.T, ctx context.Context, ln net.Listener, routes []hacx.Route, mod func(*proxy.Server)) *proxy.Server {
	t.Helper()
	srv := &proxy.Server{
		Dialer: &dial.Dialer{
			Roots: b.ca.Pool(), TLSA: dial.NoDANE, Stagger: 50 * time.Millisecond,
			Routes: dial.RouteSourceFunc(func(ctx context.Context, d string, k hacx.Kind) ([]hacx.Route, error) {
				if d != domain {
					return nil, fmt.Errorf("no routes for %q", d)
				}
				return routes, nil
			}),
		},
	}
	if mod != nil {
		mod(srv)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		srv.Close()
		err := <-served
		if !errors.Is(err, proxy.ErrServerClosed) && (ctx.Err() == nil || !errors.Is(err, ctx.Err())) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return srv
}

// waitNoConns waits until srv relays nothing, and fails after a deadline.
func waitNoConns(t *testing.T, srv *proxy.Server) {
	t.Helper()
	waitConns(t, srv, 0)
}

// waitConns waits up to 10 s until the proxy holds n connections.
func waitConns(t *testing.T, srv *proxy.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for srv.ActiveConns() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections relayed after 10 s, want %d", srv.ActiveConns(), n)
		}
		time.Sleep(5 * time.Millisecond) // polling the count the test waits for
	}
}

// client is a minimal plain XMPP client of the proxy.
type client struct {
	t  *testing.T
	c  net.Conn
	sp *xmppstream.Splitter
}

func dialClient(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &client{t: t, c: c, sp: xmppstream.NewSplitter(c, 0)}
}

func (cl *client) send(s string) {
	cl.t.Helper()
	if _, err := io.WriteString(cl.c, s); err != nil {
		cl.t.Fatalf("client write: %v", err)
	}
}

func (cl *client) open(to string, kind hacx.Kind) {
	cl.t.Helper()
	if err := xmppstream.WriteOpen(cl.c, to, kind); err != nil {
		cl.t.Fatal(err)
	}
}

// next returns the next token that is not whitespace.
func (cl *client) next() (xmppstream.Token, error) {
	for {
		tok, err := cl.sp.Next()
		if err != nil || tok.Kind != xmppstream.TokenSpace {
			return tok, err
		}
	}
}

func (cl *client) expect(kind xmppstream.TokenKind, local string) xmppstream.Token {
	cl.t.Helper()
	tok, err := cl.next()
	if err != nil {
		cl.t.Fatalf("want %s %s, got error %v", kind, local, err)
	}
	if tok.Kind != kind || (local != "" && tok.Name.Local != local) {
		cl.t.Fatalf("want %s <%s>, got %s %q", kind, local, tok.Kind, tok.Raw)
	}
	return tok
}

// expectStreamError reads until a stream error and returns its condition
// and text.
func (cl *client) expectStreamError() (condition, text string) {
	cl.t.Helper()
	for {
		tok, err := cl.next()
		if err != nil {
			cl.t.Fatalf("want a stream error, got %v", err)
		}
		if tok.Kind == xmppstream.TokenElement && tok.Name == (xml.Name{Space: xmppstream.NSStream, Local: "error"}) {
			var e struct {
				Conds []struct{ XMLName xml.Name } `xml:",any"`
				Text  string                       `xml:"urn:ietf:params:xml:ns:xmpp-streams text"`
			}
			if err := xml.Unmarshal(cl.sp.Complete(tok), &e); err != nil {
				cl.t.Fatalf("stream error %q: %v", tok.Raw, err)
			}
			for _, c := range e.Conds {
				if c.XMLName.Local != "text" {
					condition = c.XMLName.Local
				}
			}
			return condition, e.Text
		}
		if tok.Kind == xmppstream.TokenOpen {
			continue
		}
		cl.t.Fatalf("want a stream error, got %s %q", tok.Kind, tok.Raw)
	}
}

// canon renders an element's meaning: names resolved, attributes sorted,
// namespace declarations left out, so that an element and its
// namespace-complete copy compare equal.
func canon(t *testing.T, b []byte, ctxNS string) string {
	t.Helper()
	// Put the element in the stream's context, as a stream parser sees it.
	wrapped := "<w xmlns='" + ctxNS + "' xmlns:stream='" + xmppstream.NSStream + "'>" + string(b) + "</w>"
	d := xml.NewDecoder(strings.NewReader(wrapped))
	var out strings.Builder
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("canon %q: %v", b, err)
		}
		switch x := tok.(type) {
		case xml.StartElement:
			var attrs []string
			for _, a := range x.Attr {
				if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" && a.Name.Space == "" {
					continue
				}
				attrs = append(attrs, a.Name.Space+"|"+a.Name.Local+"="+a.Value)
			}
			sort.Strings(attrs)
			fmt.Fprintf(&out, "<%s|%s %s>", x.Name.Space, x.Name.Local, strings.Join(attrs, " "))
		case xml.EndElement:
			out.WriteString("</>")
		case xml.CharData:
			out.Write(x)
		}
	}
	return out.String()
}

// waitGoroutines waits until at most n goroutines run, and fails naming
// them otherwise.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines left, want at most %d:\n%s", runtime.NumGoroutine(), n, buf)
		}
		time.Sleep(10 * time.Millisecond) // polling the count, not timing the code
	}
}

func contains(b []byte, s string) bool { return bytes.Contains(b, []byte(s)) }

// recMetrics is a proxy.Metrics that keeps its counts under the names
// and labels "hacx proxy" exports them with, for counter and gauge.
type recMetrics struct {
	mu sync.Mutex
	m  map[string]float64 // name and label values, space-separated
}

func newRecMetrics() *recMetrics { return &recMetrics{m: map[string]float64{}} }

func (r *recMetrics) add(v float64, name string, labels ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[strings.Join(append([]string{name}, labels...), " ")] += v
}

func (r *recMetrics) ConnOpened(k hacx.Kind) {
	r.add(1, "hacx_proxy_connections_total", k.String())
	r.add(1, "hacx_proxy_connections_active", k.String())
}

func (r *recMetrics) ConnClosed(k hacx.Kind) { r.add(-1, "hacx_proxy_connections_active", k.String()) }

func (r *recMetrics) ConnBytes(toServer, toClient int64) {
	r.add(float64(toServer), "hacx_proxy_bytes_total", "to_server")
	r.add(float64(toClient), "hacx_proxy_bytes_total", "to_client")
}

func (r *recMetrics) RouteWon(rt hacx.Route) {
	r.add(1, "hacx_proxy_route_winners_total", string(rt.Method), string(rt.Source))
}

func (r *recMetrics) UpstreamFailed(k hacx.Kind) {
	r.add(1, "hacx_proxy_upstream_failures_total", k.String())
}

func (r *recMetrics) Refused(reason string) { r.add(1, "hacx_proxy_refused_total", reason) }

func (r *recMetrics) value(name string, labels ...string) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[strings.Join(append([]string{name}, labels...), " ")]
}

func counter(t *testing.T, r *recMetrics, name string, labels ...string) float64 {
	t.Helper()
	return r.value(name, labels...)
}

func gauge(t *testing.T, r *recMetrics, name string, labels ...string) float64 {
	t.Helper()
	return r.value(name, labels...)
}

package proxy_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/proxy"
	"hacx.dev/hacx/xmppstream"
)

// xclient is the smallest client that can log in to a real server: SASL
// PLAIN, a restart, resource binding, then messages to its own full JID.
type xclient struct {
	c   net.Conn
	sp  *xmppstream.Splitter
	jid string
}

func (x *xclient) next() (xmppstream.Token, error) {
	for {
		tok, err := x.sp.Next()
		if err != nil || tok.Kind != xmppstream.TokenSpace {
			return tok, err
		}
	}
}

func (x *xclient) want(kind xmppstream.TokenKind, local string) (xmppstream.Token, error) {
	tok, err := x.next()
	if err != nil {
		return tok, err
	}
	if tok.Kind != kind || (local != "" && tok.Name.Local != local) {
		return tok, fmt.Errorf("want %s <%s>, got %s %q", kind, local, tok.Kind, tok.Raw)
	}
	return tok, nil
}

// login runs the opening of a c2s session on c (already TLS for a
// direct connection, plain to the proxy).
func login(c net.Conn, domain, user, pass string) (*xclient, error) {
	x := &xclient{c: c, sp: xmppstream.NewSplitter(c, 0)}
	steps := []func() error{
		func() error { return xmppstream.WriteOpen(c, domain, hacx.Client) },
		func() error { _, err := x.want(xmppstream.TokenOpen, ""); return err },
		func() error { _, err := x.want(xmppstream.TokenElement, "features"); return err },
		func() error {
			cred := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
			_, err := io.WriteString(c, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"+cred+"</auth>")
			return err
		},
		func() error { _, err := x.want(xmppstream.TokenElement, "success"); return err },
		func() error { return xmppstream.WriteOpen(c, domain, hacx.Client) },
		func() error { _, err := x.want(xmppstream.TokenOpen, ""); return err },
		func() error { _, err := x.want(xmppstream.TokenElement, "features"); return err },
		func() error {
			_, err := io.WriteString(c, "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench</resource></bind></iq>")
			return err
		},
		func() error {
			tok, err := x.want(xmppstream.TokenElement, "iq")
			if err != nil {
				return err
			}
			var iq struct {
				JID string `xml:"bind>jid"`
			}
			if err := xml.Unmarshal(x.sp.Complete(tok), &iq); err != nil || iq.JID == "" {
				return fmt.Errorf("bind result %q: %v", tok.Raw, err)
			}
			x.jid = iq.JID
			return nil
		},
	}
	for i, step := range steps {
		if err := step(); err != nil {
			return nil, fmt.Errorf("login step %d: %w", i, err)
		}
	}
	return x, nil
}

func (x *xclient) message(i int) string {
	return fmt.Sprintf("<message to='%s' type='chat' id='m%d'><body>benchmark message %d: the quick brown fox jumps over the lazy dog</body></message>", x.jid, i, i)
}

// readMessages reads n <message/> elements, skipping anything else.
func (x *xclient) readMessages(n int) error {
	var other []byte
	for got := 0; got < n; {
		tok, err := x.next()
		if err != nil {
			return fmt.Errorf("after %d of %d messages (then %q): %w", got, n, other, err)
		}
		if tok.Kind == xmppstream.TokenElement && tok.Name.Local == "message" {
			got++
		} else {
			other = tok.Raw
		}
	}
	return nil
}

// throughput sends n messages to itself while reading them back, and
// returns messages per second.
func (x *xclient) throughput(n int) (float64, error) {
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		var b strings.Builder
		for i := range n {
			b.WriteString(x.message(i))
			if b.Len() > 8<<10 || i == n-1 {
				if _, err := io.WriteString(x.c, b.String()); err != nil {
					errc <- err
					return
				}
				b.Reset()
			}
		}
		errc <- nil
	}()
	if err := x.readMessages(n); err != nil {
		return 0, err
	}
	if err := <-errc; err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// roundTrip is the mean time for one message to come back, sent one at a
// time.
func (x *xclient) roundTrip(n int) (time.Duration, error) {
	start := time.Now()
	for i := range n {
		if _, err := io.WriteString(x.c, x.message(i)); err != nil {
			return 0, err
		}
		if err := x.readMessages(1); err != nil {
			return 0, err
		}
	}
	return time.Since(start) / time.Duration(n), nil
}

// BenchmarkProxyRelay measures messages per second and round-trip latency
// of a client talking to a real Prosody, directly over TLS and through the
// proxy (whose upstream is Prosody's direct TLS, WebSocket or BOSH), in
// the same run, and reports each path's ratio to the direct one and the
// latency the proxy adds. Each iteration is 3000 pipelined messages and
// 300 round trips per path.
func BenchmarkProxyRelay(b *testing.B) {
	hacxtest.Require(b, hacxtest.ProsodyAvailable())
	const (
		domain = "bench.test"
		msgs   = 3000
		trips  = 300
	)
	ca, err := hacxtest.NewCA("bench")
	if err != nil {
		b.Fatal(err)
	}
	cert, err := ca.Issue(domain)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	p, err := hacxtest.StartProsody(ctx, hacxtest.ProsodyConfig{Domain: domain, IP: "127.0.0.41", Cert: cert})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	if err := p.Register(ctx, "bench", "bench-pass"); err != nil {
		b.Fatal(err)
	}

	routes := map[string]hacx.Route{
		"tls":       {Method: hacx.MethodTLS, Addr: p.TLSAddr, SNI: domain, HasSNI: true, Source: hacx.SourceStatic},
		"websocket": {Method: hacx.MethodWebSocket, Addr: p.HTTPSAddr, SNI: domain, HasSNI: true, URL: p.WebSocketURL, Source: hacx.SourceStatic},
		"bosh":      {Method: hacx.MethodBOSH, Addr: p.HTTPSAddr, SNI: domain, HasSNI: true, URL: p.BOSHURL, Source: hacx.SourceStatic},
	}
	proxies := map[string]string{}
	for name, r := range routes {
		var logger *slog.Logger
		if os.Getenv("HACX_BENCH_DEBUG") != "" {
			logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
		srv := &proxy.Server{Logger: logger, Dialer: &dial.Dialer{Roots: ca.Pool(), TLSA: dial.NoDANE,
			Routes: dial.RouteSourceFunc(func(context.Context, string, hacx.Kind) ([]hacx.Route, error) { return []hacx.Route{r}, nil })}}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go srv.Serve(ctx, ln)
		defer srv.Close()
		proxies[name] = ln.Addr().String()
	}
	connect := func(path string) (*xclient, error) {
		var c net.Conn
		var err error
		if path == "direct" {
			c, err = tls.Dial("tcp", p.TLSAddr.String(), &tls.Config{RootCAs: ca.Pool(), ServerName: domain})
		} else {
			c, err = net.Dial("tcp", proxies[path])
		}
		if err != nil {
			return nil, err
		}
		c.SetDeadline(time.Now().Add(5 * time.Minute))
		x, err := login(c, domain, "bench", "bench-pass")
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("%s: %w\nprosody log:\n%s", path, err, p.Log())
		}
		return x, nil
	}

	paths := []string{"direct", "tls", "websocket", "bosh"}
	rate := map[string]float64{}
	rtt := map[string]time.Duration{}
	b.ResetTimer()
	for range b.N {
		for _, path := range paths {
			x, err := connect(path)
			if err != nil {
				b.Fatal(err)
			}
			r, err := x.throughput(msgs)
			if err != nil {
				b.Fatalf("%s: %v", path, err)
			}
			d, err := x.roundTrip(trips)
			if err != nil {
				b.Fatalf("%s: %v", path, err)
			}
			io.WriteString(x.c, "</stream:stream>")
			x.c.Close()
			rate[path] += r / float64(b.N)
			rtt[path] += d / time.Duration(b.N)
		}
	}
	b.StopTimer()
	b.ReportMetric(rate["direct"], "direct-msg/s")
	for _, path := range paths[1:] {
		b.ReportMetric(rate[path], path+"-msg/s")
		b.ReportMetric(rate[path]/rate["direct"], path+"-ratio")
		b.ReportMetric(float64((rtt[path] - rtt["direct"]).Microseconds()), path+"-added-µs")
	}
	for _, path := range paths {
		b.Logf("%-9s %8.0f msg/s  ratio %.2f  round trip %v", path, rate[path], rate[path]/rate["direct"], rtt[path].Round(time.Microsecond))
	}
}

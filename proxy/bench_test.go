package proxy_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/internal/testenv"
	"hacx.dev/hacx/proxy"
	"hacx.dev/hacx/xmppstream"
)

// transport is what differs between the ways the benchmark client reaches
// a server: an RFC 6120 byte stream (TCP or TLS), RFC 7395 WebSocket
// messages, or XEP-0206 BOSH requests. The login and the measurements
// (xclient) are written once against it.
type transport interface {
	// open starts the stream, or restarts it after SASL, and reads the
	// server's stream header (<stream:stream>, <open/>, or the BOSH
	// session creation or restart response).
	open(restart bool) error
	// send writes complete elements in order. more says that another
	// send follows soon (like MSG_MORE): a transport that cannot send
	// while it waits for the server may wait for it instead.
	send(more bool, elems ...[]byte) error
	// next returns the server's next element, skipping whitespace.
	next() (xmppstream.Token, error)
	// close ends the stream and releases the connection.
	close()
}

// xclient is the smallest client that can log in to a real server: SASL
// PLAIN, a restart, resource binding, then messages to its own full JID.
type xclient struct {
	t   transport
	jid string
}

func (x *xclient) want(kind xmppstream.TokenKind, local string) (xmppstream.Token, error) {
	tok, err := x.t.next()
	if err != nil {
		return tok, err
	}
	if tok.Kind != kind || (local != "" && tok.Name.Local != local) {
		return tok, fmt.Errorf("want %s <%s>, got %s %q", kind, local, tok.Kind, tok.Raw)
	}
	return tok, nil
}

// login runs the opening of a c2s session over t.
func login(t transport, user, pass string) (*xclient, error) {
	x := &xclient{t: t}
	steps := []func() error{
		func() error { return t.open(false) },
		func() error { _, err := x.want(xmppstream.TokenElement, "features"); return err },
		func() error {
			cred := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
			return t.send(false, []byte("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"+cred+"</auth>"))
		},
		func() error { _, err := x.want(xmppstream.TokenElement, "success"); return err },
		func() error { return t.open(true) },
		func() error { _, err := x.want(xmppstream.TokenElement, "features"); return err },
		func() error {
			return t.send(false, []byte("<iq type='set' id='bind1' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench</resource></bind></iq>"))
		},
		func() error {
			tok, err := x.want(xmppstream.TokenElement, "iq")
			if err != nil {
				return err
			}
			var iq struct {
				JID string `xml:"bind>jid"`
			}
			if err := xml.Unmarshal(tok.Raw, &iq); err != nil || iq.JID == "" {
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

func (x *xclient) message(i int) []byte {
	return fmt.Appendf(nil, "<message to='%s' type='chat' id='m%d' xmlns='jabber:client'><body>benchmark message %d: the quick brown fox jumps over the lazy dog</body></message>", x.jid, i, i)
}

// readMessages reads n <message/> elements, skipping anything else.
func (x *xclient) readMessages(n int) error {
	var other []byte
	for got := 0; got < n; {
		tok, err := x.t.next()
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

// throughput sends n messages to itself, in batches of about 8 KiB, while
// reading them back, and returns messages per second.
func (x *xclient) throughput(n int) (float64, error) {
	var batches [][][]byte
	var batch [][]byte
	size := 0
	for i := range n {
		m := x.message(i)
		batch = append(batch, m)
		size += len(m)
		if size > 8<<10 || i == n-1 {
			batches = append(batches, batch)
			batch, size = nil, 0
		}
	}
	start := time.Now()
	// The first batch goes out before the reader starts, so a transport
	// that must not poll while more is coming knows it from the start.
	if err := x.t.send(len(batches) > 1, batches[0]...); err != nil {
		return 0, err
	}
	errc := make(chan error, 1)
	go func() {
		for i, b := range batches[1:] {
			if err := x.t.send(i+2 < len(batches), b...); err != nil {
				errc <- err
				return
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
		if err := x.t.send(false, x.message(i)); err != nil {
			return 0, err
		}
		if err := x.readMessages(1); err != nil {
			return 0, err
		}
	}
	return time.Since(start) / time.Duration(n), nil
}

// streamTransport is RFC 6120 over a byte stream: TLS to the server, or
// plain TCP to the proxy.
type streamTransport struct {
	c      net.Conn
	sp     *xmppstream.Splitter
	domain string
}

func newStreamTransport(c net.Conn, domain string) *streamTransport {
	return &streamTransport{c: c, sp: xmppstream.NewSplitter(c, 0), domain: domain}
}

func (s *streamTransport) open(bool) error {
	if err := xmppstream.WriteOpen(s.c, s.domain, hacx.Client); err != nil {
		return err
	}
	tok, err := s.next()
	if err == nil && tok.Kind != xmppstream.TokenOpen {
		err = fmt.Errorf("want a stream header, got %s %q", tok.Kind, tok.Raw)
	}
	return err
}

func (s *streamTransport) send(_ bool, elems ...[]byte) error {
	bufs := net.Buffers(elems)
	_, err := bufs.WriteTo(s.c)
	return err
}

func (s *streamTransport) next() (xmppstream.Token, error) {
	for {
		tok, err := s.sp.Next()
		if err != nil || tok.Kind != xmppstream.TokenSpace {
			return tok, err
		}
	}
}

func (s *streamTransport) close() {
	io.WriteString(s.c, "</stream:stream>")
	s.c.Close()
}

// wsTransport is RFC 7395: one element per text message, <open/> for the
// stream header and for the restart after SASL.
type wsTransport struct {
	ctx    context.Context
	ws     *websocket.Conn
	domain string
}

// dialWS upgrades to the "xmpp" subprotocol at url over a connection to
// addr (the URL host is the XMPP domain, not resolvable here).
func dialWS(ctx context.Context, url string, addr netip.AddrPort, domain string, roots *x509.CertPool) (*wsTransport, error) {
	client := &http.Client{Transport: pinnedTransport(addr, domain, roots)}
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: client, Subprotocols: []string{xmppstream.WSSubprotocol}})
	if err != nil {
		return nil, err
	}
	// coder/websocket accepts an answer without a subprotocol; RFC 7395
	// requires "xmpp" (C3).
	if p := ws.Subprotocol(); p != xmppstream.WSSubprotocol {
		ws.CloseNow()
		return nil, fmt.Errorf("websocket subprotocol %q, not %q", p, xmppstream.WSSubprotocol)
	}
	ws.SetReadLimit(xmppstream.MaxMessageBytes)
	return &wsTransport{ctx: ctx, ws: ws, domain: domain}, nil
}

func (w *wsTransport) open(bool) error {
	if err := w.ws.Write(w.ctx, websocket.MessageText, xmppstream.WSOpen(w.domain)); err != nil {
		return err
	}
	_, msg, err := w.ws.Read(w.ctx)
	if err != nil {
		return err
	}
	_, err = xmppstream.CheckWSOpen(msg, w.domain)
	return err
}

func (w *wsTransport) send(_ bool, elems ...[]byte) error {
	for _, e := range elems {
		if err := w.ws.Write(w.ctx, websocket.MessageText, e); err != nil {
			return err
		}
	}
	return nil
}

func (w *wsTransport) next() (xmppstream.Token, error) {
	_, msg, err := w.ws.Read(w.ctx)
	if err != nil {
		return xmppstream.Token{}, err
	}
	return xmppstream.ParseWSMessage(msg)
}

func (w *wsTransport) close() {
	w.ws.Write(w.ctx, websocket.MessageText, xmppstream.WSClose())
	w.ws.Close(websocket.StatusNormalClosure, "")
}

// boshTransport is XEP-0206 with one request in flight: the reader (next)
// is the only one to post, carrying whatever send has queued, or an empty
// request when nothing is queued and no send is announced.
type boshTransport struct {
	ctx    context.Context
	client *http.Client
	url    string
	domain string
	sid    string
	rid    uint64
	in     []xmppstream.Token // children of responses, not yet read

	mu   sync.Mutex
	cond sync.Cond
	out  [][]byte // elements queued by send
	more bool     // a send is announced
}

func newBOSHTransport(ctx context.Context, url string, addr netip.AddrPort, domain string, roots *x509.CertPool) *boshTransport {
	b := &boshTransport{ctx: ctx, client: &http.Client{Transport: pinnedTransport(addr, domain, roots)}, url: url, domain: domain, rid: 1 << 40}
	b.cond.L = &b.mu
	return b
}

// post sends one request and queues the children of its response.
func (b *boshTransport) post(body []byte) error {
	req, err := http.NewRequestWithContext(b.ctx, http.MethodPost, b.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", xmppstream.BOSHContentType)
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, xmppstream.MaxBOSHBody+1))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bosh: HTTP %s: %q", resp.Status, data)
	}
	if b.sid == "" {
		s, err := xmppstream.ParseBOSHSession(data, b.domain)
		if err != nil {
			return err
		}
		b.sid = s.SID
	}
	children, term, err := xmppstream.BOSHChildren(data)
	if err != nil {
		return err
	}
	if term != "" {
		return fmt.Errorf("bosh: session terminated: %s", term)
	}
	for _, ch := range children {
		tok, err := xmppstream.ParseWSMessage(ch) // one namespace-complete element
		if err != nil {
			return err
		}
		b.in = append(b.in, tok)
	}
	return nil
}

func (b *boshTransport) open(restart bool) error {
	b.rid++
	if !restart {
		return b.post(xmppstream.BOSHSessionRequest(b.domain, b.rid, hacx.Client))
	}
	return b.post(xmppstream.BOSHRestart(b.sid, b.rid, b.domain))
}

func (b *boshTransport) send(more bool, elems ...[]byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.out = append(b.out, elems...)
	b.more = more
	b.cond.Signal()
	return nil
}

func (b *boshTransport) next() (xmppstream.Token, error) {
	for len(b.in) == 0 {
		b.mu.Lock()
		for len(b.out) == 0 && b.more {
			b.cond.Wait()
		}
		// At most about 4 KiB of stanzas in one request: Prosody 0.12
		// answers requests of 8 KiB and more about 40 ms late (its
		// larger responses meet a delayed ACK), 4 KiB ones in 2 ms.
		n, size := 0, 0
		for n < len(b.out) && size < 4<<10 {
			size += len(b.out[n])
			n++
		}
		elems := b.out[:n:n]
		b.out = b.out[n:]
		b.mu.Unlock()
		b.rid++
		if err := b.post(xmppstream.BOSHWrap(b.sid, b.rid, elems...)); err != nil {
			return xmppstream.Token{}, err
		}
	}
	tok := b.in[0]
	b.in = b.in[1:]
	return tok, nil
}

func (b *boshTransport) close() {
	b.rid++
	b.post(xmppstream.BOSHWrapTerminate(b.sid, b.rid))
	b.client.CloseIdleConnections()
}

// pinnedTransport sends every HTTP request to addr over TLS checked
// against roots for domain, HTTP/1.1, as the proxy's dialer does.
func pinnedTransport(addr netip.AddrPort, domain string, roots *x509.CertPool) *http.Transport {
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr.String())
		},
		TLSClientConfig:     &tls.Config{RootCAs: roots, ServerName: domain},
		DisableCompression:  true,
		MaxIdleConnsPerHost: 2,
	}
}

// BenchmarkProxyRelay measures messages per second and round-trip latency
// of a client talking to a real Prosody, directly (over TLS, RFC 7395
// WebSocket and XEP-0206 BOSH) and through the proxy (whose upstream is
// Prosody's direct TLS, WebSocket or BOSH), in the same run. Every path
// is reported against direct TLS (-ratio, -added-µs); the proxy's
// WebSocket and BOSH paths also against the direct path of the same
// transport (-vs-direct-ws-, -vs-direct-bosh-), which leaves out
// Prosody's own WebSocket or BOSH cost. Each iteration is 3000 pipelined
// messages and 300 round trips per path, after one untimed warm-up
// session per path.
func BenchmarkProxyRelay(b *testing.B) {
	testenv.Require(b, testbed.ProsodyAvailable())
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
	p, err := testbed.StartProsody(ctx, testbed.ProsodyConfig{Domain: domain, IP: "127.0.0.41", Cert: cert})
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
		var t transport
		switch path {
		case "direct":
			c, err := tls.Dial("tcp", p.TLSAddr.String(), &tls.Config{RootCAs: ca.Pool(), ServerName: domain})
			if err != nil {
				return nil, err
			}
			c.SetDeadline(time.Now().Add(5 * time.Minute))
			t = newStreamTransport(c, domain)
		case "direct-ws":
			w, err := dialWS(ctx, p.WebSocketURL, p.HTTPSAddr, domain, ca.Pool())
			if err != nil {
				return nil, err
			}
			t = w
		case "direct-bosh":
			t = newBOSHTransport(ctx, p.BOSHURL, p.HTTPSAddr, domain, ca.Pool())
		default:
			c, err := net.Dial("tcp", proxies[path])
			if err != nil {
				return nil, err
			}
			c.SetDeadline(time.Now().Add(5 * time.Minute))
			t = newStreamTransport(c, domain)
		}
		x, err := login(t, "bench", "bench-pass")
		if err != nil {
			t.close()
			return nil, fmt.Errorf("%s: %w\nprosody log:\n%s", path, err, p.Log())
		}
		return x, nil
	}

	// Each proxy path against the direct path of the same upstream
	// transport, so that Prosody's own WebSocket or BOSH cost is not
	// counted as the proxy's; the TLS rows stay against direct TLS.
	baseline := map[string]string{"websocket": "direct-ws", "bosh": "direct-bosh"}
	paths := []string{"direct", "direct-ws", "direct-bosh", "tls", "websocket", "bosh"}
	// Warm up: Prosody's first session of a user is slow (it loads the
	// account, roster and module state), which would count against
	// whichever path ran first.
	for _, path := range paths {
		x, err := connect(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := x.throughput(msgs / 10); err != nil {
			b.Fatalf("%s: %v", path, err)
		}
		x.t.close()
	}
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
			x.t.close()
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
		if base, ok := baseline[path]; ok {
			b.ReportMetric(rate[path]/rate[base], path+"-vs-"+base+"-ratio")
			b.ReportMetric(float64((rtt[path] - rtt[base]).Microseconds()), path+"-vs-"+base+"-added-µs")
		}
	}
	for _, path := range paths {
		line := fmt.Sprintf("%-11s %8.0f msg/s  ratio %.2f  round trip %v", path, rate[path], rate[path]/rate["direct"], rtt[path].Round(time.Microsecond))
		if base, ok := baseline[path]; ok {
			line += fmt.Sprintf("  vs %s: ratio %.2f, added %v", base, rate[path]/rate[base], (rtt[path] - rtt[base]).Round(time.Microsecond))
		}
		b.Log(line)
	}
}

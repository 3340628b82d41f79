package proxy_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/proxy"
	"hacx.dev/hacx/xmppstream"
)

var methods = []hacx.Method{hacx.MethodTLS, hacx.MethodWebSocket, hacx.MethodBOSH}

// stanzas the client sends and expects back from the echo endpoints.
var stanzas = []string{
	"<message to='juliet@relay.test' type='chat' id='m1'><body>1 &lt; 2 &amp;&amp; caf\u00e9 \u65e5\u672c &#x1F600;</body></message>",
	"<presence><show>away</show><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/></presence>",
	"<iq type='get' id='p1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:microblog:0'/></pubsub></iq>",
	"<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
}

// openThrough opens a stream through the proxy and checks the answer: a
// header from the domain and the upstream's features, adapted.
func openThrough(t *testing.T, addr string) *client {
	t.Helper()
	cl := dialClient(t, addr)
	cl.open(domain, hacx.Client)
	h := cl.expect(xmppstream.TokenOpen, "").Header
	if h.From != domain || h.NS != "jabber:client" {
		t.Fatalf("header %+v", h)
	}
	f := cl.expect(xmppstream.TokenElement, "features")
	if !contains(f.Raw, "stream='1'") {
		t.Errorf("features are not the upstream's first: %s", f.Raw)
	}
	if contains(f.Raw, "-PLUS") {
		t.Errorf("channel-binding mechanism offered through the proxy: %s", f.Raw)
	}
	if !contains(f.Raw, "<mechanism>PLAIN</mechanism>") {
		t.Errorf("mechanisms lost: %s", f.Raw)
	}
	return cl
}

// exchange sends every stanza in one write and checks each comes back
// with the same meaning, in order.
func exchange(t *testing.T, cl *client) {
	t.Helper()
	cl.send(strings.Join(stanzas, " \n"))
	for _, s := range stanzas {
		tok, err := cl.next()
		if err != nil {
			t.Fatalf("waiting for the echo of %q: %v", s, err)
		}
		if got, want := canon(t, tok.Raw, "jabber:client"), canon(t, []byte(s), "jabber:client"); got != want {
			t.Errorf("echo differs:\n got %s\nwant %s", got, want)
		}
	}
}

// TestRelay_EachTransport_C4: a plain client's stanzas reach the upstream
// and come back over each method; a restart (after SASL) gets a new
// header and the new stream's features; </stream:stream> is answered.
func TestRelay_EachTransport_C4(t *testing.T) {
	b := newBed(t)
	for _, m := range methods {
		t.Run(string(m), func(t *testing.T) {
			_, addr := b.startProxy(t, []hacx.Route{b.echoRoute(t, m, loopback.EchoConfig{})}, nil)
			cl := openThrough(t, addr)
			exchange(t, cl)

			// Restart, as after SASL success (RFC 6120 section 6.4.6).
			cl.open(domain, hacx.Client)
			if h := cl.expect(xmppstream.TokenOpen, "").Header; h.From != domain {
				t.Errorf("restart header from %q", h.From)
			}
			if f := cl.expect(xmppstream.TokenElement, "features"); !contains(f.Raw, "stream='2'") {
				t.Errorf("restart features %s", f.Raw)
			}
			exchange(t, cl)

			cl.send("</stream:stream>")
			cl.expect(xmppstream.TokenClose, "")
			if tok, err := cl.next(); err != io.EOF {
				t.Errorf("after close: %v %q", err, tok.Raw)
			}
		})
	}
}

// TestRelay_ServerCloses: the upstream ending its stream reaches the
// client as </stream:stream>, whatever the framing.
func TestRelay_ServerCloses(t *testing.T) {
	b := newBed(t)
	for _, m := range methods {
		t.Run(string(m), func(t *testing.T) {
			_, addr := b.startProxy(t, []hacx.Route{b.echoRoute(t, m, loopback.EchoConfig{})}, nil)
			cl := openThrough(t, addr)
			cl.send("<close-me xmlns='" + loopback.NSEcho + "'/>")
			cl.expect(xmppstream.TokenClose, "")
			cl.send("</stream:stream>")
		})
	}
}

// TestRelay_ServerClosesClientLingers: a server that ends its stream
// while the client does not answer within the grace period is a normal
// end in the log, not a client error.
func TestRelay_ServerClosesClientLingers(t *testing.T) {
	b := newBed(t)
	var logBuf testbed.SyncBuffer
	srv, addr := b.startProxy(t, []hacx.Route{b.echoRoute(t, hacx.MethodTLS, loopback.EchoConfig{})}, func(s *proxy.Server) {
		s.Logger = slog.New(slog.NewTextHandler(&logBuf, nil))
	})
	cl := openThrough(t, addr)
	cl.send("<close-me xmlns='" + loopback.NSEcho + "'/>")
	cl.expect(xmppstream.TokenClose, "")
	if tok, err := cl.next(); err != io.EOF { // the proxy ends it after its grace
		t.Fatalf("after the server's close: %v %q", err, tok.Raw)
	}
	waitNoConns(t, srv)
	line := waitLog(t, &logBuf, "outcome=")
	if strings.Contains(line, "client-error") || !strings.Contains(line, "outcome=closed") {
		t.Errorf("log line: %s", line)
	}
}

// waitLog waits until the log holds want, and returns it.
func waitLog(t *testing.T, log *testbed.SyncBuffer, want string) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(log.String(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log: %s", want, log.String())
		}
		time.Sleep(5 * time.Millisecond) // the log line is written as the connection ends
	}
	return log.String()
}

// TestRelay_BOSHPollingAndLateFeatures: a polling session (hold 0) is
// still relayed, and features sent after the session creation response
// are fetched before the client is answered (XEP-0206 allows both).
func TestRelay_BOSHPollingAndLateFeatures(t *testing.T) {
	b := newBed(t)
	for name, cfg := range map[string]loopback.EchoConfig{
		"late features": {BOSHLateFeatures: true, BOSHWait: 5},
		"polling":       {BOSHHold: -1, BOSHPolling: 1},
		// A manager that names no polling interval still refuses being
		// polled back to back.
		"polling without interval": {BOSHHold: -1, BOSHMinPoll: 500 * time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			_, addr := b.startProxy(t, []hacx.Route{b.echoRoute(t, hacx.MethodBOSH, cfg)}, nil)
			cl := openThrough(t, addr)
			exchange(t, cl)
			cl.send("</stream:stream>")
			cl.expect(xmppstream.TokenClose, "")
		})
	}
}

// TestRelay_BOSHPollFromAnswers: the polling interval of a session with
// hold 0 runs from the manager's empty answer (XEP-0124 section 12), so a
// manager that is slow to answer and strict about the interval still sees
// it kept over several polls.
func TestRelay_BOSHPollFromAnswers(t *testing.T) {
	b := newBed(t)
	up, err := loopback.StartEchoBOSH("127.0.0.1:0", b.cert, loopback.EchoConfig{
		BOSHHold: -1, BOSHPolling: 1, BOSHPollDelay: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	r := hacx.Route{Method: hacx.MethodBOSH, Addr: up.Addr(), SNI: domain, HasSNI: true, Source: hacx.SourceStatic, Index: 1,
		URL: fmt.Sprintf("https://%s:%d/http-bind", domain, up.Addr().Port())}
	_, addr := b.startProxy(t, []hacx.Route{r}, nil)
	cl := openThrough(t, addr)
	exchange(t, cl)
	// Three empty answers: at least two gaps the manager measured.
	before := up.Polls()
	deadline := time.Now().Add(20 * time.Second)
	for up.Polls() < before+3 && up.Sessions() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d polls in 20 s", up.Polls()-before)
		}
		time.Sleep(10 * time.Millisecond) // waiting for a condition, not for time
	}
	cl.send("</stream:stream>")
	cl.expect(xmppstream.TokenClose, "")
	for i, c := range up.Contacts() {
		if c.Err != "" {
			t.Errorf("manager, connection %d: %s", i, c.Err)
		}
	}
}

// TestRelay_BOSHBackPressure: a client writing far more than one request
// may carry gets it relayed in requests the manager accepts, in order,
// while the proxy holds no more than a bounded queue (the client is
// pushed back instead).
func TestRelay_BOSHBackPressure(t *testing.T) {
	b := newBed(t)
	for name, cfg := range map[string]loopback.EchoConfig{
		"polling": {BOSHHold: -1, BOSHPolling: 1, BOSHMaxBody: 100 << 10},
		"held":    {BOSHWait: 5, BOSHMaxBody: 100 << 10},
	} {
		t.Run(name, func(t *testing.T) {
			_, addr := b.startProxy(t, []hacx.Route{b.echoRoute(t, hacx.MethodBOSH, cfg)}, nil)
			cl := openThrough(t, addr)
			const n = 1500
			pad := strings.Repeat("x", 2000)
			sent := make(chan error, 1)
			go func() {
				var w strings.Builder
				for i := range n {
					fmt.Fprintf(&w, "<message id='%d'><body>%s</body></message>", i, pad)
				}
				_, err := io.WriteString(cl.c, w.String())
				sent <- err
			}()
			for i := range n {
				tok, err := cl.next()
				if err != nil {
					t.Fatalf("echo %d: %v", i, err)
				}
				if tok.Kind != xmppstream.TokenElement || tok.Name.Local != "message" {
					t.Fatalf("echo %d: got %s %.300q", i, tok.Kind, tok.Raw)
				}
				if want := fmt.Sprintf("id='%d'", i); !contains(tok.Raw, want) {
					t.Fatalf("echo %d out of order: %.80q", i, tok.Raw)
				}
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			cl.send("</stream:stream>")
			cl.expect(xmppstream.TokenClose, "")
		})
	}
}

// TestRelay_Server_s2s: a server-to-server listener takes jabber:server
// streams and dials the domain's server service.
func TestRelay_Server_s2s(t *testing.T) {
	b := newBed(t)
	_, addr := b.startProxy(t, []hacx.Route{b.echoRoute(t, hacx.MethodTLS, loopback.EchoConfig{Kind: hacx.Server})}, func(s *proxy.Server) { s.Kind = hacx.Server })
	cl := dialClient(t, addr)
	cl.open(domain, hacx.Server)
	if h := cl.expect(xmppstream.TokenOpen, "").Header; h.NS != "jabber:server" || h.From != domain {
		t.Fatalf("header %+v", h)
	}
	cl.expect(xmppstream.TokenElement, "features")
	cl.send("<message from='a@example.org' to='b@relay.test'><body>s2s</body></message>")
	if tok := cl.expect(xmppstream.TokenElement, "message"); !contains(tok.Raw, "s2s") {
		t.Errorf("echo %s", tok.Raw)
	}

	// A client stream on the server listener is refused.
	c2 := dialClient(t, addr)
	c2.open(domain, hacx.Client)
	if cond, _ := c2.expectStreamError(); cond != "invalid-namespace" {
		t.Errorf("client stream on the s2s listener: %q", cond)
	}
}

// TestRelay_OversizedElement: an element larger than MaxElement is a
// policy-violation, before it is read whole.
func TestRelay_OversizedElement(t *testing.T) {
	b := newBed(t)
	for _, m := range []hacx.Method{hacx.MethodWebSocket, hacx.MethodBOSH} {
		t.Run(string(m), func(t *testing.T) {
			_, addr := b.startProxy(t, []hacx.Route{b.echoRoute(t, m, loopback.EchoConfig{})}, func(s *proxy.Server) { s.MaxElement = 1024 })
			cl := openThrough(t, addr)
			// A small one passes.
			cl.send("<message><body>small</body></message>")
			cl.expect(xmppstream.TokenElement, "message")
			cl.send("<message><body>" + strings.Repeat("x", 4096) + "</body></message>")
			if cond, text := cl.expectStreamError(); cond != "policy-violation" || !strings.Contains(text, "too large") {
				t.Errorf("got <%s/> %q", cond, text)
			}
		})
	}
}

// TestRelay_NotXML: garbage from the client is a not-well-formed stream
// error, not a crash.
func TestRelay_NotXML(t *testing.T) {
	b := newBed(t)
	_, addr := b.startProxy(t, []hacx.Route{b.echoRoute(t, hacx.MethodWebSocket, loopback.EchoConfig{})}, nil)
	cl := openThrough(t, addr)
	cl.send("<message><body>x</bdy></message>")
	if cond, _ := cl.expectStreamError(); cond != "not-well-formed" {
		t.Errorf("got <%s/>", cond)
	}
}

// TestOpen_BadHeaders: the proxy needs a stream header with a to, in the
// listener's namespace.
func TestOpen_BadHeaders(t *testing.T) {
	b := newBed(t)
	_, addr := b.startProxy(t, []hacx.Route{b.echoRoute(t, hacx.MethodTLS, loopback.EchoConfig{})}, nil)
	for _, tt := range []struct{ name, send, want string }{
		{"no to", "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>", "host-unknown"},
		{"old version", "<stream:stream to='relay.test' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", "unsupported-version"},
		{"server namespace", "<stream:stream to='relay.test' xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>", "invalid-namespace"},
		{"not a header", "<message/>", "not-well-formed"},
		{"a comment", "<!-- hi --><stream:stream>", "restricted-xml"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cl := dialClient(t, addr)
			cl.send(tt.send)
			if cond, _ := cl.expectStreamError(); cond != tt.want {
				t.Errorf("got <%s/>, want <%s/>", cond, tt.want)
			}
		})
	}
}

// TestUpstream_AllDead_C3: when no route works the client learns why, one
// line per route, in a remote-connection-failed stream error.
func TestUpstream_AllDead_C3(t *testing.T) {
	b := newBed(t)
	var routes []hacx.Route
	for i, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		a, err := loopback.RefusedAddr(ip)
		if err != nil {
			t.Fatal(err)
		}
		routes = append(routes, hacx.Route{Method: hacx.MethodTLS, Addr: a, SNI: domain, HasSNI: true, Source: hacx.SourceHACX, Index: i + 1})
	}
	reg := newRecMetrics()
	_, addr := b.startProxy(t, routes, func(s *proxy.Server) { s.Metrics = reg })
	cl := dialClient(t, addr)
	cl.open(domain, hacx.Client)
	if h := cl.expect(xmppstream.TokenOpen, "").Header; h.From != domain {
		t.Errorf("error header from %q", h.From)
	}
	cond, text := cl.expectStreamError()
	if cond != "remote-connection-failed" {
		t.Errorf("condition %q", cond)
	}
	for _, r := range routes {
		if !strings.Contains(text, r.Addr.String()) {
			t.Errorf("text does not name route %s: %q", r.Addr, text)
		}
	}
	cl.expect(xmppstream.TokenClose, "")

	// Unknown domain: discovery fails, same condition.
	c2 := dialClient(t, addr)
	c2.open("elsewhere.test", hacx.Client)
	if cond, text := c2.expectStreamError(); cond != "remote-connection-failed" || !strings.Contains(text, "elsewhere.test") {
		t.Errorf("unknown domain: <%s/> %q", cond, text)
	}
	if got := counter(t, reg, "hacx_proxy_upstream_failures_total", "client"); got != 2 {
		t.Errorf("upstream failures = %v, want 2", got)
	}
}

// TestLocalSTARTTLS: with a certificate the proxy offers STARTTLS itself,
// answers the restart locally without STARTTLS, and never forwards it.
func TestLocalSTARTTLS(t *testing.T) {
	b := newBed(t)
	local, err := b.ca.Issue("localhost")
	if err != nil {
		t.Fatal(err)
	}
	for _, required := range []bool{false, true} {
		name := "optional"
		if required {
			name = "required"
		}
		t.Run(name, func(t *testing.T) {
			_, addr := b.startProxy(t, []hacx.Route{b.echoRoute(t, hacx.MethodWebSocket, loopback.EchoConfig{})}, func(s *proxy.Server) {
				s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*local}}
				s.TLSRequired = required
			})
			cl := dialClient(t, addr)
			cl.open(domain, hacx.Client)
			cl.expect(xmppstream.TokenOpen, "")
			f := cl.expect(xmppstream.TokenElement, "features")
			if !contains(f.Raw, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'") || contains(f.Raw, "<required/>") != required {
				t.Fatalf("features %s", f.Raw)
			}
			if !contains(f.Raw, "stream='1'") {
				t.Errorf("upstream features lost: %s", f.Raw)
			}
			cl.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
			cl.expect(xmppstream.TokenElement, "proceed")
			tc := tls.Client(cl.c, &tls.Config{RootCAs: b.ca.Pool(), ServerName: "localhost"})
			if err := tc.Handshake(); err != nil {
				t.Fatal(err)
			}
			cl.c, cl.sp = tc, xmppstream.NewSplitter(tc, 0)
			cl.open(domain, hacx.Client)
			if h := cl.expect(xmppstream.TokenOpen, "").Header; h.From != domain {
				t.Errorf("header after TLS %+v", h)
			}
			f = cl.expect(xmppstream.TokenElement, "features")
			if contains(f.Raw, "starttls") || !contains(f.Raw, "stream='1'") {
				t.Errorf("features after TLS %s", f.Raw)
			}
			exchange(t, cl)
		})
	}

	t.Run("required, refused without", func(t *testing.T) {
		_, addr := b.startProxy(t, []hacx.Route{b.echoRoute(t, hacx.MethodTLS, loopback.EchoConfig{})}, func(s *proxy.Server) {
			s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*local}}
			s.TLSRequired = true
		})
		cl := dialClient(t, addr)
		cl.open(domain, hacx.Client)
		cl.expect(xmppstream.TokenOpen, "")
		cl.expect(xmppstream.TokenElement, "features")
		cl.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>")
		if cond, _ := cl.expectStreamError(); cond != "policy-violation" {
			t.Errorf("got <%s/>", cond)
		}
	})

	// A bad header on the new stream over TLS gets a header of its own
	// before the stream error.
	t.Run("bad header after TLS", func(t *testing.T) {
		_, addr := b.startProxy(t, []hacx.Route{b.echoRoute(t, hacx.MethodWebSocket, loopback.EchoConfig{})}, func(s *proxy.Server) {
			s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*local}}
		})
		cl := dialClient(t, addr)
		cl.open(domain, hacx.Client)
		cl.expect(xmppstream.TokenOpen, "")
		cl.expect(xmppstream.TokenElement, "features")
		cl.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
		cl.expect(xmppstream.TokenElement, "proceed")
		tc := tls.Client(cl.c, &tls.Config{RootCAs: b.ca.Pool(), ServerName: "localhost"})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		cl.c, cl.sp = tc, xmppstream.NewSplitter(tc, 0)
		cl.send("<stream:stream to='relay.test' xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")
		if h := cl.expect(xmppstream.TokenOpen, "").Header; h.From != domain {
			t.Errorf("error header from %q", h.From)
		}
		if cond, _ := cl.expectStreamError(); cond != "invalid-namespace" {
			t.Errorf("got <%s/>", cond)
		}
	})

	// A client that is slow to go on after the features is told what
	// the proxy waited for, not that its header was late.
	t.Run("slow after features", func(t *testing.T) {
		_, addr := b.startProxy(t, []hacx.Route{b.echoRoute(t, hacx.MethodTLS, loopback.EchoConfig{})}, func(s *proxy.Server) {
			s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*local}}
			s.HeaderTimeout = 200 * time.Millisecond
		})
		cl := dialClient(t, addr)
		cl.open(domain, hacx.Client)
		cl.expect(xmppstream.TokenOpen, "")
		cl.expect(xmppstream.TokenElement, "features")
		cond, text := cl.expectStreamError()
		if cond != "connection-timeout" || strings.Contains(text, "header") {
			t.Errorf("got <%s/> %q", cond, text)
		}
	})

	t.Run("optional, skipped", func(t *testing.T) {
		_, addr := b.startProxy(t, []hacx.Route{b.echoRoute(t, hacx.MethodTLS, loopback.EchoConfig{})}, func(s *proxy.Server) {
			s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*local}}
		})
		cl := dialClient(t, addr)
		cl.open(domain, hacx.Client)
		cl.expect(xmppstream.TokenOpen, "")
		cl.expect(xmppstream.TokenElement, "features")
		exchange(t, cl) // the first element is forwarded, not lost
	})
}

// TestLimits_MaxConns: over the limit a client gets resource-constraint;
// once a connection ends its slot is free again.
func TestLimits_MaxConns(t *testing.T) {
	b := newBed(t)
	srv, addr := b.startProxy(t, []hacx.Route{b.echoRoute(t, hacx.MethodTLS, loopback.EchoConfig{})}, func(s *proxy.Server) { s.MaxConns = 1 })
	first := openThrough(t, addr)
	second := dialClient(t, addr)
	second.open(domain, hacx.Client)
	if cond, _ := second.expectStreamError(); cond != "resource-constraint" {
		t.Errorf("over the limit: <%s/>", cond)
	}
	first.send("</stream:stream>")
	first.expect(xmppstream.TokenClose, "")
	first.c.Close()
	waitNoConns(t, srv)
	third := openThrough(t, addr)
	exchange(t, third)
}

// TestLimits_IdleTimeout: a connection on which nothing moves is ended
// with connection-timeout, over every transport (the empty answers a BOSH
// manager sends every wait seconds are no sign of life); one that keeps
// talking is not.
func TestLimits_IdleTimeout(t *testing.T) {
	b := newBed(t)
	const idle = 1500 * time.Millisecond
	for _, m := range methods {
		t.Run(string(m), func(t *testing.T) {
			// A BOSH manager answering a held request after 1 s.
			_, addr := b.startProxy(t, []hacx.Route{b.echoRoute(t, m, loopback.EchoConfig{BOSHWait: 1})}, func(s *proxy.Server) { s.IdleTimeout = idle })

			// The silent one first: its idle time starts when its relay
			// does, so the talker's opening counts towards it. The clock
			// starts before the silent client dials: the proxy arms its
			// idle timer as soon as it has written the opening, while the
			// client may still be reading it, so a clock started when
			// openThrough returns can start after the proxy's and see the
			// timeout come early (slow runs, -race). Starting earlier can
			// only lengthen what the test measures, never shorten it.
			start := time.Now()
			silent := openThrough(t, addr)
			talker := openThrough(t, addr)
			silent.c.SetDeadline(start.Add(idle + 10*time.Second))
			type end struct {
				got   string
				after time.Duration
			}
			ended := make(chan end, 1)
			go func() {
				tok, err := silent.next()
				ended <- end{fmt.Sprintf("%v %s", err, tok.Raw), time.Since(start)}
			}()
			// The talker sends a stanza every idle/5 for twice the idle
			// timeout: each must come back, and the stream must stay.
			for i := 0; time.Since(start) < 2*idle; i++ {
				talker.send(fmt.Sprintf("<message id='k%d'/>", i))
				if tok := talker.expect(xmppstream.TokenElement, "message"); !contains(tok.Raw, fmt.Sprintf("k%d", i)) {
					t.Fatalf("echo %q", tok.Raw)
				}
				time.Sleep(idle / 5) // the client's pace, not a wait for the proxy
			}
			select {
			case e := <-ended:
				if !strings.Contains(e.got, "connection-timeout") {
					t.Errorf("silent connection: %s", e.got)
				}
				if e.after < idle {
					t.Errorf("ended after %v, before the idle timeout", e.after)
				}
			default:
				t.Errorf("silent connection still open after %v (idle timeout %v)", time.Since(start), idle)
			}
			talker.send("</stream:stream>")
			talker.expect(xmppstream.TokenClose, "")
		})
	}
}

// TestLimits_IdleNotDuringOpening: the idle timeout starts with the
// relay; a client silent before its header meets HeaderTimeout, and gets
// a stream header before the stream error (RFC 6120 4.9.1.1), never a
// bare error from the idle timer.
func TestLimits_IdleNotDuringOpening(t *testing.T) {
	b := newBed(t)
	_, addr := b.startProxy(t, []hacx.Route{b.echoRoute(t, hacx.MethodTLS, loopback.EchoConfig{})}, func(s *proxy.Server) {
		s.IdleTimeout = 50 * time.Millisecond
		s.HeaderTimeout = time.Second
	})
	cl := dialClient(t, addr)
	cl.expect(xmppstream.TokenOpen, "")
	if cond, text := cl.expectStreamError(); cond != "connection-timeout" || !strings.Contains(text, "header") {
		t.Errorf("got <%s/> %q, want the header timeout's", cond, text)
	}
}

// TestShutdown_Polite: Shutdown ends every stream the way its transport
// closes one, and the server's goodbye reaches each client, before Shutdown
// returns; Serve then returns ErrServerClosed and nothing is left running.
func TestShutdown_Polite(t *testing.T) {
	b := newBed(t)
	var routes []hacx.Route
	for _, m := range methods {
		routes = append(routes, b.echoRoute(t, m, loopback.EchoConfig{BOSHWait: 10}))
	}
	base := runtime.NumGoroutine()
	for _, r := range routes {
		func() {
			srv := &proxy.Server{Dialer: nil}
			_, addr := b.startProxy(t, []hacx.Route{r}, func(s *proxy.Server) { srv = s })
			var clients []*client
			for range 3 {
				cl := openThrough(t, addr)
				exchange(t, cl)
				clients = append(clients, cl)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			for _, cl := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					tok, err := cl.next()
					if err != nil || tok.Kind != xmppstream.TokenClose {
						t.Errorf("%s: client got %v %q, want </stream:stream>", r.Method, err, tok.Raw)
					}
				}()
			}
			if err := srv.Shutdown(ctx); err != nil {
				t.Errorf("%s: Shutdown: %v", r.Method, err)
			}
			wg.Wait()
			if n := srv.ActiveConns(); n != 0 {
				t.Errorf("%s: %d connections after Shutdown", r.Method, n)
			}
			if _, err := net.Dial("tcp", addr); err == nil {
				t.Errorf("%s: still accepting after Shutdown", r.Method)
			}
			for _, cl := range clients {
				cl.c.Close()
			}
		}()
	}
	waitGoroutines(t, base+2)
}

// TestNoGoroutineLeak: many connections over every transport, ended every
// way (client close, server close, client vanishing, upstream dead),
// leave nothing running.
func TestNoGoroutineLeak(t *testing.T) {
	b := newBed(t)
	var routes []hacx.Route
	for _, m := range methods {
		routes = append(routes, b.echoRoute(t, m, loopback.EchoConfig{BOSHWait: 10}))
	}
	dead, _ := loopback.RefusedAddr("127.0.0.250")
	base := runtime.NumGoroutine()
	for _, r := range routes {
		srv, addr := b.startProxy(t, []hacx.Route{r}, nil)
		for i := range 4 {
			cl := openThrough(t, addr)
			exchange(t, cl)
			switch i {
			case 0:
				cl.send("</stream:stream>")
				cl.expect(xmppstream.TokenClose, "")
			case 1:
				cl.send("<close-me xmlns='" + loopback.NSEcho + "'/>")
				cl.expect(xmppstream.TokenClose, "")
				cl.send("</stream:stream>")
			case 2:
				cl.send("<message><body>half")
			}
			cl.c.Close()
		}
		waitNoConns(t, srv)
		srv.Close()
	}
	_, addr := b.startProxy(t, []hacx.Route{{Method: hacx.MethodTLS, Addr: dead, SNI: domain, HasSNI: true}}, nil)
	cl := dialClient(t, addr)
	cl.open(domain, hacx.Client)
	cl.expectStreamError()
	cl.c.Close()
	waitGoroutines(t, base+4) // the last proxy's accept loop and its Serve
}

// TestMetricsAndLog: one log line per connection with domain, route and
// bytes; metrics count the connection, its bytes and the winning route.
func TestMetricsAndLog(t *testing.T) {
	b := newBed(t)
	reg := newRecMetrics()
	var logBuf testbed.SyncBuffer
	srv, addr := b.startProxy(t, []hacx.Route{b.echoRoute(t, hacx.MethodWebSocket, loopback.EchoConfig{})}, func(s *proxy.Server) {
		s.Metrics = reg
		s.Logger = slog.New(slog.NewTextHandler(&logBuf, nil))
	})
	cl := openThrough(t, addr)
	exchange(t, cl)
	if got := gauge(t, reg, "hacx_proxy_connections_active", "client"); got != 1 {
		t.Errorf("active = %v", got)
	}
	cl.send("</stream:stream>")
	cl.expect(xmppstream.TokenClose, "")
	cl.c.Close()
	waitNoConns(t, srv)
	if got := counter(t, reg, "hacx_proxy_connections_total", "client"); got != 1 {
		t.Errorf("total = %v", got)
	}
	if got := counter(t, reg, "hacx_proxy_route_winners_total", "websocket", "static"); got != 1 {
		t.Errorf("winners = %v", got)
	}
	sent := 0
	for _, s := range stanzas {
		sent += len(s)
	}
	if got := counter(t, reg, "hacx_proxy_bytes_total", "to_server"); got < float64(sent) {
		t.Errorf("bytes to server = %v, want at least %d", got, sent)
	}
	if got := counter(t, reg, "hacx_proxy_bytes_total", "to_client"); got < float64(sent) {
		t.Errorf("bytes to client = %v, want at least %d", got, sent)
	}
	waitNoConns(t, srv)
	line := waitLog(t, &logBuf, "outcome=closed")
	for _, want := range []string{"domain=relay.test", "method=websocket", "bytes_to_server=", "duration="} {
		if !strings.Contains(line, want) {
			t.Errorf("log line lacks %q: %s", want, line)
		}
	}
}

// TestServe_AfterShutdown: a closed server refuses to serve again.
func TestServe_AfterShutdown(t *testing.T) {
	var s proxy.Server
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(context.Background(), ln); !errors.Is(err, proxy.ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v", err)
	}
}

// TestRelay_ClientHalfClose: a client that shuts down its sending side
// (no </stream:stream>) still gets what was in flight, then the end of the
// stream, once; the upstream stream is ended for it.
func TestRelay_ClientHalfClose(t *testing.T) {
	b := newBed(t)
	for _, m := range methods {
		t.Run(string(m), func(t *testing.T) {
			r, ends := b.echoRouteEnds(t, m, loopback.EchoConfig{})
			srv, addr := b.startProxy(t, []hacx.Route{r}, nil)
			cl := openThrough(t, addr)
			cl.send(stanzas[0])
			if err := cl.c.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			cl.expect(xmppstream.TokenElement, "message")
			cl.expect(xmppstream.TokenClose, "")
			if tok, err := cl.next(); err != io.EOF {
				t.Fatalf("after </stream:stream>: %v %s %q", err, tok.Kind, tok.Raw)
			}
			waitNoConns(t, srv)
			if n := ends(); n != 1 {
				t.Errorf("the upstream saw %d ends of stream, want 1", n)
			}
		})
	}
}

// TestRelay_S2SFromForwarded: the local server's from= reaches the
// upstream server's stream header (RFC 6120 4.7.1), which dialback and SASL
// EXTERNAL need; each connection sends its own.
func TestRelay_S2SFromForwarded(t *testing.T) {
	b := newBed(t)
	up, err := hacxtest.StartXMPP("127.0.0.1:0", b.cert, hacxtest.XMPPConfig{Kind: hacx.Server})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	r := hacx.Route{Method: hacx.MethodTLS, Addr: up.Addr(), SNI: domain, HasSNI: true, Source: hacx.SourceStatic, Index: 1}
	_, addr := b.startProxy(t, []hacx.Route{r}, func(s *proxy.Server) { s.Kind = hacx.Server })
	for _, from := range []string{"one.example", "two.example"} {
		cl := dialClient(t, addr)
		if err := xmppstream.WriteOpenFrom(cl.c, from, domain, hacx.Server); err != nil {
			t.Fatal(err)
		}
		cl.expect(xmppstream.TokenOpen, "")
		cl.expect(xmppstream.TokenElement, "features")
		c, ok := up.Last()
		if !ok || c.From != from || c.To != domain {
			t.Errorf("upstream saw from=%q to=%q, want from=%q to=%q", c.From, c.To, from, domain)
		}
	}
}

// TestServe_ContextEndsRelays: cancelling Serve's ctx ends every
// connection at once, a direct TLS relay copying bytes included.
func TestServe_ContextEndsRelays(t *testing.T) {
	b := newBed(t)
	for _, m := range methods {
		t.Run(string(m), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := b.serveProxy(t, ctx, ln, []hacx.Route{b.echoRoute(t, m, loopback.EchoConfig{})}, nil)
			cl := openThrough(t, ln.Addr().String())
			exchange(t, cl)
			// A client that waits for the header is ended too.
			waiting := dialClient(t, ln.Addr().String())
			// Accepted, not merely queued in the listen backlog (which the
			// listener's close would reset).
			waitConns(t, srv, 2)
			cancel()
			cl.c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.Copy(io.Discard, cl.c); err != nil {
				t.Errorf("relayed connection not ended after ctx: %v", err)
			}
			waiting.c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.Copy(io.Discard, waiting.c); err != nil {
				t.Errorf("connection waiting for its header not ended after ctx: %v", err)
			}
			waitNoConns(t, srv)
		})
	}
}

// emfileListener fails its first Accept as a process out of file
// descriptors does.
type emfileListener struct {
	net.Listener
	failed atomic.Bool
}

func (l *emfileListener) Accept() (net.Conn, error) {
	if !l.failed.Swap(true) {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestServe_TemporaryAcceptError: running out of file descriptors for a
// moment does not end Serve; it waits and accepts again.
func TestServe_TemporaryAcceptError(t *testing.T) {
	b := newBed(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	el := &emfileListener{Listener: ln}
	b.serveProxy(t, context.Background(), el, []hacx.Route{b.echoRoute(t, hacx.MethodTLS, loopback.EchoConfig{})}, nil)
	cl := openThrough(t, ln.Addr().String())
	exchange(t, cl)
	if !el.failed.Load() {
		t.Fatal("the listener never failed")
	}
}

// TestShutdown_TLSMidElement: Shutdown ends a direct TLS relay's upstream
// stream with </stream:stream> only between two elements; a client caught
// inside one leaves the server a stream cut short, never ill-formed XML.
func TestShutdown_TLSMidElement(t *testing.T) {
	b := newBed(t)
	up, err := loopback.StartEchoXMPP("127.0.0.1:0", b.cert, loopback.EchoConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	r := hacx.Route{Method: hacx.MethodTLS, Addr: up.Addr(), SNI: domain, HasSNI: true, Source: hacx.SourceStatic, Index: 1}
	reg := newRecMetrics()
	srv, addr := b.startProxy(t, []hacx.Route{r}, func(s *proxy.Server) { s.Metrics = reg })
	between := openThrough(t, addr)
	exchange(t, between)
	inside := openThrough(t, addr)
	exchange(t, inside)
	before := counter(t, reg, "hacx_proxy_bytes_total", "to_server")
	half := "<message to='juliet@relay.test'><body>half"
	inside.send(half)
	for deadline := time.Now().Add(10 * time.Second); counter(t, reg, "hacx_proxy_bytes_total", "to_server") < before+float64(len(half)); {
		if time.Now().After(deadline) {
			t.Fatal("the half element never went upstream")
		}
		time.Sleep(5 * time.Millisecond) // polling the count the test waits for
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	between.expect(xmppstream.TokenClose, "")
	inside.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, inside.c); err != nil {
		t.Errorf("the client inside an element: %v", err)
	}
	up.Close() // waits for the endpoint's handlers
	if n := up.Ends(); n != 1 {
		t.Errorf("the upstream saw %d ends of stream, want 1 (the client between elements)", n)
	}
	for i, c := range up.Contacts() {
		if strings.Contains(c.Err, "well-formed") || strings.Contains(c.Err, "mismatch") {
			t.Errorf("upstream connection %d got ill-formed XML: %s", i, c.Err)
		}
	}
}

// TestRelay_WebSocketCloseHandshake: a WebSocket upstream is ended with
// the WebSocket close handshake (RFC 7395 section 3.6, status 1000), not
// dropped (which servers log as 1006).
func TestRelay_WebSocketCloseHandshake(t *testing.T) {
	b := newBed(t)
	up, err := loopback.StartEchoWebSocket("127.0.0.1:0", b.cert, loopback.EchoConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	r := hacx.Route{Method: hacx.MethodWebSocket, Addr: up.Addr(), SNI: domain, HasSNI: true, Source: hacx.SourceStatic, Index: 1,
		URL: fmt.Sprintf("wss://%s:%d/xmpp-websocket", domain, up.Addr().Port())}
	srv, addr := b.startProxy(t, []hacx.Route{r}, nil)
	cl := openThrough(t, addr)
	exchange(t, cl)
	cl.send("</stream:stream>")
	cl.expect(xmppstream.TokenClose, "")
	if tok, err := cl.next(); err != io.EOF {
		t.Fatalf("after close: %v %q", err, tok.Raw)
	}
	waitNoConns(t, srv)
	up.Close() // waits for the endpoint's handler, and its close handshake
	if n := up.Ends(); n != 1 {
		t.Errorf("the upstream saw %d ends of stream, want 1", n)
	}
	for i, c := range up.Contacts() {
		if c.Err != "" {
			t.Errorf("upstream connection %d: %s", i, c.Err)
		}
	}
}

// TestRelay_WebSocketSilentPeerCutOff: a server that never completes the
// WebSocket close handshake holds the connection for closeGrace (2 s),
// not for the 5 s websocket.Conn's Close would wait.
func TestRelay_WebSocketSilentPeerCutOff(t *testing.T) {
	b := newBed(t)
	up, err := loopback.StartEchoWebSocket("127.0.0.1:0", b.cert, loopback.EchoConfig{WSHangOnClose: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	r := hacx.Route{Method: hacx.MethodWebSocket, Addr: up.Addr(), SNI: domain, HasSNI: true, Source: hacx.SourceStatic, Index: 1,
		URL: fmt.Sprintf("wss://%s:%d/xmpp-websocket", domain, up.Addr().Port())}
	srv, addr := b.startProxy(t, []hacx.Route{r}, nil)
	cl := openThrough(t, addr)
	exchange(t, cl)
	start := time.Now()
	cl.send("</stream:stream>")
	cl.expect(xmppstream.TokenClose, "")
	if tok, err := cl.next(); err != io.EOF {
		t.Fatalf("after close: %v %q", err, tok.Raw)
	}
	waitNoConns(t, srv)
	// The bound lies between closeGrace and the 5 s of the handshake
	// wait, with room for a loaded machine.
	if el := time.Since(start); el >= 4500*time.Millisecond {
		t.Errorf("the connection ended %v after the client's close: the silent server held it", el)
	}
}

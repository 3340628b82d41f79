package dial_test

import (
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/xmppstream"
)

// startEcho starts a loopback echo endpoint of method m presenting a
// certificate of ca for domain, and returns its route and the count of
// streams a client ended there.
func startEcho(t *testing.T, ca *hacxtest.CA, m hacx.Method, cfg loopback.EchoConfig) (hacx.Route, func() int) {
	t.Helper()
	cert := issue(t, ca, domain, urlHost)
	switch m {
	case hacx.MethodTLS:
		e, err := loopback.StartEchoXMPP("127.0.0.1:0", cert, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return route(m, e.Addr(), 1), e.Ends
	case hacx.MethodWebSocket:
		e, err := loopback.StartEchoWebSocket("127.0.0.1:0", cert, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return route(m, e.Addr(), 1), e.Ends
	}
	e, err := loopback.StartEchoBOSH("127.0.0.1:0", cert, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return route(m, e.Addr(), 1), e.Ends
}

// echoStream dials an echo endpoint of method m and returns the stream
// conn (closed at the end of the test) and a Splitter reading it.
func echoStream(t *testing.T, m hacx.Method, cfg loopback.EchoConfig, mod func(*dial.Conn)) (net.Conn, *xmppstream.Splitter, func() int) {
	t.Helper()
	ca := newCA(t)
	r, ends := startEcho(t, ca, m, cfg)
	c := dialOK(t, newDialer(ca), r)
	if mod != nil {
		mod(c)
	}
	sc, err := c.StreamConn()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	sc.SetDeadline(time.Now().Add(20 * time.Second))
	return sc, xmppstream.NewSplitter(sc, 0), ends
}

const echoHeader = "<?xml version='1.0'?><stream:stream to='" + domain + "' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"

// next returns the next token that is not whitespace.
func next(t *testing.T, sp *xmppstream.Splitter) xmppstream.Token {
	t.Helper()
	for {
		tok, err := sp.Next()
		if err != nil {
			t.Fatalf("reading the stream conn: %v", err)
		}
		if tok.Kind != xmppstream.TokenSpace {
			return tok
		}
	}
}

func write(t *testing.T, w io.Writer, s string) {
	t.Helper()
	if _, err := io.WriteString(w, s); err != nil {
		t.Fatalf("Write(%.40q): %v", s, err)
	}
}

// openEcho writes the caller's header, cut across writes, and reads the
// server's header and first features.
func openEcho(t *testing.T, sc net.Conn, sp *xmppstream.Splitter) {
	t.Helper()
	write(t, sc, echoHeader[:30])
	write(t, sc, echoHeader[30:])
	if h := next(t, sp); h.Kind != xmppstream.TokenOpen || h.Header.From != domain || h.Header.NS != "jabber:client" {
		t.Fatalf("header %s %q", h.Kind, h.Raw)
	}
	if f := next(t, sp); f.Name.Local != "features" || !strings.Contains(string(f.Raw), "stream='1'") {
		t.Fatalf("features %q", f.Raw)
	}
}

// TestStreamConn_EachTransport_C4: the stream conn of every method is the
// same RFC 6120 byte stream: the server's header (from the domain, C4)
// and features, elements both ways however the writes cut them, a
// whitespace keepalive, a restart after SASL answered with a new header
// and features, and the end of the stream answered with the server's,
// after which reads end.
func TestStreamConn_EachTransport_C4(t *testing.T) {
	for _, m := range []hacx.Method{hacx.MethodTLS, hacx.MethodWebSocket, hacx.MethodBOSH} {
		t.Run(string(m), func(t *testing.T) {
			sc, sp, ends := echoStream(t, m, loopback.EchoConfig{}, nil)
			openEcho(t, sc, sp)
			msg := "<message to='juliet@" + domain + "' id='m1'><body>hi &amp; bye</body></message>"
			write(t, sc, msg[:20])
			write(t, sc, msg[20:]+"\n<presence id='p1'/>")
			for _, want := range []string{"id='m1'", "id='p1'"} {
				if e := next(t, sp); e.Kind != xmppstream.TokenElement || !strings.Contains(string(e.Raw), want) {
					t.Fatalf("echo %s %q, want the element with %s", e.Kind, e.Raw, want)
				}
			}
			// A restart (RFC 6120 section 4.3.3).
			write(t, sc, strings.TrimPrefix(echoHeader, "<?xml version='1.0'?>"))
			if h := next(t, sp); h.Kind != xmppstream.TokenOpen || h.Header.From != domain {
				t.Fatalf("restart header %s %q", h.Kind, h.Raw)
			}
			if f := next(t, sp); f.Name.Local != "features" || !strings.Contains(string(f.Raw), "stream='2'") {
				t.Fatalf("restart features %q", f.Raw)
			}
			write(t, sc, "<iq type='get' id='i1'><ping xmlns='urn:xmpp:ping'/></iq>")
			if e := next(t, sp); !strings.Contains(string(e.Raw), "id='i1'") {
				t.Fatalf("echo after the restart %q", e.Raw)
			}
			write(t, sc, "</stream:stream>")
			if e := next(t, sp); e.Kind != xmppstream.TokenClose {
				t.Fatalf("after the end of the stream: %s %q", e.Kind, e.Raw)
			}
			if tok, err := sp.Next(); err != io.EOF {
				t.Errorf("after the server's </stream:stream>: %v %q, want io.EOF", err, tok.Raw)
			}
			if n := ends(); n != 1 {
				t.Errorf("the server saw %d ends of stream, want 1", n)
			}
			cs, ok := sc.(interface{ ConnectionState() tls.ConnectionState })
			if !ok || !cs.ConnectionState().HandshakeComplete {
				t.Error("no ConnectionState on the stream conn")
			}
		})
	}
}

// TestStreamConn_CloseWrite: CloseWrite ends the caller's stream the way
// its transport does (close_notify, <close/>, a terminate request), and
// the server's end of the stream still reaches the caller.
func TestStreamConn_CloseWrite(t *testing.T) {
	for _, m := range []hacx.Method{hacx.MethodTLS, hacx.MethodWebSocket, hacx.MethodBOSH} {
		t.Run(string(m), func(t *testing.T) {
			sc, sp, ends := echoStream(t, m, loopback.EchoConfig{}, nil)
			openEcho(t, sc, sp)
			// An element left unfinished: over WebSocket and BOSH it was
			// never sent and is dropped; over TLS the server sees the
			// stream end inside it.
			if m != hacx.MethodTLS {
				write(t, sc, "<message><body>half")
			}
			if err := sc.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if e := next(t, sp); e.Kind != xmppstream.TokenClose {
				t.Fatalf("after CloseWrite: %s %q", e.Kind, e.Raw)
			}
			if n := ends(); n != 1 {
				t.Errorf("the server saw %d ends of stream, want 1", n)
			}
		})
	}
}

// TestStreamConn_ElementBounds: over WebSocket and BOSH the stream is cut
// into elements here, so an element larger than MaxElement fails Write
// with a policy-violation, ill-formed input with not-well-formed, and
// either ends the write side for good; nothing of it reaches the server.
func TestStreamConn_ElementBounds(t *testing.T) {
	for _, m := range []hacx.Method{hacx.MethodWebSocket, hacx.MethodBOSH} {
		for _, tt := range []struct{ name, send, cond string }{
			{"oversized", "<message><body>" + strings.Repeat("x", 2048) + "</body></message>", "policy-violation"},
			{"ill-formed", "<message><body></message>", "not-well-formed"},
			{"text between elements", "hello", "bad-format"},
		} {
			t.Run(fmt.Sprintf("%s/%s", m, tt.name), func(t *testing.T) {
				sc, sp, _ := echoStream(t, m, loopback.EchoConfig{}, func(c *dial.Conn) { c.MaxElement = 1024 })
				openEcho(t, sc, sp)
				_, err := io.WriteString(sc, tt.send)
				var se *xmppstream.StreamError
				if !errors.As(err, &se) || se.Condition != tt.cond {
					t.Fatalf("Write = %v, want <%s/>", err, tt.cond)
				}
				if _, err2 := io.WriteString(sc, "<presence/>"); !errors.As(err2, &se) {
					t.Errorf("a later Write = %v, want the same failure", err2)
				}
			})
		}
	}
}

// TestStreamConn_BOSHTerminateCondition: a connection manager that ends
// the session with a condition (here bad-request, for a body larger than
// it takes) reads as an RFC 6120 stream error, then the end of the
// stream (XEP-0124 section 17.2).
func TestStreamConn_BOSHTerminateCondition(t *testing.T) {
	sc, sp, _ := echoStream(t, hacx.MethodBOSH, loopback.EchoConfig{BOSHMaxBody: 4096}, nil)
	openEcho(t, sc, sp)
	write(t, sc, "<message><body>"+strings.Repeat("x", 8192)+"</body></message>")
	e := next(t, sp)
	if e.Name != (xml.Name{Space: xmppstream.NSStream, Local: "error"}) || !strings.Contains(string(e.Raw), "<bad-format") || !strings.Contains(string(e.Raw), "bad-request") {
		t.Fatalf("got %s %q, want a bad-format stream error naming bad-request", e.Kind, e.Raw)
	}
	if e := next(t, sp); e.Kind != xmppstream.TokenClose {
		t.Fatalf("after the stream error: %s %q", e.Kind, e.Raw)
	}
}

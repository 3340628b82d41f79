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
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/xmppstream"
)

const (
	handoffDomain   = "example.test"
	handoffFeatures = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
	handoffReply    = "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
	callerHeader    = "<?xml version='1.0'?><stream:stream to='example.test' from='alice@example.test' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' xml:lang='en'>"
)

// startScripted is a direct TLS XMPP server for handoffDomain that answers
// the dialer's header with header (from, id and lang of its own choice) and
// features, then sends reply, and hands every byte it receives afterwards
// to got once the client closes.
func startScripted(t *testing.T, header, features, reply string) (netip.AddrPort, *hacxtest.CA, <-chan []byte) {
	t.Helper()
	ca, err := hacxtest.NewCA("handoff")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(handoffDomain)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		if _, err := xmppstream.ReadClientOpen(c, hacx.Client); err != nil {
			got <- []byte("bad dialer header: " + err.Error())
			return
		}
		io.WriteString(c, header+features+reply)
		b, _ := io.ReadAll(c)
		got <- b
	}()
	return netip.MustParseAddrPort(ln.Addr().String()), ca, got
}

func dialScripted(t *testing.T, addr netip.AddrPort, ca *hacxtest.CA) *dial.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d := dial.Dialer{Roots: ca.Pool(), TLSA: dial.NoDANE}
	route := hacx.Route{Method: hacx.MethodTLS, Addr: addr, SNI: handoffDomain, HasSNI: true, Source: hacx.SourceStatic}
	conn, err := d.DialRoutes(ctx, handoffDomain, hacx.Client, []hacx.Route{route})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestStreamConn_HeaderAbsorbedServerOpenReplayed_C4: over a real TLS
// dial, the caller's header (cut across writes, the last one pipelining
// SASL) never reaches the server, which already has the dialer's; the
// caller reads the server's header rebuilt (from, id, lang; to = the
// caller's from) and the features byte for byte, then the server's own
// bytes; a stream restart passes through untouched.
func TestStreamConn_HeaderAbsorbedServerOpenReplayed_C4(t *testing.T) {
	serverHeader := "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='s-42' from='example.test' version='1.0' xml:lang='fr'>"
	addr, ca, got := startScripted(t, serverHeader, handoffFeatures, handoffReply)
	conn := dialScripted(t, addr, ca)
	sc, err := conn.StreamConn()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()

	auth := "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHNlY3JldA==</auth>"
	cuts := []string{callerHeader[:10], callerHeader[10:60], callerHeader[60:] + auth}
	for _, w := range cuts {
		n, err := sc.Write([]byte(w))
		if err != nil || n != len(w) {
			t.Fatalf("Write(%q) = %d, %v", w, n, err)
		}
	}

	sp := xmppstream.NewSplitter(sc, 0)
	open, err := sp.Next()
	if err != nil || open.Kind != xmppstream.TokenOpen {
		t.Fatalf("first token %v, %v; want the server's stream header", open.Kind, err)
	}
	want := xmppstream.Header{From: handoffDomain, To: "alice@example.test", ID: "s-42", Version: "1.0", Lang: "fr", NS: "jabber:client"}
	if *open.Header != want {
		t.Errorf("rebuilt header %+v, want %+v", *open.Header, want)
	}
	feats, err := sp.Next()
	if err != nil || !bytes.Equal(feats.Raw, conn.Features) || string(feats.Raw) != handoffFeatures {
		t.Fatalf("features %q (%v), want %q as received", feats.Raw, err, conn.Features)
	}
	reply, err := sp.Next()
	if err != nil || string(reply.Raw) != handoffReply {
		t.Fatalf("after the features got %q (%v), want the server's %q", reply.Raw, err, handoffReply)
	}

	cs, ok := sc.(interface{ ConnectionState() tls.ConnectionState })
	if !ok || cs.ConnectionState().Version == 0 || cs.ConnectionState().Version != conn.TLS.Version {
		t.Errorf("ConnectionState not offered for channel binding")
	}

	restart := strings.Replace(callerHeader, "<?xml version='1.0'?>", "", 1)
	if _, err := io.WriteString(sc, restart); err != nil {
		t.Fatal(err)
	}
	sc.Close()
	// The newline is the keepalive that ends the dialer's own header.
	if b, want := <-got, "\n"+auth+restart; string(b) != want {
		t.Errorf("server received %q after the dialer's header, want exactly %q", b, want)
	}
}

// pipeConn is a Conn as the dialer returns it for direct TLS, over one end
// of a pipe; the other end's bytes arrive on sent at close.
func pipeConn(t *testing.T, header xmppstream.Header, features string) (*dial.Conn, <-chan []byte) {
	t.Helper()
	local, remote := net.Pipe()
	sent := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(remote)
		sent <- b
	}()
	t.Cleanup(func() { local.Close(); remote.Close() })
	return dial.ConnOverTLS(local, handoffDomain, hacx.Client, header, []byte(features)), sent
}

// TestStreamConn_CallerHeaderChecked_C4: a header for another domain, in
// the wrong namespace, of the wrong version or without end within the
// bound fails Write, and every later Write, and nothing reaches the server.
func TestStreamConn_CallerHeaderChecked_C4(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   error
	}{
		{"another domain", strings.Replace(callerHeader, "to='example.test'", "to='evil.test'", 1), xmppstream.ErrWrongDomain},
		{"no to", strings.Replace(callerHeader, "to='example.test'", "", 1), xmppstream.ErrWrongDomain},
		{"server namespace on a client stream", strings.Replace(callerHeader, "xmlns='jabber:client'", "xmlns='jabber:server'", 1), xmppstream.ErrNotXMPP},
		{"version 0.9", strings.Replace(callerHeader, "version='1.0' xml", "version='0.9' xml", 1), xmppstream.ErrVersion},
		{"not XML", "GET / HTTP/1.1\r\n", xmppstream.ErrNotXMPP},
		{"unbounded header", "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' a='" + strings.Repeat("x", xmppstream.MaxHeaderBytes) + "'>", xmppstream.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, sent := pipeConn(t, xmppstream.Header{From: handoffDomain, ID: "1", Version: "1.0"}, "<stream:features/>")
			sc, err := conn.StreamConn()
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.WriteString(sc, tt.header)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Write = %v, want %v", err, tt.want)
			}
			if _, err2 := io.WriteString(sc, "<auth/>"); !errors.Is(err2, tt.want) {
				t.Errorf("later Write = %v, want the same failure", err2)
			}
			sc.Close()
			if b := <-sent; len(b) != 0 {
				t.Errorf("the server received %q", b)
			}
		})
	}
}

// TestStreamConn_ServerStreamPrefixKept: a server that names the stream
// namespace with its own prefix gets a rebuilt header with that prefix, so
// its features stay well-formed.
func TestStreamConn_ServerStreamPrefixKept(t *testing.T) {
	features := "<s:features xmlns:x='urn:x'><x:y/></s:features>"
	conn, _ := pipeConn(t, xmppstream.Header{From: handoffDomain, ID: "1", Version: "1.0"}, features)
	sc, err := conn.StreamConn()
	if err != nil {
		t.Fatal(err)
	}
	sp := xmppstream.NewSplitter(sc, 0)
	if tok, err := sp.Next(); err != nil || tok.Kind != xmppstream.TokenOpen || !bytes.Contains(tok.Raw, []byte("<s:stream")) {
		t.Fatalf("header %q, %v", tok.Raw, err)
	}
	tok, err := sp.Next()
	if err != nil || tok.Name.Space != xmppstream.NSStream || tok.Name.Local != "features" || string(tok.Raw) != features {
		t.Fatalf("features %v %q, %v", tok.Name, tok.Raw, err)
	}
}

// TestStreamConn_NoConnection: a Conn that no dialer made has no stream
// to hand over, and a closed one has none left.
func TestStreamConn_NoConnection(t *testing.T) {
	var zero dial.Conn
	if sc, err := zero.StreamConn(); err == nil {
		t.Errorf("zero Conn: StreamConn = %v, want an error", sc)
	}
	conn, _ := pipeConn(t, xmppstream.Header{From: handoffDomain, ID: "1", Version: "1.0"}, "<stream:features/>")
	conn.Close()
	if _, err := conn.StreamConn(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("closed Conn: StreamConn error %v, want net.ErrClosed", err)
	}
}

// TestStreamConn_CloseUnwritten: a stream conn to which the caller wrote
// nothing is still the dialer's stream, and Close ends it as Conn.Close
// does; once the caller has written, Close writes nothing of its own.
func TestStreamConn_CloseUnwritten(t *testing.T) {
	conn, sent := pipeConn(t, xmppstream.Header{From: handoffDomain, ID: "1", Version: "1.0"}, "<stream:features/>")
	sc, err := conn.StreamConn()
	if err != nil {
		t.Fatal(err)
	}
	if again, err := conn.StreamConn(); err != nil || again != sc {
		t.Errorf("second StreamConn = %v, %v; want the same conn", again, err)
	}
	conn.Close() // closes sc
	if b := <-sent; string(b) != "</stream:stream>" {
		t.Errorf("the server received %q, want </stream:stream>", b)
	}

	conn, sent = pipeConn(t, xmppstream.Header{From: handoffDomain, ID: "1", Version: "1.0"}, "<stream:features/>")
	sc, err = conn.StreamConn()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(sc, callerHeader+"<presence/>"); err != nil {
		t.Fatal(err)
	}
	sc.Close()
	if b := <-sent; string(b) != "<presence/>" {
		t.Errorf("the server received %q, want only the caller's <presence/>", b)
	}
}

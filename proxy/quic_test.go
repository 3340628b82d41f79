package proxy_test

import (
	"io"
	"testing"

	"hacx.dev/hacx"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/xmppstream"
)

// TestRelay_QUICUpstream_Q1: a QUIC route is an upstream like any other:
// the plain client's stanzas reach the endpoint over the QUIC stream and
// come back, a restart gets the new stream's header and features, and the
// client's </stream:stream> ends the upstream stream.
func TestRelay_QUICUpstream_Q1(t *testing.T) {
	b := newBed(t)
	s, err := loopback.StartQUIC("127.0.0.1:0", b.cert, loopback.QUICConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r := hacx.Route{Method: hacx.MethodQUIC, Addr: s.Addr(), SNI: domain, HasSNI: true, Source: hacx.SourceStatic, Index: 1}
	srv, addr := b.startProxy(t, []hacx.Route{r}, nil)
	cl := openThrough(t, addr)
	exchange(t, cl)

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
	waitNoConns(t, srv)
	if n := s.Ends(); n != 1 {
		t.Errorf("the QUIC endpoint saw %d stream ends, want 1", n)
	}
	if cs := s.Contacts(); len(cs) != 1 || cs[0].SNI != domain || cs[0].Negotiated != "xmpp-client" {
		t.Errorf("endpoint saw %+v", cs)
	}
}

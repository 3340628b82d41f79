package xmppstream_test

import (
	"errors"
	"fmt"
	"strings"

	"hacx.dev/hacx"
	"hacx.dev/hacx/xmppstream"
)

// A client writes its header on an authenticated TLS connection, then
// checks the server's answer (C4). Here the "connection" is a string.
func ExampleReadOpen() {
	var out strings.Builder
	xmppstream.WriteOpen(&out, "example.com", hacx.Client)

	answer := strings.NewReader("<?xml version='1.0'?><stream:stream xmlns='jabber:client' " +
		"xmlns:stream='http://etherx.jabber.org/streams' id='c2s-1' from='example.com' version='1.0'>" +
		"<stream:features/>")
	h, features, err := xmppstream.ReadOpen(answer, "example.com", hacx.Client)
	fmt.Println(h.From, h.ID, string(features), err)
	// Output: example.com c2s-1 <stream:features/> <nil>
}

// A web server on the XMPP port is named as such, so the attempt log can
// say why the route was skipped (C3).
func ExampleError() {
	_, _, err := xmppstream.ReadOpen(strings.NewReader("HTTP/1.1 400 Bad Request\r\n\r\n"), "example.com", hacx.Client)
	fmt.Println(err)
	fmt.Println(errors.Is(err, xmppstream.ErrHTTP))
	// Output:
	// xmppstream: stream header: got an HTTP response where XMPP was expected ("HTTP/1.1 400 Bad Request")
	// true
}

func ExampleCheckWSOpen() {
	// The client sends xmppstream.WSOpen("example.com") as its first message.
	h, err := xmppstream.CheckWSOpen([]byte(`<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" from="example.com" id="ws-1" version="1.0"/>`), "example.com")
	fmt.Println(h.ID, err)
	_, err = xmppstream.CheckWSOpen(xmppstream.WSStreamError("host-unknown", ""), "example.com")
	var se *xmppstream.StreamError
	fmt.Println(errors.As(err, &se), se.Condition)
	// Output:
	// ws-1 <nil>
	// true host-unknown
}

func ExampleParseBOSHSession() {
	// The client POSTs xmppstream.BOSHSessionRequest("example.com", rid, hacx.Client).
	s, err := xmppstream.ParseBOSHSession([]byte(`<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' `+
		`sid='s1' wait='60' hold='1' from='example.com' xmpp:version='1.0'/>`), "example.com")
	fmt.Println(s.SID, s.Wait, err)
	// Output: s1 60 <nil>
}

// The server side of a refused stream, as a gateway answers a client it
// cannot serve: its header, then the stream error and the end of the
// stream (RFC 6120 section 4.9.1.2).
func ExampleWriteServerOpen() {
	var out strings.Builder
	xmppstream.WriteServerOpen(&out, "example.com", "id1", hacx.Client)
	xmppstream.WriteStreamError(&out, "host-unknown", "")
	fmt.Println(out.String())
	// Output: <?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='id1' from='example.com' version='1.0' xml:lang='en'><stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>
}

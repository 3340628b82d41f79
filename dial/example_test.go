package dial_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/xmppstream"
)

// The zero Dialer discovers the domain's routes (HACX document, then the
// fallbacks) and returns the first verified stream.
// Dial is the one-call way in: system DNS resolver and roots, every
// source and method, the default timings.
func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := dial.Dial(ctx, "example.org")
	if err != nil {
		fmt.Println(err) // one line per route tried
		return
	}
	defer c.Close()
	fmt.Println("connected over", c.Route, "verified by", c.Verified)
}

// A Dialer restricted to the methods that survive a network where only
// HTTPS gets through (C1).
func ExampleDialer_methods() {
	d := dial.Dialer{Methods: []hacx.Method{hacx.MethodWebSocket, hacx.MethodBOSH}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, "example.org")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	fmt.Println("connected over", c.Route.Method)
}

func ExampleDialer() {
	var d dial.Dialer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, "example.org")
	if err != nil {
		var de *dial.Error
		if errors.As(err, &de) {
			for _, a := range de.Attempts {
				fmt.Println(a.RouteError()) // one line per route: route, phase, cause, duration
			}
		}
		return
	}
	defer c.Close()
	fmt.Println("connected over", c.Route, "verified by", c.Verified)
}

// DialRoutes takes routes from the caller: here a dead address and a
// working direct-TLS server on loopback. The dead route costs only the
// stagger, not its timeout (C5).
func ExampleDialer_DialRoutes() {
	ca, _ := hacxtest.NewCA("example")
	cert, _ := ca.Issue("example.test")
	ln, _ := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*cert}})
	defer ln.Close()
	go func() { // a minimal XMPP server for example.test
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		xmppstream.ReadClientOpen(c, hacx.Client)
		xmppstream.WriteServerOpen(c, "example.test", "s1", hacx.Client)
		xmppstream.WriteFeatures(c, nil)
		c.Read(make([]byte, 1)) // until the client closes
	}()
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := netip.MustParseAddrPort(dead.Addr().String())
	defer dead.Close() // accepts TCP (backlog) but never answers TLS

	d := dial.Dialer{Roots: ca.Pool(), TLSA: dial.NoDANE, Stagger: 50 * time.Millisecond}
	routes := []hacx.Route{
		{Method: hacx.MethodTLS, Addr: deadAddr, Source: hacx.SourceStatic, Index: 1},
		{Method: hacx.MethodTLS, Addr: netip.MustParseAddrPort(ln.Addr().String()), Source: hacx.SourceStatic, Index: 2},
	}
	c, err := d.DialRoutes(context.Background(), "example.test", hacx.Client, routes)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	fmt.Println("winner: route", c.Route.Index, "from", c.Header.From, "by", c.Verified)
	for _, a := range c.Attempts {
		fmt.Printf("route %d: %s %v\n", a.Route.Index, a.Phase, a.Err)
	}
	// Output:
	// winner: route 2 from example.test by webpki
	// route 1: tls dial: cancelled, another route won
	// route 2: done <nil>
}

// StreamConn hands the verified stream to code that speaks XMPP from the
// start, such as another XMPP library: it writes its own stream header
// and reads the server's, as on a new connection, whatever the route's
// method (here direct TLS; WebSocket and BOSH read and write the same).
func ExampleConn_StreamConn() {
	ca, _ := hacxtest.NewCA("example")
	cert, _ := ca.Issue("example.test")
	srv, _ := hacxtest.StartXMPP("127.0.0.1:0", cert, hacxtest.XMPPConfig{})
	defer srv.Close()

	d := dial.Dialer{Roots: ca.Pool(), TLSA: dial.NoDANE}
	route := hacx.Route{Method: hacx.MethodTLS, Addr: srv.Addr(), Source: hacx.SourceStatic}
	c, err := d.DialRoutes(context.Background(), "example.test", hacx.Client, []hacx.Route{route})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close() // closes the stream conn too
	sc, err := c.StreamConn()
	if err != nil {
		fmt.Println(err)
		return
	}
	// The library's own header: checked (to must be the domain dialed)
	// and kept, since the server already has the dialer's.
	io.WriteString(sc, "<?xml version='1.0'?><stream:stream to='example.test' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")
	sp := xmppstream.NewSplitter(sc, 0)
	open, _ := sp.Next()     // the server's header, rebuilt
	features, _ := sp.Next() // its features, as the dialer read them
	fmt.Println("stream from", open.Header.From, "then", features.Name.Local)
	// Output: stream from example.test then features
}

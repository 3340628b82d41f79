package hacxtest_test

import (
	"crypto/tls"
	"fmt"
	"log"

	"hacx.dev/hacx"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/xmppstream"
)

// A good direct-TLS endpoint on 127.0.0.2, and a client proving it is the
// right server (C4); the endpoint records the SNI and ALPN it saw (A5, A6).
func ExampleStartXMPP() {
	ca, err := hacxtest.NewCA("example")
	if err != nil {
		log.Fatal(err)
	}
	cert, err := ca.Issue("example.com")
	if err != nil {
		log.Fatal(err)
	}
	s, err := hacxtest.StartXMPP("127.0.0.2:0", cert, hacxtest.XMPPConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	c, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{ServerName: "example.com", RootCAs: ca.Pool(), NextProtos: []string{"xmpp-client"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	xmppstream.WriteOpen(c, "example.com", hacx.Client)
	h, _, err := xmppstream.ReadOpen(c, "example.com", hacx.Client)
	fmt.Println(h.From, err)

	seen, _ := s.Last()
	fmt.Println(seen.SNI, seen.ALPN, seen.To)
	// Output:
	// example.com <nil>
	// example.com [xmpp-client] example.com
}

package trust_test

import (
	"crypto/x509"
	"fmt"
	"net/url"

	"hacx.dev/hacx"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/trust"
)

// A record pinning the server's own key accepts a self-signed certificate
// (A9): the pin replaces CA validation.
func ExampleVerifyPins() {
	cert, err := hacxtest.SelfSigned("xmpp.example.org")
	if err != nil {
		panic(err)
	}
	leaf := cert.Leaf
	pin, _ := hacx.NewPin(leaf, "sha-256") // what <public-key-pin sha-256="..."/> carries

	opts := trust.VerifyOptions{Roots: x509.NewCertPool(), Names: []string{"example.org"}}
	fmt.Println("pinned:", trust.VerifyPins([]hacx.Pin{pin}, []*x509.Certificate{leaf}, opts))

	other, _ := hacxtest.SelfSigned("xmpp.example.org")
	err = trust.VerifyPins([]hacx.Pin{pin}, []*x509.Certificate{other.Leaf}, opts)
	fmt.Println("other key rejected:", err != nil)
	// Output:
	// pinned: <nil>
	// other key rejected: true
}

// An HSTSStore remembers Strict-Transport-Security from verified HTTPS
// responses and upgrades later plain-HTTP URLs (X5). Set Path to persist.
func ExampleHSTSStore() {
	var s trust.HSTSStore // zero value: in memory, real clock
	if err := s.Observe("example.org", "max-age=31536000; includeSubDomains"); err != nil {
		panic(err)
	}
	u, _ := url.Parse("http://chat.example.org:80/.well-known/xmpp-client.xml")
	up, ok := s.Upgrade(u)
	fmt.Println(up, ok)
	fmt.Println(s.Known("example.net"))
	// Output:
	// https://chat.example.org:443/.well-known/xmpp-client.xml true
	// false
}

package socks_test

import (
	"fmt"

	"hacx.dev/hacx/socks"
)

// Credentials isolate Tor streams; they never show in String or errors.
func ExampleParse() {
	p, err := socks.Parse("socks5h://circuit-42:x@127.0.0.1:9050")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p, p.RemoteDNS(), p.Username)
	// Output: socks5h://127.0.0.1:9050 true circuit-42
}

package hacx_test

import (
	"fmt"
	"net/netip"

	"hacx.dev/hacx"
)

// Parse reads a document; a record that breaks a rule is dropped with a
// warning and the rest still counts (E2).
func ExampleParse() {
	doc, err := hacx.Parse([]byte(`<hacx ttl="3600">
  <tls ip="192.0.2.10" port="443" priority="5" sni="xmpp.example.org" alpn="eG1wcC1jbGllbnQ="/>
  <websocket ip="192.0.2.20" port="443" priority="10" url="ws://www.example.org/xmpp-websocket"/>
</hacx>`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("ttl", doc.TTL)
	for _, r := range doc.Records {
		fmt.Println(r.Method, r.Addr(), r.SNI, string(r.ALPN))
	}
	for _, w := range doc.Warnings {
		fmt.Println(w)
	}
	// Output:
	// ttl 3600
	// tls 192.0.2.10:443 xmpp.example.org xmpp-client
	// 3:3: record 2 (websocket): url "ws://www.example.org/xmpp-websocket" must use wss:// [A8]
}

// Marshal writes a document in canonical form; it refuses a record that
// Parse would drop.
func ExampleMarshal() {
	out, err := hacx.Marshal(&hacx.Document{TTL: 3600, Records: []hacx.Record{{
		Method: hacx.MethodTLS, IP: netip.MustParseAddr("2001:db8::10"), Port: 5223, Priority: 10,
		SNI: "xmpp.example.org", HasSNI: true, ALPN: []byte("xmpp-client"),
	}}})
	fmt.Print(string(out), err)
	// Output:
	// <?xml version="1.0" encoding="UTF-8"?>
	// <hacx ttl="3600">
	//   <tls ip="2001:db8::10" port="5223" priority="10" weight="0" sni="xmpp.example.org" alpn="eG1wcC1jbGllbnQ="/>
	// </hacx>
	// <nil>
}

// Lint reports every problem with its position and rule, as "hacx lint"
// prints them: here the draft's own example, whose elements are not
// closed (E3).
func ExampleLint() {
	for _, p := range hacx.Lint([]byte("<hacx>\n  <websocket ip=\"192.0.2.1\" port=\"443\" priority=\"1\" url=\"wss://example.org/ws\">\n</hacx>\n")) {
		fmt.Println(p)
	}
	// Output:
	// 3:8: found </hacx> but <websocket> (opened at 2:3) is still open: close it with </websocket> or write it as <websocket .../> [E3]
}

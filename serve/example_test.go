package serve_test

import (
	"fmt"
	"net/http/httptest"

	"hacx.dev/hacx/serve"
)

func ExampleHandler() {
	cfg, err := serve.ParseConfig([]byte(`
[[domain]]
name = "example.org"
ttl = 300
[[domain.client]]
method = "websocket"
ip = "192.0.2.11"
port = 443
priority = 10
url = "wss://chat.example.org/xmpp-websocket"
`), "")
	if err != nil {
		fmt.Println(err)
		return
	}
	h, err := serve.NewHandler(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	// Mount h in any server; here, one request.
	r := httptest.NewRequest("GET", "https://example.org/.well-known/xmpp-client.xml", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"))
	fmt.Print(w.Body.String())
	// Output:
	// 200 application/xml max-age=300
	// <?xml version="1.0" encoding="UTF-8"?>
	// <hacx ttl="300">
	//   <websocket ip="192.0.2.11" port="443" priority="10" weight="0" url="wss://chat.example.org/xmpp-websocket"/>
	// </hacx>
}

func ExampleParseConfig_errors() {
	_, err := serve.ParseConfig([]byte(`[[domain]]
name = "example.org"
[[domain.client]]
method = "websocket"
ip = "192.0.2.11"
port = 443
alpn = "xmpp-client"
url = "wss://chat.example.org/xmpp-websocket"
`), "")
	fmt.Println(err)
	// Output:
	// serve: config: line 7: domain[0].client[0].alpn: alpn is only for tls records: WebSocket and BOSH negotiate over HTTP [A7]
}

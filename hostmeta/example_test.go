package hostmeta_test

import (
	"fmt"

	"hacx.dev/hacx/hostmeta"
)

func ExampleMarshalJSON() {
	out, _ := hostmeta.MarshalJSON(&hostmeta.Document{
		XMPP: &hostmeta.XMPP{TTL: 300},
		Links: []hostmeta.Link{
			{Rel: hostmeta.RelTLS, Port: 5223, Priority: 10, IPs: []string{"192.0.2.1"}},
		},
	})
	fmt.Print(string(out))
	// Output:
	// {
	//   "xmpp": {
	//     "ttl": 300
	//   },
	//   "links": [
	//     {
	//       "rel": "urn:xmpp:alt-connections:tls",
	//       "priority": 10,
	//       "weight": 0,
	//       "ips": [
	//         "192.0.2.1"
	//       ],
	//       "port": 5223
	//     }
	//   ]
	// }
}

func ExampleParse() {
	d, err := hostmeta.Parse([]byte(`<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">
  <Link rel="urn:xmpp:alt-connections:websocket" href="wss://example.org/ws"/>
</XRD>`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, l := range d.LinksWith(hostmeta.RelWebSocket) {
		fmt.Println(l.Href)
	}
	// Output: wss://example.org/ws
}

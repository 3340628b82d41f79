package discover_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"

	"hacx.dev/hacx"
	"hacx.dev/hacx/discover"
)

func ExampleOrder() {
	routes := []hacx.Route{
		{Method: hacx.MethodWebSocket, Addr: netip.MustParseAddrPort("192.0.2.2:443"), Priority: 20},
		{Method: hacx.MethodTLS, Addr: netip.MustParseAddrPort("192.0.2.1:5223"), Priority: 10},
	}
	for _, r := range discover.Order(routes, rand.New(rand.NewPCG(1, 1))) {
		fmt.Println(r.Priority, r.Method, r.Addr)
	}
	// Output:
	// 10 tls 192.0.2.1:5223
	// 20 websocket 192.0.2.2:443
}

func ExampleDirCache() {
	dir, _ := os.MkdirTemp("", "hacx-cache")
	defer os.RemoveAll(dir)
	c := discover.DirCache(dir)
	ctx := context.Background()
	c.Put(ctx, "hacx+client+example.org", []byte("..."))
	data, err := c.Get(ctx, "hacx+client+example.org")
	fmt.Println(string(data), err)
	_, err = c.Get(ctx, "hacx+client+other.org")
	fmt.Println(err == discover.ErrCacheMiss)
	// Output:
	// ... <nil>
	// true
}

func ExampleResolver_Lookup() {
	r := &discover.Resolver{
		Cache: discover.DirCache("/var/cache/hacx"),
	}
	res, err := r.Lookup(context.Background(), "example.org", hacx.Client)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, rt := range res.Routes {
		fmt.Println(rt) // e.g. "hacx record 1 (tls 192.0.2.10:443)"
	}
}

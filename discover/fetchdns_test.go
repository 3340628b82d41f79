package discover

import (
	"context"
	"strings"
	"testing"

	"hacx.dev/hacx"
	"hacx.dev/hacx/hacxtest"
)

// TestFetch_HostResolvedByConfiguredServer_H1: with an explicit DNS
// server (--resolver), the HTTPS fetch finds the publisher's address
// there too, not through the system resolver: the A/AAAA queries reach
// the configured server and the connection goes to the address it gave.
func TestFetch_HostResolvedByConfiguredServer_H1(t *testing.T) {
	dnsSrv, err := hacxtest.NewDNSServer()
	if err != nil {
		t.Fatal(err)
	}
	defer dnsSrv.Close()
	// Nothing listens on this loopback address's port 443: the fetch
	// fails, after dialing what the configured server said.
	if err := dnsSrv.Add("fetch.test. 60 IN A 127.0.0.211"); err != nil {
		t.Fatal(err)
	}
	r := &Resolver{DNSServer: dnsSrv.Addr, Fallback: FallbackNever}
	_, err = r.Lookup(context.Background(), "fetch.test", hacx.Client)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.211:443") {
		t.Fatalf("err = %v, want a failed connection to 127.0.0.211:443", err)
	}
	asked := false
	for _, q := range dnsSrv.Queries() {
		if q.Name == "fetch.test." && (q.Type == "A" || q.Type == "AAAA") {
			asked = true
		}
	}
	if !asked {
		t.Errorf("the configured DNS server was not asked for fetch.test: %v", dnsSrv.Queries())
	}
}

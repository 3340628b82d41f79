package discover

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"hacx.dev/hacx"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/internal/testbed"
)

// TestFetch_HostResolvedByConfiguredServer_H1: with an explicit DNS
// server (--resolver), the HTTPS fetch finds the publisher's address
// there too, not through the system resolver: the A/AAAA queries reach
// the configured server and the connection goes to the address it gave.
func TestFetch_HostResolvedByConfiguredServer_H1(t *testing.T) {
	dnsSrv, err := testbed.NewDNSServer()
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

// TestFetch_HostLookupErrorNamesConfiguredServer_H1: when the configured
// DNS server fails to give the fetch host's address, the error is the
// query's own, naming that server, on one line; not Go's resolver error,
// which names the resolv.conf server it did not ask.
func TestFetch_HostLookupErrorNamesConfiguredServer_H1(t *testing.T) {
	dead, err := loopback.RefusedAddr("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	server := dead.String()
	r := &Resolver{DNSServer: server, Fallback: FallbackNever}
	_, err = r.fetch(context.Background(), "https://fetch.test/.well-known/xmpp-client.xml")
	var de *DNSError
	if !errors.As(err, &de) || de.Server != server || de.Name != "fetch.test" {
		t.Fatalf("err = %v, want a DNS error for fetch.test at %s", err, server)
	}
	msg := err.Error()
	if !strings.Contains(msg, "AAAA/A fetch.test at "+server) || strings.Contains(msg, "\n") {
		t.Errorf("error %q: want one line naming the AAAA/A queries at %s", msg, server)
	}
	if conf, cerr := dns.ClientConfigFromFile("/etc/resolv.conf"); cerr == nil {
		for _, s := range conf.Servers {
			if sys := net.JoinHostPort(s, conf.Port); sys != server && strings.Contains(msg, sys) {
				t.Errorf("error %q names the system resolver %s, which was not asked", msg, sys)
			}
		}
	}
}

// TestFetch_HostsFileNotConsulted_H1: with a configured DNS server, even
// a name the hosts file knows (localhost) is asked there, and the fetch
// goes to the address that server gave.
func TestFetch_HostsFileNotConsulted_H1(t *testing.T) {
	dnsSrv, err := testbed.NewDNSServer()
	if err != nil {
		t.Fatal(err)
	}
	defer dnsSrv.Close()
	// Nothing listens on this loopback address's port 443.
	if err := dnsSrv.Add("localhost. 60 IN A 127.0.0.213"); err != nil {
		t.Fatal(err)
	}
	r := &Resolver{DNSServer: dnsSrv.Addr, Fallback: FallbackNever}
	_, err = r.fetch(context.Background(), "https://localhost/.well-known/xmpp-client.xml")
	if err == nil || !strings.Contains(err.Error(), "127.0.0.213:443") {
		t.Fatalf("err = %v, want a failed connection to 127.0.0.213:443, the configured server's answer", err)
	}
}

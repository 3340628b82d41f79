package discover

import (
	"context"
	"net"
	"strings"
	"testing"

	"hacx.dev/hacx"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/internal/testenv"
	"hacx.dev/hacx/socks"
)

// encryptedWorld is the nsd world with Debian's unbound in front of nsd,
// listening for DNS over TLS and DNS over HTTPS with a certificate of
// the world's test CA for dns.test and 127.0.0.1. unbound only carries
// the answers (the Resolver sets CD and validates them itself, D1).
type encryptedWorld struct {
	*nsdWorld
	unbound *testbed.Unbound
}

func newEncryptedWorld(t *testing.T) *encryptedWorld {
	t.Helper()
	testenv.Require(t, testbed.UnboundAvailable())
	w, _ := newNSDWorld(t)
	cert, err := w.ca.Issue("dns.test", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	u, err := testbed.StartUnbound(t.Context(), testbed.UnboundConfig{Upstream: w.nsd.Addr, TLS: cert})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("unbound log:\n%s", u.Log())
		}
		u.Close()
	})
	w.mu.Lock()
	for _, a := range []string{u.TLSAddr, u.HTTPSAddr} {
		_, port, _ := net.SplitHostPort(a)
		w.hosts["dns.test:"+port] = a
		w.hosts[a] = a // by IP address: the world dials nothing it does not know
	}
	w.mu.Unlock()
	return &encryptedWorld{nsdWorld: w, unbound: u}
}

// servers are the encrypted ways to the same unbound.
func (w *encryptedWorld) servers() map[string]string {
	_, tlsPort, _ := net.SplitHostPort(w.unbound.TLSAddr)
	_, httpsPort, _ := net.SplitHostPort(w.unbound.HTTPSAddr)
	return map[string]string{
		"DoT":         "tls://" + w.unbound.TLSAddr,
		"DoTByName":   "tls://dns.test:" + tlsPort,
		"DoHPost":     "https://" + w.unbound.HTTPSAddr + "/dns-query",
		"DoHGet":      "https://dns.test:" + httpsPort + "/dns-query{?dns}",
		"DoHByNameIP": "https://127.0.0.1:" + httpsPort + "/dns-query",
	}
}

// TestEncryptedDNS_ValidatedOverDoTAndDoH: DNS over TLS (RFC 7858) and
// over HTTPS (RFC 8484, POST and GET) to a real server, verified against
// the test CA (Roots), carry the answers the Resolver validates (D1).
func TestEncryptedDNS_ValidatedOverDoTAndDoH(t *testing.T) {
	w := newEncryptedWorld(t)
	ctx := context.Background()
	for name, server := range w.servers() {
		t.Run(name, func(t *testing.T) {
			r := w.resolver()
			r.DNSServer = server
			recs, secure, err := r.LookupTLSA(ctx, "example.test", 443)
			if err != nil || len(recs) != 1 || !secure {
				t.Fatalf("recs %d secure %v err %v", len(recs), secure, err)
			}
			// A second, different name reuses what the first learnt.
			if _, secure, err := r.LookupTLSA(ctx, "plain.example.test", 443); err != nil || !secure {
				t.Fatalf("denial: secure %v err %v", secure, err)
			}
		})
	}
	// A certificate the Roots do not know: no answer at all.
	r := w.resolver()
	r.DNSServer = "tls://" + w.unbound.TLSAddr
	r.Roots = nil
	if _, _, err := r.LookupTLSA(ctx, "example.test", 443); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("unknown CA: err %v, want a certificate error", err)
	}
}

// TestEncryptedDNS_ThroughSOCKS_T1: with a socks5h proxy and a DNS
// server named, every query goes through the proxy as DNS over TLS or
// HTTPS, on one reused connection: the plain DNS server (the system's,
// here) gets nothing, the proxy's log shows the resolver's CONNECT by
// name, and SRV and TLSA work as without the proxy.
func TestEncryptedDNS_ThroughSOCKS_T1(t *testing.T) {
	w := newEncryptedWorld(t)
	_, tlsPort, _ := net.SplitHostPort(w.unbound.TLSAddr)
	_, httpsPort, _ := net.SplitHostPort(w.unbound.HTTPSAddr)
	for name, server := range map[string]string{
		"DoT": "tls://dns.test:" + tlsPort,
		"DoH": "https://dns.test:" + httpsPort + "/dns-query",
	} {
		t.Run(name, func(t *testing.T) {
			w.mu.Lock()
			names := map[string]string{}
			for k, v := range w.hosts {
				names[k] = v
			}
			w.mu.Unlock()
			proxy, err := loopback.NewSOCKSServer(names)
			if err != nil {
				t.Fatal(err)
			}
			defer proxy.Close()
			w.dns.ResetQueries()
			w.dials.Store(0)

			r := w.resolver()
			r.DNSServer, r.systemDNS = server, w.dns.Addr
			r.Fallback = FallbackAlways
			r.Proxy = &socks.Proxy{Addr: proxy.Addr}
			res, err := r.Lookup(context.Background(), "example.test", hacx.Client)
			if err != nil {
				t.Fatal(err)
			}
			if sr := res.Sources[0]; sr.DANE != "verified" || !strings.Contains(sr.DNSSEC, "TLSA: secure") {
				t.Errorf("HACX source DANE %q DNSSEC %q: want DANE through the proxy", sr.DANE, sr.DNSSEC)
			}
			var srv *SourceResult
			for i := range res.Sources {
				if res.Sources[i].Source == hacx.SourceSRV && strings.HasPrefix(res.Sources[i].Query, "_xmpps-client") {
					srv = &res.Sources[i]
				}
			}
			if srv == nil || srv.Err == nil || !strings.Contains(srv.Note, "through the proxy") {
				t.Errorf("SRV source %+v: want it asked (and found bogus) through the proxy", srv)
			}
			if q := w.dns.Queries(); len(q) != 0 {
				t.Errorf("plain DNS queries: %v", q)
			}
			if n := w.dials.Load(); n != 0 {
				t.Errorf("%d connections around the proxy", n)
			}
			resolverConnects := 0
			for _, c := range proxy.Connects() {
				if !c.IsName {
					t.Errorf("CONNECT %v: want names only with socks5h", c)
				}
				if c.Host == "dns.test" {
					resolverConnects++
				}
			}
			if resolverConnects != 1 {
				t.Errorf("CONNECTs %v: want one to the resolver dns.test, reused for every query", proxy.Connects())
			}
		})
	}
}

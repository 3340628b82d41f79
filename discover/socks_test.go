package discover

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/socks"
)

const socksDoc = `<hacx ttl="60"><tls ip="127.0.0.2" port="5223" priority="1"/></hacx>`

// socksWorld is a world whose HTTPS servers the test proxy reaches by
// name; the world's own dialer counts any connection made around it.
func socksWorld(t *testing.T) (*world, *loopback.SOCKSServer) {
	t.Helper()
	w := newWorld(t)
	redirect := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/xmpp-client.xml" {
			http.Redirect(rw, r, "https://www.example.test/hacx.xml", http.StatusFound)
			return
		}
		http.NotFound(rw, r)
	})
	w.serve(redirect, []string{"example.test"}, "example.test")
	w.serve(files{"/hacx.xml": socksDoc}, []string{"www.example.test"}, "www.example.test")
	names := map[string]string{}
	w.mu.Lock()
	for k, v := range w.hosts {
		names[k] = v
	}
	w.mu.Unlock()
	srv, err := loopback.NewSOCKSServer(names)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	// Records a lookup that made any DNS query would find.
	mustAdd(t, w, "_xmpps-client._tcp.example.test. 60 IN SRV 1 0 5223 xmpp.example.test.",
		"xmpp.example.test. 60 IN A 127.0.0.3", "example.test. 60 IN A 127.0.0.9")
	return w, srv
}

func TestSOCKS5h_FetchByNameAndNoDNSQuery_T1(t *testing.T) {
	w, srv := socksWorld(t)
	r := w.resolver()
	// Nothing explicit: the "system" server is the test's, and socks5h
	// must not ask it anything.
	r.DNSServer, r.systemDNS = "", w.dns.Addr
	r.Fallback = FallbackAlways

	// The control: without the proxy the same Resolver asks the server.
	if _, err := r.Lookup(context.Background(), "example.test", hacx.Client); err != nil {
		t.Fatal(err)
	}
	if len(w.dns.Queries()) == 0 {
		t.Fatal("control lookup made no DNS query: the test would prove nothing")
	}
	w.dns.ResetQueries()
	w.dials.Store(0)

	r = w.resolver()
	r.DNSServer, r.systemDNS = "", w.dns.Addr
	r.Fallback = FallbackAlways
	r.Proxy = &socks.Proxy{Addr: srv.Addr, Username: "isolate-1", Password: "pw"}
	res, err := r.Lookup(context.Background(), "example.test", hacx.Client)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Routes) != 1 || res.Routes[0].Addr.String() != "127.0.0.2:5223" {
		t.Fatalf("routes %v", res.Routes)
	}
	if q := w.dns.Queries(); len(q) != 0 {
		t.Errorf("socks5h made DNS queries: %v", q)
	}
	if n := w.dials.Load(); n != 0 {
		t.Errorf("%d connections around the proxy", n)
	}
	connects := srv.Connects()
	var sawHACX, sawRedirect bool
	for _, c := range connects {
		if !c.IsName || c.User != "isolate-1" {
			t.Errorf("CONNECT %v: want a host name and the isolation user", c)
		}
		sawHACX = sawHACX || c.Target() == "example.test:443"
		sawRedirect = sawRedirect || c.Target() == "www.example.test:443"
	}
	if !sawHACX || !sawRedirect {
		t.Errorf("CONNECTs %v: want example.test:443 and the redirect hop www.example.test:443", connects)
	}
	var hacxSR, srvSR *SourceResult
	for i := range res.Sources {
		switch res.Sources[i].Source {
		case hacx.SourceHACX:
			hacxSR = &res.Sources[i]
		case hacx.SourceSRV:
			srvSR = &res.Sources[i]
		}
	}
	if hacxSR == nil || strings.Count(hacxSR.DANE, "unavailable over SOCKS") != 2 {
		t.Errorf("HACX source %+v: want DANE unavailable over SOCKS", hacxSR)
	}
	if srvSR == nil || srvSR.Status != StatusSkipped || !strings.Contains(srvSR.Note, "SOCKS") {
		t.Errorf("SRV source %+v: want skipped over SOCKS", srvSR)
	}
	// The dialer's DANE lookups go through the Resolver too: none either.
	if recs, secure, err := r.LookupTLSA(context.Background(), "example.test", 5223); recs != nil || secure || err != nil {
		t.Errorf("LookupTLSA behind socks5h = %v, %v, %v; want nothing", recs, secure, err)
	}
	if q := w.dns.Queries(); len(q) != 0 {
		t.Errorf("LookupTLSA behind socks5h asked %v", q)
	}
}

// An explicit DNS server is asked through the proxy, as DNS over TCP
// (T1: no DNS outside the proxy), while HTTPS goes through it by name.
func TestSOCKS5h_ExplicitDNSServerThroughTheProxy_T1(t *testing.T) {
	w, srv := socksWorld(t)
	r := w.resolver()
	r.Fallback = FallbackAlways
	r.Proxy = &socks.Proxy{Addr: srv.Addr}
	res, err := r.Lookup(context.Background(), "example.test", hacx.Client)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.dns.Queries()) == 0 {
		t.Error("no query to the explicit DNS server")
	}
	for _, q := range w.dns.Queries() {
		if q.Net != "tcp" {
			t.Errorf("query %v: want TCP, through the proxy", q)
		}
	}
	if !hasSource(res.Sources, hacx.SourceSRV, StatusFound) {
		t.Errorf("sources %+v: want SRV found", res.Sources)
	}
	sawDNS := false
	for _, c := range srv.Connects() {
		switch {
		case c.Target() == w.dns.Addr:
			sawDNS = true
		case !c.IsName:
			t.Errorf("CONNECT %v: want a host name", c)
		}
	}
	if !sawDNS {
		t.Errorf("CONNECTs %v: none to the DNS server %s", srv.Connects(), w.dns.Addr)
	}
	if w.dials.Load() != 0 {
		t.Error("connection around the proxy")
	}
	// Every source that asked says where (T1).
	want := "asked " + w.dns.Addr + " through the proxy"
	for _, s := range res.Sources {
		switch {
		case s.Source == hacx.SourceSRV && !strings.Contains(s.Note, want):
			t.Errorf("SRV source %s note %q: want %q", s.Query, s.Note, want)
		case s.Source == hacx.SourceHACX && !strings.Contains(s.Note, "TLSA "+want):
			t.Errorf("HACX source note %q: want TLSA %q", s.Note, want)
		}
	}
}

func TestSOCKS5_NamesResolvedLocally(t *testing.T) {
	w, srv := socksWorld(t)
	// The DNS answer for example.test is 127.0.0.9; the test proxy maps
	// 127.0.0.9:443 to the world's server for example.test.
	srv.Close()
	w.mu.Lock()
	target := w.hosts["example.test:443"]
	w.mu.Unlock()
	srv, err := loopback.NewSOCKSServer(map[string]string{"127.0.0.9:443": target})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	r := w.resolver()
	r.Fallback = FallbackNever
	r.Proxy = &socks.Proxy{Scheme: socks.SchemeLocalDNS, Addr: srv.Addr}
	res, _ := r.Lookup(context.Background(), "example.test", hacx.Client)
	connects := srv.Connects()
	var sawFetch bool
	for _, c := range connects {
		if c.IsName {
			t.Errorf("CONNECT %v by name through socks5", c)
		}
		sawFetch = sawFetch || c.Target() == "127.0.0.9:443"
	}
	if !sawFetch {
		t.Fatalf("CONNECTs %v: want 127.0.0.9:443 by IP", connects)
	}
	var askedA bool
	for _, q := range w.dns.Queries() {
		askedA = askedA || (q.Name == "example.test." && (q.Type == "A" || q.Type == "AAAA"))
		if q.Net != "tcp" {
			t.Errorf("query %v: want TCP through the proxy", q)
		}
	}
	if !askedA {
		t.Errorf("queries %v: want the A/AAAA query for example.test", w.dns.Queries())
	}
	// The redirect hop to www.example.test has no A record: the lookup
	// fails there, and never around the proxy.
	if len(res.Routes) != 0 || w.dials.Load() != 0 {
		t.Errorf("routes %v, direct dials %d", res.Routes, w.dials.Load())
	}
}

func TestSOCKS_FailingProxyNoDirectFallback_T1(t *testing.T) {
	for _, mode := range []string{"refuse", "stall"} {
		t.Run(mode, func(t *testing.T) {
			w := newWorld(t)
			hits := w.serve(files{"/.well-known/xmpp-client.xml": socksDoc}, []string{"example.test"}, "example.test")
			srv, err := loopback.NewSOCKSServer(map[string]string{"example.test": "127.0.0.1"})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			if mode == "refuse" {
				srv.Refuse(loopback.SOCKSConnectionRefused)
			} else {
				srv.Stall(true)
			}
			p, err := socks.Parse("socks5h://tor:secretpw@" + srv.Addr)
			if err != nil {
				t.Fatal(err)
			}
			r := w.resolver()
			r.DNSServer, r.systemDNS = "", w.dns.Addr
			r.Proxy = p
			r.Timeout = 300 * time.Millisecond
			res, err := r.Lookup(context.Background(), "example.test", hacx.Client)
			// Nothing was learnt: only the F1 routes by name remain, for
			// the same proxy to carry (never around it).
			if res == nil || res.Published() || len(res.Routes) != 2 {
				t.Fatalf("lookup through a failing proxy: %v, %v", res, err)
			}
			for _, rt := range res.Routes {
				if rt.Source != hacx.SourceFallback || rt.Addr.Addr().IsValid() || !strings.HasPrefix(rt.Dest(), "example.test:") {
					t.Errorf("route %v: want an F1 route by name", rt)
				}
			}
			msg := res.Sources[0].Err.Error()
			var se *socks.Error
			if !errors.As(res.Sources[0].Err, &se) || !strings.Contains(msg, "socks5h://"+srv.Addr) || strings.Contains(msg, "secretpw") {
				t.Errorf("error %q: want a *socks.Error naming the proxy, no password", msg)
			}
			if hits.Load() != 0 || w.dials.Load() != 0 || len(w.dns.Queries()) != 0 {
				t.Errorf("direct contact: %d requests, %d dials, %d DNS queries", hits.Load(), w.dials.Load(), len(w.dns.Queries()))
			}
		})
	}
}

func hasSource(srs []SourceResult, src hacx.Source, st Status) bool {
	for _, s := range srs {
		if s.Source == src && s.Status == st {
			return true
		}
	}
	return false
}

// socks5 without a DNS server: names are resolved by the system's
// resolver, directly (socks5 means the proxy resolves nothing), and the
// result says so (T1).
func TestSOCKS5_NoDNSServerAsksSystemDirectly_T1(t *testing.T) {
	w, srv := socksWorld(t)
	r := w.resolver()
	r.DNSServer, r.systemDNS = "", w.dns.Addr
	r.Fallback = FallbackAlways
	r.Proxy = &socks.Proxy{Scheme: socks.SchemeLocalDNS, Addr: srv.Addr}
	res, _ := r.Lookup(context.Background(), "example.test", hacx.Client)
	want := "queried directly at " + w.dns.Addr + ", outside the proxy"
	for _, s := range res.Sources {
		if s.Source == hacx.SourceSRV && !strings.Contains(s.Note, want) {
			t.Errorf("SRV source note %q: want %q", s.Note, want)
		}
	}
	for _, c := range srv.Connects() {
		if c.Target() == w.dns.Addr {
			t.Errorf("CONNECT %v: the system resolver was asked through the proxy", c)
		}
	}
	if len(w.dns.Queries()) == 0 {
		t.Error("the system resolver was not asked")
	}
}

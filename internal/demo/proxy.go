package demo

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/discover"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/socks"
)

// ThroughSOCKS turns the client into a Tor user behind a censor (T1): the
// world's DNS server refuses the domain's names and every direct
// connection is refused (and counted), so the only way out is a socks5h
// proxy, an in-process hacxtest.SOCKSServer that resolves the domain to the
// publisher itself and records every CONNECT.
//
// The resolver keeps the world's DNS server but has NoDNS set: a query it
// made anyway would reach that server and be counted (Result.DNSQueries),
// where a query to the system resolver would go unseen. DANE is off on the
// routes for the same reason: TLSA needs a local DNS query.
func (w *World) ThroughSOCKS() error {
	b := w.Bed
	srv, err := loopback.NewSOCKSServer(map[string]string{b.Domain + ":443": b.Publisher.String()})
	if err != nil {
		return err
	}
	w.cleanup(func() { srv.Close() })
	p := &socks.Proxy{Scheme: socks.SchemeRemoteDNS, Addr: srv.Addr}
	if w.via != nil {
		// Every connection to the in-process proxy is itself a CONNECT
		// through the external one, by IP: it must reach loopback.
		p.Forward = w.via.DialContext
	}
	w.socks = srv

	// The censor's DNS: nothing useful for the domain.
	for _, name := range []string{b.Domain, "_xmpps-client._tcp." + b.Domain, "_xmpp-client._tcp." + b.Domain} {
		b.DNS.SetRcode(name, dns.RcodeRefused)
		w.cleanup(func() { b.DNS.SetRcode(name, dns.RcodeSuccess) })
	}
	censor := func(ctx context.Context, network, addr string) (net.Conn, error) {
		w.direct.Add(1)
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("%s: %w", addr, testbed.ErrBlocked)}
	}

	w.Resolver.Proxy, w.Dialer.Proxy = p, p
	w.Resolver.NoDNS = true
	w.Resolver.DialContext, w.Dialer.DialContext = censor, censor
	w.Dialer.Routes = w.Resolver
	w.Dialer.TLSA = dial.NoDANE
	if w.defaultStagger {
		// Every attempt through Tor pays the proxy's round trips: the
		// proxy stagger, not the loopback one.
		w.Dialer.Stagger = dial.DefaultProxyStagger
	}
	return nil
}

// proxyReport is what the proxy saw, once the client is done.
func (w *World) proxyReport(lr *discover.Result) *ProxyReport {
	pr := &ProxyReport{URL: w.Resolver.Proxy.String(), DirectDials: int(w.direct.Load())}
	if w.via != nil {
		pr.Via = w.via.String()
	}
	for _, c := range w.socks.Connects() {
		pr.Connects = append(pr.Connects, Connect{Target: c.Target(), ByName: c.IsName, Reply: int(c.Reply)})
	}
	if lr != nil {
		for _, s := range lr.Sources {
			if s.Source == hacx.SourceHACX {
				pr.DANE = s.DANE
			}
		}
	}
	return pr
}

// compareProxy says how a proxy scenario broke T1, "" if it did not: the
// HACX fetch must be the proxy's first CONNECT, by name, then one CONNECT
// by ip:port per attempt, in order; no DNS query, no direct connection,
// and no DANE.
func compareProxy(domain string, r *Result, attempts []dial.Attempt) string {
	p := r.Proxy
	if p == nil {
		return "expected the client to go through a SOCKS proxy, it had none"
	}
	want := []Connect{{Target: net.JoinHostPort(domain, "443"), ByName: true}}
	for _, a := range attempts {
		want = append(want, Connect{Target: a.Route.Addr.String()})
	}
	got := make([]Connect, len(p.Connects))
	for i, c := range p.Connects {
		got[i] = Connect{Target: c.Target, ByName: c.ByName}
	}
	switch {
	case r.DNSQueries != 0:
		return fmt.Sprintf("expected no DNS query over SOCKS (T1), the DNS server saw %d", r.DNSQueries)
	case p.DirectDials != 0:
		return fmt.Sprintf("expected no connection around the proxy (T1), %d tried", p.DirectDials)
	case !slices.Equal(got, want):
		return fmt.Sprintf("expected the proxy to see %v, it saw %v", connectList(want), connectList(got))
	case !strings.Contains(p.DANE, "unavailable over SOCKS"):
		return fmt.Sprintf("expected DANE unavailable over SOCKS, got %q", p.DANE)
	}
	return ""
}

// connectList is a CONNECT log on one line.
func connectList(cs []Connect) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.Target
		if c.ByName {
			parts[i] += " (by name)"
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

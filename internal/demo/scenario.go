package demo

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/discover"
	"hacx.dev/hacx/hostmeta"
)

// Failure kinds: how a scenario that must not connect ends.
const (
	FailNone             = ""
	FailRedirectHTTP     = "redirect-not-https" // H3: http:// Location refused
	FailRedirectLoop     = "redirect-loop"      // H3: a loop is an error
	FailAllRoutes        = "all-routes-failed"  // C3: one aggregated dial.Error
	FailDiscovery        = "discovery-failed"   // any other lookup error
	FailNothingPublished = "nothing-published"  // no source gave a route
)

// Winner names the route that must win: its source, 1-based index in
// that source, method, and how its certificate must have been accepted.
type Winner struct {
	Source   hacx.Source       `json:"source"`
	Index    int               `json:"index"`
	Method   hacx.Method       `json:"method"`
	Verified dial.Verification `json:"verified"`
}

func (w Winner) String() string {
	return fmt.Sprintf("%s record %d (%s, %s)", w.Source, w.Index, w.Method, w.Verified)
}

// Expect is the exact outcome a scenario asserts.
type Expect struct {
	// Winner is the winning route; nil when the scenario must fail.
	Winner *Winner `json:"winner,omitempty"`
	// Fail is the failure kind when Winner is nil.
	Fail string `json:"fail,omitempty"`
	// Phases are the phases every attempt ended in, in route order,
	// the winner's (done) included. An attempt cancelled because another
	// won (C5) reports the phase it had reached.
	Phases []dial.Phase `json:"phases"`
	// Stale says the HACX document must be a stale cached copy (H5).
	Stale bool `json:"stale,omitempty"`
	// Proxied says the client must have gone only through its SOCKS proxy
	// (T1): the HACX fetch as the proxy's first CONNECT, by name, then one
	// CONNECT by ip:port per attempt; no DNS query, no direct connection,
	// DANE unavailable.
	Proxied bool `json:"proxied,omitempty"`
}

// Scenario is one story: what the network or an attacker does, and how
// hacx must come out of it.
type Scenario struct {
	Name   string
	Story  string
	Rules  string // rule IDs the scenario exercises
	Expect Expect
	// setup prepares the world (publisher, DNS, firewall, cache).
	setup func(w *World) error
	// reconnect makes the client connect a second time after the first
	// (Result.Reconnect), which must take the remembered route at once.
	reconnect bool
}

// Tour is the default selection of "hacx demo": the short version of
// what hacx is for.
var Tour = []string{"normal", "ports-blocked", "first-three-blackholed", "stale-cache", "rogue-ca-pinned", "tor-only"}

// Scenarios is the whole table, in the order "--scenario all" plays it.
var Scenarios = []Scenario{
	{
		Name:  "normal",
		Story: "the domain publishes direct TLS, WebSocket and BOSH; nothing is in the way",
		Rules: "H1 C2 C4",
		Expect: Expect{
			Winner: &Winner{hacx.SourceHACX, 1, hacx.MethodTLS, dial.VerifiedWebPKI},
			Phases: []dial.Phase{dial.PhaseDone},
		},
		setup: func(w *World) error {
			return w.Publish(60, w.TLSRecord(w.Bed.TLS, 1), w.WSRecord(2), w.BOSHRecord(3))
		},
	},
	{
		Name:  "ports-blocked",
		Story: "a hotel network drops every port but 443: SRV and the direct-TLS port are dead, HACX over HTTPS still gets through to WebSocket",
		Rules: "X1 C3 A8",
		Expect: Expect{
			Winner: &Winner{hacx.SourceHACX, 2, hacx.MethodWebSocket, dial.VerifiedWebPKI},
			Phases: []dial.Phase{dial.PhaseTCP, dial.PhaseTCP, dial.PhaseDone},
		},
		setup: func(w *World) error {
			w.Resolver.Fallback = discover.FallbackAlways
			w.Net.Block(w.Bed.TLS.String())
			if err := w.publishSRV(); err != nil {
				return err
			}
			return w.Publish(60, w.TLSRecord(w.Bed.TLS, 5), w.WSRecord(10))
		},
	},
	{
		Name:  "first-three-blackholed",
		Story: "the first three routes swallow the connection and never answer; racing (50 ms stagger) reaches the fourth without waiting for timeouts",
		Rules: "C5 C3",
		Expect: Expect{
			Winner: &Winner{hacx.SourceHACX, 4, hacx.MethodBOSH, dial.VerifiedWebPKI},
			Phases: []dial.Phase{dial.PhaseTLS, dial.PhaseTLS, dial.PhaseTLS, dial.PhaseDone},
		},
		setup: func(w *World) error {
			b := w.Bed
			return w.Publish(60, w.TLSRecord(b.Blackholes[0], 1), w.TLSRecord(b.Blackholes[1], 2), w.TLSRecord(b.Blackholes[2], 3), w.BOSHRecord(4))
		},
	},
	{
		Name:  "stale-cache",
		Story: "the document was fetched an hour ago (ttl 60 s); now the HTTPS fetch is blocked, so the stale cached copy is used and says so",
		Rules: "H5",
		Expect: Expect{
			Winner: &Winner{hacx.SourceHACX, 1, hacx.MethodWebSocket, dial.VerifiedWebPKI},
			Phases: []dial.Phase{dial.PhaseDone},
			Stale:  true,
		},
		setup: func(w *World) error {
			if err := w.Publish(60, w.WSRecord(1)); err != nil {
				return err
			}
			if _, err := w.Resolver.Lookup(w.ctx, w.Bed.Domain, hacx.Client); err != nil {
				return fmt.Errorf("priming the cache: %w", err)
			}
			w.Advance(time.Hour)
			w.Net.Block(w.Bed.Domain + ":443")
			return nil
		},
	},
	{
		Name:  "hacx-404-srv",
		Story: "the domain publishes no HACX document (404): the client falls back to XEP-0368 SRV records",
		Rules: "H4 X1",
		Expect: Expect{
			Winner: &Winner{hacx.SourceSRV, 1, hacx.MethodTLS, dial.VerifiedWebPKI},
			Phases: []dial.Phase{dial.PhaseDone},
		},
		setup: func(w *World) error {
			return w.publishSRV()
		},
	},
	{
		Name:  "hostmeta2-only",
		Story: "no HACX document, only a Host Meta 2 host-meta.json with an xmpp object and a WebSocket link (SRV is then skipped)",
		Rules: "X3 H4",
		Expect: Expect{
			Winner: &Winner{hacx.SourceHostMeta2, 1, hacx.MethodWebSocket, dial.VerifiedWebPKI},
			Phases: []dial.Phase{dial.PhaseDone},
		},
		setup: func(w *World) error {
			b := w.Bed
			data, err := hostmeta.MarshalJSON(&hostmeta.Document{
				XMPP: &hostmeta.XMPP{TTL: 60},
				Links: []hostmeta.Link{{
					Rel: hostmeta.RelWebSocket, Href: b.WebSocketURL, Priority: 1,
					IPs: []string{b.WebSocket.Addr().String()}, Port: b.WebSocket.Port(),
				}},
			})
			if err != nil {
				return err
			}
			b.Handle("/.well-known/host-meta.json", http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				rw.Header().Set("Content-Type", "application/json")
				rw.Write(data)
			}))
			return nil
		},
	},
	{
		Name:   "redirect-to-http",
		Story:  "the publisher redirects the document to an http:// URL, where anyone on the path could rewrite it: refused",
		Rules:  "H1 H3",
		Expect: Expect{Fail: FailRedirectHTTP},
		setup: func(w *World) error {
			w.Bed.Handle(hacx.Client.WellKnownPath(), redirect("http://"+w.Bed.Domain+hacx.Client.WellKnownPath()))
			return nil
		},
	},
	{
		Name:   "redirect-loop",
		Story:  "the document redirects to /moved, which redirects back: a loop, refused",
		Rules:  "H3",
		Expect: Expect{Fail: FailRedirectLoop},
		setup: func(w *World) error {
			w.Bed.Handle(hacx.Client.WellKnownPath(), redirect("https://"+w.Bed.Domain+"/moved"))
			w.Bed.Handle("/moved", redirect("https://"+w.Bed.Domain+hacx.Client.WellKnownPath()))
			return nil
		},
	},
	{
		Name:  "rogue-ca-pinned",
		Story: "an attacker answers the first two routes: one with a certificate from a rogue CA, one with a CA-valid certificate for another key; the pins refuse both",
		Rules: "A9 C3",
		Expect: Expect{
			Winner: &Winner{hacx.SourceHACX, 3, hacx.MethodTLS, dial.VerifiedPin},
			Phases: []dial.Phase{dial.PhaseVerify, dial.PhaseVerify, dial.PhaseDone},
		},
		setup: func(w *World) error {
			c, err := leaf(w.Bed.Cert)
			if err != nil {
				return err
			}
			pin, err := hacx.NewPin(c, "sha-256")
			if err != nil {
				return err
			}
			recs := []hacx.Record{w.TLSRecord(w.Bed.RogueCA, 1), w.TLSRecord(w.Bed.OtherKey, 2), w.TLSRecord(w.Bed.TLS, 3)}
			for i := range recs {
				recs[i].Pins = []hacx.Pin{pin}
			}
			return w.Publish(60, recs...)
		},
	},
	{
		Name:  "dane-mismatch",
		Story: "DNSSEC-signed TLSA for the direct-TLS port names another key (a mis-issued but CA-valid certificate): refused; the WebSocket route's TLSA matches",
		Rules: "X4 C3",
		Expect: Expect{
			Winner: &Winner{hacx.SourceHACX, 2, hacx.MethodWebSocket, dial.VerifiedDANE},
			Phases: []dial.Phase{dial.PhaseVerify, dial.PhaseDone},
		},
		setup: func(w *World) error {
			b := w.Bed
			b.DNS.SetAD(true)
			gc, err := leaf(b.Cert)
			if err != nil {
				return err
			}
			oc, err := leaf(b.OtherKeyCert)
			if err != nil {
				return err
			}
			// DANE-EE SPKI SHA-256 (3 1 1): the digest a pin has too.
			if err := b.AddDNS(
				fmt.Sprintf("_%d._tcp.%s. 300 IN TLSA 3 1 1 %s", b.TLS.Port(), b.Domain, hex.EncodeToString(hacx.KeySHA256(oc))),
				fmt.Sprintf("_%d._tcp.%s. 300 IN TLSA 3 1 1 %s", b.WebSocket.Port(), b.Domain, hex.EncodeToString(hacx.KeySHA256(gc))),
			); err != nil {
				return err
			}
			return w.Publish(60, w.TLSRecord(b.TLS, 1), w.WSRecord(2))
		},
	},
	{
		Name:  "wrong-domain-stream",
		Story: "the first route completes TLS but its XMPP stream says it is evil.test: skipped",
		Rules: "C4 C3",
		Expect: Expect{
			Winner: &Winner{hacx.SourceHACX, 2, hacx.MethodTLS, dial.VerifiedWebPKI},
			Phases: []dial.Phase{dial.PhaseStream, dial.PhaseDone},
		},
		setup: func(w *World) error {
			return w.Publish(60, w.TLSRecord(w.Bed.WrongDomain, 1), w.TLSRecord(w.Bed.TLS, 2))
		},
	},
	{
		Name:  "http-on-xmpp-port",
		Story: "the first routes point at a plain web server and a mail server (SMTP banner): skipped, BOSH wins",
		Rules: "C3",
		Expect: Expect{
			Winner: &Winner{hacx.SourceHACX, 3, hacx.MethodBOSH, dial.VerifiedWebPKI},
			Phases: []dial.Phase{dial.PhaseTLS, dial.PhaseTLS, dial.PhaseDone},
		},
		setup: func(w *World) error {
			return w.Publish(60, w.TLSRecord(w.Bed.HTTPOnly, 1), w.TLSRecord(w.Bed.SMTP, 2), w.BOSHRecord(3))
		},
	},
	{
		Name:  "tor-only",
		Story: "a censor blocks DNS and every direct connection; the client only has Tor (a socks5h proxy): the fetch goes by name, routes by ip:port, no DNS query",
		Rules: "T1",
		Expect: Expect{
			Winner:  &Winner{hacx.SourceHACX, 1, hacx.MethodTLS, dial.VerifiedWebPKI},
			Phases:  []dial.Phase{dial.PhaseDone},
			Proxied: true,
		},
		setup: func(w *World) error {
			if err := w.ThroughSOCKS(); err != nil {
				return err
			}
			return w.Publish(60, w.TLSRecord(w.Bed.TLS, 1), w.WSRecord(2), w.BOSHRecord(3))
		},
	},
	{
		Name:  "reconnect",
		Story: "three routes accept TCP and then stall before a good one: the first connection pays a short adaptive delay per stall, the second goes straight to the route that worked",
		Rules: "C5 C2",
		Expect: Expect{
			Winner: &Winner{hacx.SourceHACX, 4, hacx.MethodBOSH, dial.VerifiedWebPKI},
			Phases: []dial.Phase{dial.PhaseTLS, dial.PhaseTLS, dial.PhaseTLS, dial.PhaseDone},
		},
		setup: func(w *World) error {
			b := w.Bed
			w.Dialer.Stagger, w.Dialer.MinStagger = dial.DefaultStagger, dial.DefaultMinStagger
			return w.Publish(60, w.TLSRecord(b.Blackholes[0], 1), w.TLSRecord(b.Blackholes[1], 2), w.TLSRecord(b.Blackholes[2], 3), w.BOSHRecord(4))
		},
		reconnect: true,
	},
	{
		Name:  "legacy-starttls",
		Story: "the domain publishes no HACX document and no host-meta, only an _xmpp-client SRV record, as most XMPP services do: hacx connects with STARTTLS",
		Rules: "X1 S1 C4",
		Expect: Expect{
			Winner: &Winner{hacx.SourceSRV, 1, hacx.MethodStartTLS, dial.VerifiedWebPKI},
			Phases: []dial.Phase{dial.PhaseDone},
		},
		setup: func(w *World) error {
			return w.publishStartTLSSRV(w.Bed.StartTLS)
		},
	},
	{
		Name:   "starttls-stripped",
		Story:  "an on-path attacker strips <starttls/> from the server's features to keep the login in plaintext: hacx refuses, and no password ever leaves the machine",
		Rules:  "S1 C3",
		Expect: Expect{Fail: FailAllRoutes, Phases: []dial.Phase{dial.PhaseStartTLS}},
		setup: func(w *World) error {
			return w.publishStartTLSSRV(w.Bed.StrippedStartTLS)
		},
	},
	{
		Name:   "all-routes-dead",
		Story:  "refused, a web server, a mail server and a blackhole: nothing works, and the error lists every attempt",
		Rules:  "C3 C5",
		Expect: Expect{Fail: FailAllRoutes, Phases: []dial.Phase{dial.PhaseTCP, dial.PhaseTLS, dial.PhaseTLS, dial.PhaseTLS}},
		setup: func(w *World) error {
			b := w.Bed
			return w.Publish(60, w.TLSRecord(b.Refused, 1), w.TLSRecord(b.HTTPOnly, 2), w.TLSRecord(b.SMTP, 3), w.TLSRecord(b.Blackholes[0], 4))
		},
	},
}

// Find returns the scenario called name.
func Find(name string) (Scenario, bool) {
	for _, s := range Scenarios {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

func redirect(to string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, to, http.StatusFound)
	})
}

// leaf parses the leaf of a certificate the bed made.
func leaf(c *tls.Certificate) (*x509.Certificate, error) {
	if c == nil || len(c.Certificate) == 0 {
		return nil, errors.New("demo: bed certificate missing")
	}
	l, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("demo: bed certificate: %w", err)
	}
	return l, nil
}

// publishSRV publishes the XEP-0368 fallback: an _xmpps-client SRV
// record for xmpp.DOMAIN at the bed's direct-TLS port, and that host's A
// record.
func (w *World) publishSRV() error {
	return w.Bed.AddDNS(
		fmt.Sprintf("_xmpps-client._tcp.%s. 300 IN SRV 0 0 %d xmpp.%s.", w.Bed.Domain, w.Bed.TLS.Port(), w.Bed.Domain),
		fmt.Sprintf("xmpp.%s. 300 IN A %s", w.Bed.Domain, w.Bed.TLS.Addr()),
	)
}

// publishStartTLSSRV publishes only what most services publish: an
// _xmpp-client SRV record for xmpp.DOMAIN at addr's port, and that host's
// A record (X1).
func (w *World) publishStartTLSSRV(addr netip.AddrPort) error {
	return w.Bed.AddDNS(
		fmt.Sprintf("_xmpp-client._tcp.%s. 300 IN SRV 0 0 %d xmpp.%s.", w.Bed.Domain, addr.Port(), w.Bed.Domain),
		fmt.Sprintf("xmpp.%s. 300 IN A %s", w.Bed.Domain, addr.Addr()),
	)
}

// TLSRecord is a direct-TLS record to addr (SNI = domain, ALPN
// xmpp-client, XEP-0368 style).
func (w *World) TLSRecord(addr netip.AddrPort, prio uint16) hacx.Record {
	return hacx.Record{
		Method: hacx.MethodTLS, IP: addr.Addr(), Port: addr.Port(), Priority: prio,
		SNI: w.Bed.Domain, HasSNI: true, ALPN: []byte("xmpp-client"),
	}
}

// WSRecord is a record for the bed's good WebSocket endpoint.
func (w *World) WSRecord(prio uint16) hacx.Record {
	a := w.Bed.WebSocket
	return hacx.Record{Method: hacx.MethodWebSocket, IP: a.Addr(), Port: a.Port(), Priority: prio,
		SNI: w.Bed.Domain, HasSNI: true, URL: w.Bed.WebSocketURL}
}

// BOSHRecord is a record for the bed's good BOSH endpoint.
func (w *World) BOSHRecord(prio uint16) hacx.Record {
	a := w.Bed.BOSH
	return hacx.Record{Method: hacx.MethodBOSH, IP: a.Addr(), Port: a.Port(), Priority: prio,
		SNI: w.Bed.Domain, HasSNI: true, URL: w.Bed.BOSHURL}
}

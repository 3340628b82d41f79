package dnssec_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"hacx.dev/hacx/dnssec"
	"hacx.dev/hacx/internal/testbed"
)

// tlsaRecord is the TLSA data every test name publishes.
const tlsaRecord = "3 1 1 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// world is a signed DNS tree made at test time: the root ".", "test."
// and below it a zone per case, served by an in-process Authority (nsd
// serves the same zones in the integration tests). Its own root key is
// the trust anchor.
type world struct {
	auth    *testbed.Authority
	zones   map[string]*testbed.Zone
	signed  map[string][]dns.RR
	anchors []dns.RR
}

// zoneCase is one zone below test. and how it is delegated or broken.
type zoneCase struct {
	name    string
	alg     uint8
	nsec3   bool
	optOut  bool
	iter    uint16
	zsk     bool                    // a separate zone-signing key (the DS names the key-signing key)
	noDS    bool                    // unsigned delegation (the zone itself is not signed)
	wrongDS bool                    // the DS names another key
	tamper  func([]dns.RR) []dns.RR // applied to the signed zone
	records []string
}

var worldOnce sync.Once
var sharedWorld *world
var worldErr error

// newWorld builds the tree once per test binary: key generation (RSA
// especially) is the slow part, and no test changes the zones.
func newWorld(t testing.TB) *world {
	t.Helper()
	worldOnce.Do(func() { sharedWorld, worldErr = buildWorld(defaultCases()) })
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return sharedWorld
}

func defaultCases() []zoneCase {
	return []zoneCase{
		{name: "example.test.", zsk: true, records: []string{
			"_443._tcp.example.test. 300 IN TLSA " + tlsaRecord,
			"_5223._tcp.example.test. 300 IN TLSA " + tlsaRecord,
			"xmpp.example.test. 300 IN A 127.0.0.7",
			"xmpp.example.test. 300 IN AAAA ::1",
			"_xmpps-client._tcp.example.test. 300 IN SRV 1 0 5223 xmpp.example.test.",
			"www.example.test. 300 IN CNAME xmpp.nsec3.test.",
			"*.wild.example.test. 300 IN A 127.0.0.8",
			"_443._tcp.forged.example.test. 300 IN TLSA " + tlsaRecord,
			"_443._tcp.badsig.example.test. 300 IN TLSA " + tlsaRecord,
			"_443._tcp.expired.example.test. 300 IN TLSA " + tlsaRecord,
			"sub.example.test. 300 IN NS ns.sub.example.test.", // unsigned delegation inside a signed zone
		}, tamper: breakExample},
		{name: "nsec3.test.", nsec3: true, records: []string{
			"_443._tcp.nsec3.test. 300 IN TLSA " + tlsaRecord,
			"xmpp.nsec3.test. 300 IN A 127.0.0.9",
			"a.b.c.nsec3.test. 300 IN A 127.0.0.10",
			"*.wild.nsec3.test. 300 IN A 127.0.0.11",
		}},
		{name: "optout.test.", nsec3: true, optOut: true, records: []string{
			"xmpp.optout.test. 300 IN A 127.0.0.12",
			"unsigned.optout.test. 300 IN NS ns.unsigned.optout.test.",
		}},
		{name: "manyiter.test.", nsec3: true, iter: 150, records: []string{"xmpp.manyiter.test. 300 IN A 127.0.0.13"}},
		{name: "unsigned.test.", noDS: true, records: []string{
			"_443._tcp.unsigned.test. 300 IN TLSA " + tlsaRecord,
			"xmpp.unsigned.test. 300 IN A 127.0.0.14",
		}},
		{name: "wrongds.test.", wrongDS: true, records: []string{"_443._tcp.wrongds.test. 300 IN TLSA " + tlsaRecord}},
		{name: "nokey.test.", records: []string{"_443._tcp.nokey.test. 300 IN TLSA " + tlsaRecord}, tamper: dropType(dns.TypeDNSKEY)},
		{name: "sha1.test.", alg: dns.RSASHA1, records: []string{"_443._tcp.sha1.test. 300 IN TLSA " + tlsaRecord}},
		{name: "rsa.test.", alg: dns.RSASHA256, records: []string{"_443._tcp.rsa.test. 300 IN TLSA " + tlsaRecord}},
		{name: "p384.test.", alg: dns.ECDSAP384SHA384, records: []string{"_443._tcp.p384.test. 300 IN TLSA " + tlsaRecord}},
		{name: "ed25519.test.", alg: dns.ED25519, records: []string{"_443._tcp.ed25519.test. 300 IN TLSA " + tlsaRecord}},
	}
}

// breakExample makes the bogus cases of example.test: a TLSA set whose
// signature is gone (as a forger without the key would serve it), one
// altered after signing, one signed over a period that ended a day ago.
func breakExample(rrs []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		name := rr.Header().Name
		switch {
		case strings.HasPrefix(name, "_443._tcp.forged.") && rr.Header().Rrtype == dns.TypeRRSIG && rr.(*dns.RRSIG).TypeCovered == dns.TypeTLSA:
			continue
		case strings.HasPrefix(name, "_443._tcp.badsig.") && rr.Header().Rrtype == dns.TypeTLSA:
			t := dns.Copy(rr).(*dns.TLSA)
			t.Certificate = strings.Repeat("ab", 32)
			rr = t
		}
		out = append(out, rr)
	}
	return out
}

func dropType(t uint16) func([]dns.RR) []dns.RR {
	return func(rrs []dns.RR) []dns.RR {
		var out []dns.RR
		for _, rr := range rrs {
			if rr.Header().Rrtype == t {
				continue
			}
			if s, ok := rr.(*dns.RRSIG); ok && s.TypeCovered == t {
				continue
			}
			out = append(out, rr)
		}
		return out
	}
}

func buildWorld(cases []zoneCase) (*world, error) {
	w := &world{auth: testbed.NewAuthority(), zones: map[string]*testbed.Zone{}, signed: map[string][]dns.RR{}}
	root, err := testbed.NewZone(".", 0)
	if err != nil {
		return nil, err
	}
	tld, err := testbed.NewZone("test.", 0)
	if err != nil {
		return nil, err
	}
	other, err := testbed.NewZone("other.test.", 0) // a key no DS names
	if err != nil {
		return nil, err
	}
	if err := root.AddZSK(); err != nil { // the root's keys are split, as the real root's are
		return nil, err
	}
	w.zones["."], w.zones["test."] = root, tld
	if err := root.Delegate("test.", tld.DS()); err != nil {
		return nil, err
	}
	for _, c := range cases {
		z, err := testbed.NewZone(c.name, c.alg)
		if err != nil {
			return nil, err
		}
		z.NSEC3, z.OptOut, z.Iterations = c.nsec3, c.optOut, c.iter
		if c.zsk {
			if err := z.AddZSK(); err != nil {
				return nil, err
			}
		}
		if err := z.Add(c.records...); err != nil {
			return nil, err
		}
		switch {
		case c.noDS:
			err = tld.Delegate(c.name)
		case c.wrongDS:
			err = tld.Delegate(c.name, other.DS())
		default:
			err = tld.Delegate(c.name, z.DS())
		}
		if err != nil {
			return nil, err
		}
		rrs, err := z.Signed()
		if err != nil {
			return nil, err
		}
		if c.noDS {
			rrs = unsignedCopy(rrs)
		}
		if c.tamper != nil {
			rrs = c.tamper(rrs)
		}
		if c.name == "example.test." {
			// The expired signature: re-signed over a period that
			// ended a day ago (beyond the hour of skew allowed).
			rrs, err = resignExpired(z, rrs, "_443._tcp.expired.example.test.")
			if err != nil {
				return nil, err
			}
		}
		w.zones[c.name] = z
		w.signed[c.name] = rrs
		w.auth.SetZone(c.name, rrs)
	}
	for _, z := range []*testbed.Zone{root, tld} {
		rrs, err := z.Signed()
		if err != nil {
			return nil, err
		}
		w.signed[z.Origin] = rrs
		w.auth.SetZone(z.Origin, rrs)
	}
	w.anchors = []dns.RR{root.DS()}
	return w, nil
}

// unsignedCopy is a signed zone's data without any DNSSEC record: what an
// unsigned zone serves.
func unsignedCopy(rrs []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		switch rr.Header().Rrtype {
		case dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3, dns.TypeNSEC3PARAM, dns.TypeDNSKEY:
			continue
		}
		out = append(out, rr)
	}
	return out
}

func resignExpired(z *testbed.Zone, rrs []dns.RR, name string) ([]dns.RR, error) {
	var set, out []dns.RR
	for _, rr := range rrs {
		if rr.Header().Name == name {
			if s, ok := rr.(*dns.RRSIG); ok && s.TypeCovered == dns.TypeTLSA {
				continue
			}
			if rr.Header().Rrtype == dns.TypeTLSA {
				set = append(set, rr)
			}
		}
		out = append(out, rr)
	}
	sig, err := z.SignRRset(set, time.Now().Add(-10*24*time.Hour), time.Now().Add(-24*time.Hour))
	if err != nil {
		return nil, err
	}
	return append(out, sig), nil
}

// validator is a Validator over the world's authority, anchored at its root.
func (w *world) validator() *dnssec.Validator {
	return &dnssec.Validator{Exchanger: w.auth, Anchors: w.anchors}
}

// counting counts the queries an Exchanger answers.
type counting struct {
	dnssec.Exchanger
	mu sync.Mutex
	n  int
}

func (c *counting) Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.Exchanger.Exchange(ctx, m)
}

func (c *counting) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// rewriting applies f to every answer of an Exchanger: a man in the
// middle between validator and server.
type rewriting struct {
	dnssec.Exchanger
	f func(q dns.Question, r *dns.Msg)
}

func (x rewriting) Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	r, err := x.Exchanger.Exchange(ctx, m)
	if err == nil {
		x.f(m.Question[0], r)
	}
	return r, err
}

func lookup(t testing.TB, v *dnssec.Validator, name string, qtype uint16) *dnssec.Answer {
	t.Helper()
	a, err := v.Lookup(context.Background(), name, qtype)
	if err != nil {
		t.Fatalf("Lookup %s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return a
}

func describe(a *dnssec.Answer) string {
	return fmt.Sprintf("%s %s: %s (%s), rcode %s, %d records", a.Name, dns.TypeToString[a.Type], a.Security, a.Reason, dns.RcodeToString[a.Rcode], len(a.Records))
}

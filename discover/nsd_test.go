package discover

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"hacx.dev/hacx"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/internal/testenv"
	"hacx.dev/hacx/trust"
)

// nsdWorld is the world of world_test.go whose DNS is a signed tree made
// at test time and served by a real authoritative server (Debian's nsd):
// the root ".", "test." and below it
//
//   - example.test. (NSEC): a TLSA set for the self-signed key of
//     example.test, signed (secure); plain.example.test has no TLSA
//     (denied by NSEC); forged., badsig. and expired.example.test have
//     TLSA sets served without signature, altered after signing, and
//     signed over a period that ended yesterday (bogus); an SRV set
//     served without signature (bogus);
//   - nsec3.test. (NSEC3): no TLSA (denied by NSEC3);
//   - unsigned.test.: delegated without DS (insecure);
//   - wrongds.test.: delegated with a DS of another key (bogus);
//   - nokey.test.: signed, but served without its DNSKEY set (bogus).
//
// The Resolver validates in process from the test root's key alone.
type nsdWorld struct {
	*world
	nsd    *testbed.NSD
	anchor dns.RR
}

func newNSDWorld(t testing.TB) (*nsdWorld, []byte) {
	t.Helper()
	testenv.Require(t, testbed.NSDAvailable())
	w := newWorld(t)
	self, err := hacxtest.SelfSigned("example.test")
	if err != nil {
		t.Fatal(err)
	}
	w.serveCert(files{"/.well-known/xmpp-client.xml": docA}, self, "example.test")
	for _, h := range []string{"plain.example.test", "forged.example.test", "badsig.example.test", "expired.example.test",
		"nsec3.test", "unsigned.test", "wrongds.test", "nokey.test"} {
		w.serve(files{"/.well-known/xmpp-client.xml": docA}, []string{h}, h)
	}
	spki := sha256.Sum256(self.Leaf.RawSubjectPublicKeyInfo)
	good := "3 1 1 " + hex.EncodeToString(spki[:])
	other := "3 1 1 " + strings.Repeat("ab", 32)

	mk := func(origin string) *testbed.Zone {
		z, err := testbed.NewZone(origin, 0)
		if err != nil {
			t.Fatal(err)
		}
		return z
	}
	root, tld, example, nsec3, unsigned, wrongds, nokey, stranger := mk("."), mk("test."), mk("example.test."),
		mk("nsec3.test."), mk("unsigned.test."), mk("wrongds.test."), mk("nokey.test."), mk("stranger.test.")
	nsec3.NSEC3 = true
	add := func(z *testbed.Zone, rrs ...string) {
		if err := z.Add(rrs...); err != nil {
			t.Fatal(err)
		}
	}
	add(example, "_443._tcp.example.test. 60 IN TLSA "+good,
		"plain.example.test. 60 IN A 127.0.0.1",
		"_443._tcp.forged.example.test. 60 IN TLSA "+other,
		"_443._tcp.badsig.example.test. 60 IN TLSA "+other,
		"_443._tcp.expired.example.test. 60 IN TLSA "+other,
		"_xmpps-client._tcp.example.test. 60 IN SRV 1 0 5223 xmpp.example.test.",
		"xmpp.example.test. 60 IN A 127.0.0.5")
	add(nsec3, "nsec3.test. 60 IN A 127.0.0.1")
	add(unsigned, "_443._tcp.unsigned.test. 60 IN TLSA "+other)
	add(wrongds, "_443._tcp.wrongds.test. 60 IN TLSA "+other)
	add(nokey, "_443._tcp.nokey.test. 60 IN TLSA "+other)
	delegate := func(parent *testbed.Zone, child string, ds ...*dns.DS) {
		if err := parent.Delegate(child, ds...); err != nil {
			t.Fatal(err)
		}
	}
	delegate(root, "test.", tld.DS())
	delegate(tld, "example.test.", example.DS())
	delegate(tld, "nsec3.test.", nsec3.DS())
	delegate(tld, "unsigned.test.")
	delegate(tld, "wrongds.test.", stranger.DS())
	delegate(tld, "nokey.test.", nokey.DS())

	signed := func(z *testbed.Zone) []dns.RR {
		rrs, err := z.Signed()
		if err != nil {
			t.Fatal(err)
		}
		return rrs
	}
	exRRs := signed(example)
	var ex []dns.RR
	for _, rr := range exRRs {
		name, typ := rr.Header().Name, rr.Header().Rrtype
		sig, isSig := rr.(*dns.RRSIG)
		switch {
		case isSig && name == "_443._tcp.forged.example.test." && sig.TypeCovered == dns.TypeTLSA,
			isSig && name == "_xmpps-client._tcp.example.test." && sig.TypeCovered == dns.TypeSRV,
			isSig && name == "_443._tcp.expired.example.test." && sig.TypeCovered == dns.TypeTLSA:
			continue // a forger has no signature to give
		case name == "_443._tcp.badsig.example.test." && typ == dns.TypeTLSA:
			c := dns.Copy(rr).(*dns.TLSA)
			c.Certificate = strings.Repeat("cd", 32)
			rr = c
		case name == "_443._tcp.expired.example.test." && typ == dns.TypeTLSA:
			s, err := example.SignRRset([]dns.RR{rr}, time.Now().Add(-10*24*time.Hour), time.Now().Add(-24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			ex = append(ex, s)
		}
		ex = append(ex, rr)
	}
	var unsignedRRs []dns.RR
	for _, rr := range signed(unsigned) {
		switch rr.Header().Rrtype {
		case dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3, dns.TypeDNSKEY:
			continue
		}
		unsignedRRs = append(unsignedRRs, rr)
	}
	var nokeyRRs []dns.RR
	for _, rr := range signed(nokey) {
		if s, ok := rr.(*dns.RRSIG); rr.Header().Rrtype == dns.TypeDNSKEY || ok && s.TypeCovered == dns.TypeDNSKEY {
			continue
		}
		nokeyRRs = append(nokeyRRs, rr)
	}
	zones := map[string]string{
		".": testbed.Text(signed(root)), "test.": testbed.Text(signed(tld)), "example.test.": testbed.Text(ex),
		"nsec3.test.": testbed.Text(signed(nsec3)), "unsigned.test.": testbed.Text(unsignedRRs),
		"wrongds.test.": testbed.Text(signed(wrongds)), "nokey.test.": testbed.Text(nokeyRRs),
	}
	n, err := testbed.StartNSD(t.Context(), zones)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("nsd log:\n%s", n.Log())
		}
		n.Close()
	})
	return &nsdWorld{world: w, nsd: n, anchor: root.DS()}, self.Leaf.RawSubjectPublicKeyInfo
}

// resolver validates in process, asking nsd, from the test root's key.
func (w *nsdWorld) resolver() *Resolver {
	r := w.world.resolver()
	r.DNSServer = w.nsd.Addr
	r.TrustAnchors = []dns.RR{w.anchor}
	return r
}

func TestNSD_DNSSECValidation_D1(t *testing.T) {
	w, _ := newNSDWorld(t)
	ctx := context.Background()

	// Secure: DANE-EE authenticates a certificate no CA issued (RFC 7671).
	t.Run("SecureTLSAAccepted", func(t *testing.T) {
		recs, secure, err := w.resolver().LookupTLSA(ctx, "example.test", 443)
		if err != nil || len(recs) != 1 || !secure {
			t.Fatalf("recs %d secure %v err %v", len(recs), secure, err)
		}
		res, err := lookupNever(t, w.resolver(), "example.test")
		if err != nil {
			t.Fatal(err)
		}
		if sr := res.Sources[0]; sr.DANE != "verified" || !strings.Contains(sr.DNSSEC, "_443._tcp.example.test TLSA: secure") {
			t.Errorf("DANE %q DNSSEC %q", sr.DANE, sr.DNSSEC)
		}
	})

	// Bogus: the fetch is refused although WebPKI would accept the
	// certificate (X4: RFC 6698 section 4.1; D1).
	for _, tt := range []struct{ host, reason string }{
		{"forged.example.test", "no signature"},
		{"badsig.example.test", "does not verify"},
		{"expired.example.test", "expired"},
		{"wrongds.test", "matches its DS"},
		{"nokey.test", "no signed DNSKEY"},
	} {
		t.Run("BogusRefused/"+tt.host, func(t *testing.T) {
			recs, secure, err := w.resolver().LookupTLSA(ctx, tt.host, 443)
			if !errors.Is(err, trust.ErrBogus) || secure || len(recs) != 0 || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("recs %d secure %v err %v; want bogus, %q", len(recs), secure, err, tt.reason)
			}
			_, err = lookupNever(t, w.resolver(), tt.host)
			var te *TLSError
			if !errors.As(err, &te) || te.Check != "dane" || !errors.Is(err, trust.ErrBogus) {
				t.Fatalf("err = %v, want a dane TLSError wrapping trust.ErrBogus", err)
			}
		})
	}

	// Denied by NSEC and by NSEC3: no DANE, WebPKI decides.
	for _, host := range []string{"plain.example.test", "nsec3.test"} {
		t.Run("DeniedNoDANE/"+host, func(t *testing.T) {
			recs, secure, err := w.resolver().LookupTLSA(ctx, host, 443)
			if err != nil || len(recs) != 0 || !secure {
				t.Fatalf("recs %d secure %v err %v, want a secure denial", len(recs), secure, err)
			}
			res, err := lookupNever(t, w.resolver(), host)
			if err != nil {
				t.Fatal(err)
			}
			if sr := res.Sources[0]; sr.DANE != "no-tlsa" || !strings.Contains(sr.DNSSEC, "TLSA: secure") {
				t.Errorf("DANE %q DNSSEC %q", sr.DANE, sr.DNSSEC)
			}
		})
	}

	// Insecure: an unsigned delegation; its TLSA record (which would not
	// match) is ignored and WebPKI decides.
	t.Run("InsecureDelegation", func(t *testing.T) {
		recs, secure, err := w.resolver().LookupTLSA(ctx, "unsigned.test", 443)
		if err != nil || len(recs) != 1 || secure {
			t.Fatalf("recs %d secure %v err %v, want 1 insecure record", len(recs), secure, err)
		}
		res, err := lookupNever(t, w.resolver(), "unsigned.test")
		if err != nil {
			t.Fatal(err)
		}
		if sr := res.Sources[0]; sr.DANE != "unsigned" || !strings.Contains(sr.DNSSEC, "TLSA: insecure (zone unsigned.test. is delegated from test. without DS") {
			t.Errorf("DANE %q DNSSEC %q", sr.DANE, sr.DNSSEC)
		}
	})

	// An SRV answer without its signature in a signed zone is ignored,
	// and the source says why (D1).
	t.Run("BogusSRVIgnored", func(t *testing.T) {
		r := w.resolver()
		r.Fallback = FallbackAlways
		res, _ := r.Lookup(ctx, "example.test", hacx.Client)
		for _, sr := range res.Sources {
			if sr.Source != hacx.SourceSRV || !strings.HasPrefix(sr.Query, "_xmpps-client") {
				continue
			}
			if sr.Status != StatusError || sr.Routes != 0 || !strings.Contains(sr.Note, "SRV answer ignored") ||
				!strings.Contains(sr.DNSSEC, "SRV: bogus") || !errors.Is(sr.Err, trust.ErrBogus) {
				t.Errorf("SRV source %+v", sr)
			}
			return
		}
		t.Errorf("no _xmpps-client SRV source in %+v", res.Sources)
	})
}

// TestNSD_CachedLookupMakesNoDNSQuery: a lookup and the TLSA lookups of a
// dial answered from the cache directory make no DNS query at all: a
// new Resolver (a new run of hacx) over the same DirCache, whose DNS
// server cannot be reached, gets the same secure answers, validated again.
func TestNSD_CachedLookupMakesNoDNSQuery_D1(t *testing.T) {
	w, _ := newNSDWorld(t)
	ctx := context.Background()
	dir := DirCache(t.TempDir())
	first := w.resolver()
	first.Cache, first.Fallback = dir, FallbackAlways
	res, err := first.Lookup(ctx, "example.test", hacx.Client)
	if err != nil {
		t.Fatal(err)
	}
	if _, secure, err := first.LookupTLSA(ctx, "xmpp.example.test", 5223); err != nil || !secure {
		t.Fatalf("TLSA: secure %v err %v", secure, err)
	}

	dead, err := loopback.RefusedAddr("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	again := w.resolver()
	again.Cache, again.Fallback, again.DNSServer = dir, FallbackAlways, dead.String()
	res2, err := again.Lookup(ctx, "example.test", hacx.Client)
	if err != nil {
		t.Fatal(err)
	}
	if len(res2.Routes) != len(res.Routes) {
		t.Errorf("routes %v from the cache, %v before", res2.Routes, res.Routes)
	}
	for _, sr := range res2.Sources {
		if sr.Source == hacx.SourceSRV && strings.HasPrefix(sr.Query, "_xmpp-client") && (!sr.Cached || sr.Err != nil || !strings.Contains(sr.DNSSEC, "secure")) {
			t.Errorf("SRV source from the cache: %+v", sr)
		}
	}
	recs, secure, err := again.LookupTLSA(ctx, "xmpp.example.test", 5223)
	if err != nil || !secure || len(recs) != 0 {
		t.Fatalf("TLSA from the cache: %d records, secure %v, err %v", len(recs), secure, err)
	}
	// The control: a name never asked needs the (unreachable) server.
	if _, _, err := again.LookupTLSA(ctx, "plain.example.test", 5223); err == nil {
		t.Error("a lookup that was never cached succeeded without a DNS server: the test proves nothing")
	}
}

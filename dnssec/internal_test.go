package dnssec

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// RFC 4034 section 6.1 gives this list in canonical order.
func TestCanonicalOrder_RFC4034(t *testing.T) {
	names := []string{"example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.",
		"zABC.a.EXAMPLE.", "z.example.", "\\001.z.example.", "*.z.example.", "\\200.z.example."}
	for i := 0; i+1 < len(names); i++ {
		if canonicalCompare(names[i], names[i+1]) >= 0 {
			t.Errorf("%s should sort before %s", names[i], names[i+1])
		}
		if canonicalCompare(names[i+1], names[i]) <= 0 {
			t.Errorf("%s should sort after %s", names[i+1], names[i])
		}
	}
	if canonicalCompare("A.Example.", "a.example.") != 0 {
		t.Error("case matters in canonical order")
	}
}

func TestSerialTime_RFC1982(t *testing.T) {
	now := time.Date(2106, 3, 1, 0, 0, 0, 0, time.UTC).Unix() // past 2^32 seconds
	for _, d := range []int64{0, 3600, -3600, 1 << 30, -(1 << 30)} {
		if got := serialTime(uint32(now+d), now); got != now+d {
			t.Errorf("offset %d: got %d, want %d", d, got-now, d)
		}
	}
}

func TestNames(t *testing.T) {
	if got := below("test.", "a.b.test."); strings.Join(got, " ") != "b.test. a.b.test." {
		t.Errorf("below = %v", got)
	}
	if got := below(".", "test."); strings.Join(got, " ") != "test." {
		t.Errorf("below root = %v", got)
	}
	if got := ancestorAt("a.b.c.test.", 2); got != "c.test." {
		t.Errorf("ancestorAt = %q", got)
	}
	if got := commonAncestor("a.b.test.", "c.b.test."); got != "b.test." {
		t.Errorf("commonAncestor = %q", got)
	}
	if parentName(".") != "." || parentName("test.") != "." || parentName("a.test.") != "test." {
		t.Error("parentName")
	}
}

// KeyTrap (CVE-2023-50387): an RRset with many signatures, all naming a
// key that exists, costs a bounded number of verifications, and a
// lookup that has spent its budget stops.
func TestVerifyRRset_BoundedWork(t *testing.T) {
	k := &dns.DNSKEY{Hdr: dns.RR_Header{Name: "example.", Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 300},
		Flags: dns.ZONE | dns.SEP, Protocol: 3, Algorithm: dns.ECDSAP256SHA256}
	if _, err := k.Generate(256); err != nil {
		t.Fatal(err)
	}
	a, _ := dns.NewRR("www.example. 300 IN A 192.0.2.1")
	now := time.Now()
	var sigs []*dns.RRSIG
	for range 50 {
		sigs = append(sigs, &dns.RRSIG{Hdr: dns.RR_Header{Name: "www.example.", Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: 300},
			TypeCovered: dns.TypeA, Algorithm: k.Algorithm, Labels: 2, OrigTtl: 300, KeyTag: k.KeyTag(), SignerName: "example.",
			Inception: uint32(now.Add(-time.Hour).Unix()), Expiration: uint32(now.Add(time.Hour).Unix()),
			Signature: strings.Repeat("A", 86) + "=="})
	}
	zs := &zoneState{name: "example.", sec: Secure, keys: []*dns.DNSKEY{k, k, k, k, k, k}}
	zs.tags = keyTags(zs.keys)
	l := &lookup{v: &Validator{}, now: now}
	if _, err := l.verifyRRset([]dns.RR{a}, sigs, zs); err == nil {
		t.Fatal("garbage signatures verified")
	}
	if want := maxSigsPerRRset * maxKeyTries; l.verifications != want {
		t.Errorf("%d verifications, want at most %d", l.verifications, want)
	}
	l.verifications = maxVerifications
	if _, err := l.verifyRRset([]dns.RR{a}, sigs, zs); !errors.Is(err, errBudget) {
		t.Errorf("over budget: %v", err)
	}
}

func TestAnswerTTL_RFC2308(t *testing.T) {
	c := &Cache{}
	now := time.Now()
	mk := func(rcode int, rrs ...string) *dns.Msg {
		m := new(dns.Msg)
		m.Rcode = rcode
		for _, s := range rrs {
			rr, err := dns.NewRR(s)
			if err != nil {
				t.Fatal(err)
			}
			if rcode == dns.RcodeSuccess && !strings.Contains(s, "SOA") {
				m.Answer = append(m.Answer, rr)
			} else {
				m.Ns = append(m.Ns, rr)
			}
		}
		return m
	}
	exp := time.Now().Add(10 * time.Minute).UTC().Format("20060102150405")
	for _, tt := range []struct {
		m    *dns.Msg
		want time.Duration
	}{
		{mk(dns.RcodeSuccess, "a. 300 IN A 192.0.2.1", "a. 200 IN A 192.0.2.2"), 200 * time.Second},
		{mk(dns.RcodeNameError, "a. 3600 IN SOA ns. h. 1 2 3 4 60"), 60 * time.Second},
		{mk(dns.RcodeNameError), 0}, // no SOA: not cached
		{mk(dns.RcodeServerFailure), 0},
		{mk(dns.RcodeSuccess, "a. 3600 IN A 192.0.2.1", "a. 3600 IN RRSIG A 13 1 3600 "+exp+" 20200101000000 1 a. AAAA"), 10 * time.Minute},
		{mk(dns.RcodeSuccess, "a. 999999 IN A 192.0.2.1"), DefaultMaxTTL},
	} {
		if got := c.answerTTL(tt.m, now); got < tt.want-2*time.Second || got > tt.want {
			t.Errorf("%v: TTL %v, want %v", tt.m, got, tt.want)
		}
	}
}

func TestPadding_RFC8467(t *testing.T) {
	for _, name := range []string{"a.", "_5223._tcp.a-much-longer-name.example.org."} {
		m := newQuery(name, dns.TypeTLSA, true)
		p := padded(m)
		wire, err := p.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if len(wire)%padBlock != 0 {
			t.Errorf("%s: padded to %d bytes", name, len(wire))
		}
		if m.IsEdns0().Option != nil {
			t.Error("padded changed the query it was given")
		}
	}
}

func TestValidator_NoExchanger(t *testing.T) {
	if _, err := (&Validator{}).Lookup(context.Background(), "a.", dns.TypeA); err == nil {
		t.Error("no error")
	}
}

// An answer is remembered no longer than its records' TTL, even when the
// keys that proved (or the delegation that unsigned) it live longer.
func TestLookup_RememberedForTheAnswerTTL(t *testing.T) {
	now := time.Now()
	l := &lookup{now: now}
	m := new(dns.Msg)
	a, _ := dns.NewRR("a. 5 IN A 192.0.2.1")
	m.Answer = []dns.RR{a}
	l.expireBy(now.Add(time.Hour))
	l.expireByTTL(m)
	if got := l.expires.Sub(now); got != 5*time.Second {
		t.Errorf("remembered for %v, want 5s", got)
	}
	l = &lookup{now: now}
	soa, _ := dns.NewRR("a. 300 IN SOA ns. h. 1 2 3 4 30")
	m = &dns.Msg{Ns: []dns.RR{soa}}
	l.expireByTTL(m)
	if got := l.expires.Sub(now); got != 30*time.Second {
		t.Errorf("denial remembered for %v, want 30s (SOA minimum)", got)
	}
}

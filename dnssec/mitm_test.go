package dnssec_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"hacx.dev/hacx/dnssec"
)

// An attacker between the validator and the server (or a lying server)
// rewrites answers. Whatever it does, the result is never Secure with
// data the zone did not sign (D1, X4).

func mitm(w *world, f func(q dns.Question, r *dns.Msg)) *dnssec.Validator {
	return &dnssec.Validator{Exchanger: rewriting{w.auth, f}, Anchors: w.anchors}
}

func TestMITM_ChangedRecordIsBogus_D1(t *testing.T) {
	w := newWorld(t)
	v := mitm(w, func(q dns.Question, r *dns.Msg) {
		for _, rr := range r.Answer {
			if tl, ok := rr.(*dns.TLSA); ok {
				tl.Certificate = strings.Repeat("00", 32)
			}
		}
	})
	a := lookup(t, v, "_443._tcp.example.test.", dns.TypeTLSA)
	if a.Security != dnssec.Bogus || len(a.Records) != 0 || !strings.Contains(a.Reason, "does not verify") {
		t.Fatal(describe(a))
	}
}

func TestMITM_DenialWithoutProofIsBogus_D1(t *testing.T) {
	w := newWorld(t)
	for _, keep := range []string{"nothing", "soa", "unrelated NSEC"} {
		t.Run(keep, func(t *testing.T) {
			// A genuine NSEC of the zone that proves nothing about the name.
			other := w.auth.Answer(dnssec.NewQuery("xmpp.example.test.", dns.TypeTLSA, true))
			v := mitm(w, func(q dns.Question, r *dns.Msg) {
				if q.Qtype != dns.TypeTLSA {
					return
				}
				r.Answer, r.Rcode = nil, dns.RcodeNameError
				switch keep {
				case "nothing":
					r.Ns = nil
				case "soa":
					r.Ns = rrsetWithSigs(other.Ns, dns.TypeSOA)
				default:
					r.Ns = other.Ns
				}
			})
			a := lookup(t, v, "_443._tcp.example.test.", dns.TypeTLSA)
			if a.Security != dnssec.Bogus {
				t.Fatal(describe(a))
			}
		})
	}
}

func TestMITM_UnsignedDelegationClaimIsBogus_D1(t *testing.T) {
	w := newWorld(t)
	// "example.test has no DS": the downgrade to insecure a forger wants.
	v := mitm(w, func(q dns.Question, r *dns.Msg) {
		if q.Qtype == dns.TypeDS && q.Name == "example.test." {
			r.Answer = nil
			r.Ns = rrsetWithSigs(r.Ns, dns.TypeSOA)
		}
	})
	a := lookup(t, v, "_443._tcp.example.test.", dns.TypeTLSA)
	if a.Security != dnssec.Bogus || !strings.Contains(a.Reason, "no DS at example.test") {
		t.Fatal(describe(a))
	}
}

func TestMITM_WildcardWithoutProofIsBogus_D1(t *testing.T) {
	w := newWorld(t)
	for _, zone := range []string{"example.test.", "nsec3.test."} {
		v := mitm(w, func(q dns.Question, r *dns.Msg) {
			if q.Qtype == dns.TypeA {
				r.Ns = nil // the proof that x.wild does not exist
			}
		})
		a := lookup(t, v, "x.wild."+zone, dns.TypeA)
		if a.Security != dnssec.Bogus || !strings.Contains(a.Reason, "wildcard") {
			t.Errorf("%s: %s", zone, describe(a))
		}
	}
}

func TestMITM_ForgedCNAMENotFollowed_D1(t *testing.T) {
	w := newWorld(t)
	v := mitm(w, func(q dns.Question, r *dns.Msg) {
		if q.Name == "_443._tcp.example.test." {
			cn, _ := dns.NewRR("_443._tcp.example.test. 300 IN CNAME _443._tcp.unsigned.test.")
			r.Answer = []dns.RR{cn}
		}
	})
	a := lookup(t, v, "_443._tcp.example.test.", dns.TypeTLSA)
	if a.Security != dnssec.Bogus || len(a.CNAMEs) != 0 || len(a.Records) != 0 {
		t.Fatal(describe(a), a.CNAMEs)
	}
}

// A server that strips every DNSSEC record (a resolver or middlebox that
// does not pass them): nothing can be proven, and the data is still
// handed out, as for an unsigned zone (the D1 decision).
func TestStrippedDNSSEC_Indeterminate_D1(t *testing.T) {
	w := newWorld(t)
	v := mitm(w, func(q dns.Question, r *dns.Msg) {
		for _, sec := range []*[]dns.RR{&r.Answer, &r.Ns} {
			kept := (*sec)[:0]
			for _, rr := range *sec {
				switch rr.Header().Rrtype {
				case dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3:
					continue
				}
				kept = append(kept, rr)
			}
			*sec = kept
		}
		if q.Qtype == dns.TypeDNSKEY {
			r.Answer = nil
		}
	})
	a := lookup(t, v, "xmpp.example.test.", dns.TypeA)
	if a.Security != dnssec.Indeterminate || len(a.Records) != 1 || !strings.Contains(a.Reason, "no signed DNSKEY set for trust anchor") {
		t.Fatal(describe(a))
	}
}

// The signatures are valid for a day; the skew allowance is an hour.
func TestSignatureValidity_Skew_D1(t *testing.T) {
	w := newWorld(t)
	for _, tt := range []struct {
		offset time.Duration
		want   dnssec.Security
	}{
		{0, dnssec.Secure},
		{-90 * time.Minute, dnssec.Secure},             // before inception, within the skew
		{-3 * time.Hour, dnssec.Bogus},                 // not valid yet
		{24*time.Hour + 30*time.Minute, dnssec.Secure}, // expired, within the skew
		{27 * time.Hour, dnssec.Bogus},                 // expired
	} {
		v := w.validator()
		v.Now = func() time.Time { return time.Now().Add(tt.offset) }
		a := lookup(t, v, "_443._tcp.example.test.", dns.TypeTLSA)
		if a.Security != tt.want {
			t.Errorf("clock %v off: %s, want %s", tt.offset, describe(a), tt.want)
		}
	}
}

func TestTrustAnchor_Mismatch_D1(t *testing.T) {
	w := newWorld(t)
	v := w.validator()
	// Another zone's key as the root anchor: the root's keys match nothing.
	v.Anchors = []dns.RR{w.zones["example.test."].DS()}
	v.Anchors[0].Header().Name = "."
	a := lookup(t, v, "_443._tcp.example.test.", dns.TypeTLSA)
	if a.Security != dnssec.Bogus || !strings.Contains(a.Reason, "trust anchor") {
		t.Fatal(describe(a))
	}
	// An anchor for the zone itself (a DNSKEY one): validation starts
	// there, whatever the root says.
	v = w.validator()
	v.Anchors = []dns.RR{w.zones["nsec3.test."].DNSKEY()}
	a = lookup(t, v, "_443._tcp.nsec3.test.", dns.TypeTLSA)
	if a.Security != dnssec.Secure {
		t.Fatal(describe(a))
	}
	a = lookup(t, v, "_443._tcp.example.test.", dns.TypeTLSA)
	if a.Security != dnssec.Indeterminate || !strings.Contains(a.Reason, "no trust anchor") {
		t.Fatal(describe(a))
	}
}

// A warm lookup makes no query; a new process with the same Store makes
// none either, and validates the stored answers again.
func TestCache_WarmLookupNoQuery_D1(t *testing.T) {
	w := newWorld(t)
	net := &counting{Exchanger: w.auth}
	store := &memStore{m: map[string][]byte{}}
	cache := &dnssec.Cache{Exchanger: net, Store: store, Prefix: "dns-test"}
	v := &dnssec.Validator{Exchanger: cache, Anchors: w.anchors}
	cold := lookup(t, v, "_443._tcp.example.test.", dns.TypeTLSA)
	if cold.Security != dnssec.Secure || cold.Queries == 0 || cold.Queries != net.count() {
		t.Fatalf("cold: %s, %d queries, %d sent", describe(cold), cold.Queries, net.count())
	}
	sent := net.count()
	warm := lookup(t, v, "_443._tcp.example.test.", dns.TypeTLSA)
	if warm.Security != dnssec.Secure || warm.Queries != 0 || net.count() != sent {
		t.Fatalf("warm: %s, %d queries", describe(warm), net.count()-sent)
	}
	// Another name in the same zone needs only its own query: the keys
	// of the chain are known.
	other := lookup(t, v, "xmpp.example.test.", dns.TypeA)
	if other.Security != dnssec.Secure || other.Queries != 1 {
		t.Fatalf("same zone: %s, %d queries", describe(other), other.Queries)
	}
	// Restart: a new Validator and Cache over the same Store.
	v2 := &dnssec.Validator{Exchanger: &dnssec.Cache{Exchanger: net, Store: store, Prefix: "dns-test"}, Anchors: w.anchors}
	sent = net.count()
	again := lookup(t, v2, "_443._tcp.example.test.", dns.TypeTLSA)
	if again.Security != dnssec.Secure || net.count() != sent || again.Queries != 0 {
		t.Fatalf("after restart: %s, %d queries", describe(again), net.count()-sent)
	}
	// A tampered store cannot make anything secure that is not.
	for k, v := range store.m {
		if strings.Contains(k, "TLSA") {
			store.m[k] = []byte(strings.Replace(string(v), "A", "B", 5))
		}
	}
	v3 := &dnssec.Validator{Exchanger: &dnssec.Cache{Exchanger: net, Store: store, Prefix: "dns-test"}, Anchors: w.anchors}
	if a := lookup(t, v3, "_443._tcp.example.test.", dns.TypeTLSA); a.Security == dnssec.Secure && a.Records[0].(*dns.TLSA).Certificate != strings.Split(tlsaRecord, " ")[3] {
		t.Fatalf("tampered store: %s", describe(a))
	}
}

type memStore struct{ m map[string][]byte }

func (s *memStore) Get(_ context.Context, k string) ([]byte, error) {
	if v, ok := s.m[k]; ok {
		return v, nil
	}
	return nil, context.Canceled
}

func (s *memStore) Put(_ context.Context, k string, v []byte) error {
	s.m[k] = append([]byte(nil), v...)
	return nil
}

func rrsetWithSigs(section []dns.RR, t uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range section {
		if rr.Header().Rrtype == t {
			out = append(out, rr)
		} else if s, ok := rr.(*dns.RRSIG); ok && s.TypeCovered == t {
			out = append(out, rr)
		}
	}
	return out
}

package testbed

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestSignedZone_ServesVerifiableSignaturesWithDO(t *testing.T) {
	s, err := NewDNSServer()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	z, err := NewSignedZone(s, "example.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := z.Add("_443._tcp.example.test. 60 IN TLSA 3 1 1 " + strings.Repeat("ab", 32)); err != nil {
		t.Fatal(err)
	}
	if err := z.Add("outside.test. 60 IN A 127.0.0.1"); err == nil {
		t.Error("a name outside the zone was accepted")
	}
	ask := func(name string, qtype uint16, do bool) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.SetEdns0(4096, do)
		r, err := dns.Exchange(m, s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	split := func(m *dns.Msg) (data []dns.RR, sigs []*dns.RRSIG) {
		for _, rr := range m.Answer {
			if sig, ok := rr.(*dns.RRSIG); ok {
				sigs = append(sigs, sig)
			} else {
				data = append(data, rr)
			}
		}
		return data, sigs
	}
	keys, _ := split(ask("example.test.", dns.TypeDNSKEY, true))
	if len(keys) != 1 {
		t.Fatalf("DNSKEY answer: %v", keys)
	}
	key := keys[0].(*dns.DNSKEY)
	if got := strings.Fields(z.TrustAnchor()); len(got) != 6 || got[3] != "13" || got[1] != "DS" {
		t.Errorf("TrustAnchor = %q", z.TrustAnchor())
	}

	data, sigs := split(ask("_443._tcp.example.test.", dns.TypeTLSA, true))
	if len(data) != 1 || len(sigs) != 1 {
		t.Fatalf("with DO: %d records, %d signatures", len(data), len(sigs))
	}
	if err := sigs[0].Verify(key, data); err != nil {
		t.Errorf("RRSIG does not verify: %v", err)
	}
	if _, sigs := split(ask("_443._tcp.example.test.", dns.TypeTLSA, false)); len(sigs) != 0 {
		t.Errorf("signatures sent without the DO bit")
	}

	// After Resign, the old key no longer verifies the served data.
	if err := z.Resign(); err != nil {
		t.Fatal(err)
	}
	data, sigs = split(ask("_443._tcp.example.test.", dns.TypeTLSA, true))
	if len(sigs) != 1 || sigs[0].Verify(key, data) == nil {
		t.Errorf("after Resign: %d signatures, old key still verifies", len(sigs))
	}
	if keys, _ := split(ask("example.test.", dns.TypeDNSKEY, true)); len(keys) != 1 || keys[0].(*dns.DNSKEY).PublicKey == key.PublicKey {
		t.Errorf("after Resign: DNSKEY set %v", keys)
	}
}

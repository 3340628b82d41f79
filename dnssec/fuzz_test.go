package dnssec_test

import (
	"context"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"hacx.dev/hacx/dnssec"
)

type exchangeFunc func(ctx context.Context, m *dns.Msg) (*dns.Msg, error)

func (f exchangeFunc) Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) { return f(ctx, m) }

// FuzzValidator feeds the validator an arbitrary answer (seeded with
// genuine signed answers: positive, NSEC and NSEC3 denials, wildcards,
// delegations, keys) for one question, the rest of the chain being
// genuine. Whatever the answer, validation must not fail badly, a Bogus
// answer hands out no record, and a Secure one only records the zones
// really hold: a forger without the keys gets nothing accepted (D1).
func FuzzValidator(f *testing.F) {
	w := newWorld(f)
	genuine := map[string]bool{}
	for _, rrs := range w.signed {
		for _, rr := range rrs {
			genuine[rdata(rr)] = true
		}
	}
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"_443._tcp.example.test.", dns.TypeTLSA}, {"_443._tcp.nsec3.test.", dns.TypeTLSA},
		{"_443._tcp.xmpp.example.test.", dns.TypeTLSA}, {"_5223._tcp.nsec3.test.", dns.TypeTLSA},
		{"xmpp.nsec3.test.", dns.TypeTLSA}, {"x.wild.nsec3.test.", dns.TypeA}, {"x.wild.example.test.", dns.TypeA},
		{"example.test.", dns.TypeDS}, {"unsigned.test.", dns.TypeDS}, {"unsigned.optout.test.", dns.TypeDS},
		{"example.test.", dns.TypeDNSKEY}, {"www.example.test.", dns.TypeA}, {"_xmpps-client._tcp.example.test.", dns.TypeSRV},
	} {
		wire, err := w.auth.Answer(dnssec.NewQuery(q.name, q.qtype, true)).Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		fake := new(dns.Msg)
		if fake.Unpack(wire) != nil || len(fake.Question) != 1 {
			return
		}
		q := fake.Question[0]
		ex := exchangeFunc(func(_ context.Context, m *dns.Msg) (*dns.Msg, error) {
			if len(m.Question) == 1 && strings.EqualFold(m.Question[0].Name, q.Name) && m.Question[0].Qtype == q.Qtype {
				c := fake.Copy()
				c.Id = m.Id
				return c, nil
			}
			return w.auth.Answer(m), nil
		})
		v := &dnssec.Validator{Exchanger: ex, Anchors: w.anchors}
		a, err := v.Lookup(context.Background(), q.Name, q.Qtype)
		if err != nil {
			return
		}
		switch a.Security {
		case dnssec.Bogus:
			if len(a.Records) != 0 {
				t.Fatalf("bogus answer hands out %v", a.Records)
			}
		case dnssec.Secure:
			for _, rr := range a.Records {
				if !genuine[rdata(rr)] {
					t.Fatalf("secure answer %s holds a record no zone signed: %v", describe(a), rr)
				}
			}
		}
	})
}

// rdata is a record's type and data, without owner and TTL (a wildcard
// expansion changes the owner).
func rdata(rr dns.RR) string {
	return dns.TypeToString[rr.Header().Rrtype] + " " + strings.TrimPrefix(rr.String(), rr.Header().String())
}

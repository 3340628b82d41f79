package dnssec_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"hacx.dev/hacx/dnssec"
)

// TestValidator_Outcomes_D1 checks the verdict for each kind of answer
// the chain root -> test. -> zone can give (RFC 4035 section 5).
func TestValidator_Outcomes_D1(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name    string
		qtype   uint16
		want    dnssec.Security
		records int
		rcode   int
		reason  string // part of the reason, when not secure
	}{
		{"_443._tcp.example.test.", dns.TypeTLSA, dnssec.Secure, 1, dns.RcodeSuccess, ""},
		{"xmpp.example.test.", dns.TypeAAAA, dnssec.Secure, 1, dns.RcodeSuccess, ""},
		{"_xmpps-client._tcp.example.test.", dns.TypeSRV, dnssec.Secure, 1, dns.RcodeSuccess, ""},
		// "No TLSA here", NODATA and NXDOMAIN, proven by NSEC...
		{"_443._tcp.xmpp.example.test.", dns.TypeTLSA, dnssec.Secure, 0, dns.RcodeNameError, ""},
		{"xmpp.example.test.", dns.TypeTLSA, dnssec.Secure, 0, dns.RcodeSuccess, ""},
		{"_tcp.example.test.", dns.TypeTLSA, dnssec.Secure, 0, dns.RcodeSuccess, ""}, // empty non-terminal
		// ... and by NSEC3.
		{"_443._tcp.nsec3.test.", dns.TypeTLSA, dnssec.Secure, 1, dns.RcodeSuccess, ""},
		{"_5223._tcp.nsec3.test.", dns.TypeTLSA, dnssec.Secure, 0, dns.RcodeNameError, ""},
		{"xmpp.nsec3.test.", dns.TypeTLSA, dnssec.Secure, 0, dns.RcodeSuccess, ""},
		{"b.c.nsec3.test.", dns.TypeA, dnssec.Secure, 0, dns.RcodeSuccess, ""}, // empty non-terminal
		// Wildcards, with the proof that the name itself does not exist.
		{"x.wild.example.test.", dns.TypeA, dnssec.Secure, 1, dns.RcodeSuccess, ""},
		{"x.wild.nsec3.test.", dns.TypeA, dnssec.Secure, 1, dns.RcodeSuccess, ""},
		{"x.wild.example.test.", dns.TypeTLSA, dnssec.Secure, 0, dns.RcodeSuccess, ""},
		// A CNAME from one signed zone into another.
		{"www.example.test.", dns.TypeA, dnssec.Secure, 1, dns.RcodeSuccess, ""},
		// Other algorithms.
		{"_443._tcp.rsa.test.", dns.TypeTLSA, dnssec.Secure, 1, dns.RcodeSuccess, ""},
		{"_443._tcp.p384.test.", dns.TypeTLSA, dnssec.Secure, 1, dns.RcodeSuccess, ""},
		{"_443._tcp.ed25519.test.", dns.TypeTLSA, dnssec.Secure, 1, dns.RcodeSuccess, ""},
		// Insecure: an unsigned delegation, proven by the parent.
		{"_443._tcp.unsigned.test.", dns.TypeTLSA, dnssec.Insecure, 1, dns.RcodeSuccess, "without DS"},
		{"xmpp.unsigned.test.", dns.TypeA, dnssec.Insecure, 1, dns.RcodeSuccess, "without DS"},
		{"_443._tcp.sha1.test.", dns.TypeTLSA, dnssec.Insecure, 1, dns.RcodeSuccess, "treated as insecure"},
		{"xmpp.manyiter.test.", dns.TypeTLSA, dnssec.Insecure, 0, dns.RcodeSuccess, "iterations"},
		{"_443._tcp.unsigned.optout.test.", dns.TypeDS, dnssec.Insecure, 0, dns.RcodeSuccess, "opt-out"},
		// Below an unsigned delegation the server only refers (the
		// child is not served): still proven insecure, not bogus.
		{"x.sub.example.test.", dns.TypeA, dnssec.Insecure, 0, dns.RcodeSuccess, "without DS"},
		// Bogus: a forged answer without signature, a wrong signature, an
		// expired one, a DS that matches no key, a zone without keys.
		{"_443._tcp.forged.example.test.", dns.TypeTLSA, dnssec.Bogus, 0, dns.RcodeSuccess, "no signature"},
		{"_443._tcp.badsig.example.test.", dns.TypeTLSA, dnssec.Bogus, 0, dns.RcodeSuccess, "does not verify"},
		{"_443._tcp.expired.example.test.", dns.TypeTLSA, dnssec.Bogus, 0, dns.RcodeSuccess, "expired"},
		{"_443._tcp.wrongds.test.", dns.TypeTLSA, dnssec.Bogus, 0, dns.RcodeSuccess, "matches its DS"},
		{"_443._tcp.nokey.test.", dns.TypeTLSA, dnssec.Bogus, 0, dns.RcodeSuccess, "no signed DNSKEY"},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.name, ".")+"/"+dns.TypeToString[tt.qtype], func(t *testing.T) {
			a := lookup(t, w.validator(), tt.name, tt.qtype)
			if a.Security != tt.want || len(a.Records) != tt.records || a.Rcode != tt.rcode {
				t.Fatalf("%s; want %s, %d records, rcode %s", describe(a), tt.want, tt.records, dns.RcodeToString[tt.rcode])
			}
			if tt.want == dnssec.Secure && a.Reason != "" || tt.want != dnssec.Secure && !strings.Contains(a.Reason, tt.reason) {
				t.Errorf("reason %q, want %q", a.Reason, tt.reason)
			}
		})
	}
}

// One Validator serves many lookups at once (a dial looks up the TLSA
// records of several routes in parallel): each gets its own verdict.
func TestValidator_Concurrent(t *testing.T) {
	w := newWorld(t)
	v := &dnssec.Validator{Exchanger: &dnssec.Cache{Exchanger: w.auth}, Anchors: w.anchors}
	names := map[string]dnssec.Security{
		"_443._tcp.example.test.": dnssec.Secure, "_443._tcp.nsec3.test.": dnssec.Secure,
		"_443._tcp.unsigned.test.": dnssec.Insecure, "_443._tcp.badsig.example.test.": dnssec.Bogus,
	}
	var wg sync.WaitGroup
	for range 4 {
		for name, want := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a, err := v.Lookup(context.Background(), name, dns.TypeTLSA)
				if err != nil || a.Security != want {
					t.Errorf("%s: %v, %v; want %s", name, a, err, want)
				}
			}()
		}
	}
	wg.Wait()
}

package testbed

import (
	"testing"

	"github.com/miekg/dns"
)

func exchange(t *testing.T, s *DNSServer, netw, name string, qtype uint16, do bool) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if do {
		m.SetEdns0(4096, true)
	}
	c := &dns.Client{Net: netw}
	r, _, err := c.Exchange(m, s.Addr)
	if err != nil {
		t.Fatalf("%s %s: %v", netw, name, err)
	}
	return r
}

func TestDNSServer_AnswersZone(t *testing.T) {
	s, err := NewDNSServer()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Add(
		"xmpp.example.test. 60 IN A 127.0.0.2",
		"xmpp.example.test. 60 IN AAAA ::1",
		"_xmpps-client._tcp.example.test. 60 IN SRV 0 5 5223 xmpp.example.test.",
		"_443._tcp.example.test. 60 IN TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		net, name string
		qtype     uint16
		rcode     int
		answers   int
	}{
		{"udp", "xmpp.example.test.", dns.TypeA, dns.RcodeSuccess, 1},
		{"tcp", "xmpp.example.test.", dns.TypeAAAA, dns.RcodeSuccess, 1},
		{"udp", "XMPP.Example.Test.", dns.TypeA, dns.RcodeSuccess, 1},
		{"udp", "_xmpps-client._tcp.example.test.", dns.TypeSRV, dns.RcodeSuccess, 1},
		{"tcp", "_443._tcp.example.test.", dns.TypeTLSA, dns.RcodeSuccess, 1},
		{"udp", "xmpp.example.test.", dns.TypeSRV, dns.RcodeSuccess, 0}, // NODATA
		{"udp", "missing.example.test.", dns.TypeA, dns.RcodeNameError, 0},
	}
	for _, tt := range tests {
		r := exchange(t, s, tt.net, tt.name, tt.qtype, false)
		if r.Rcode != tt.rcode || len(r.Answer) != tt.answers {
			t.Errorf("%s %s %s: rcode %s, %d answers; want %s, %d", tt.net, tt.name, dns.TypeToString[tt.qtype],
				dns.RcodeToString[r.Rcode], len(r.Answer), dns.RcodeToString[tt.rcode], tt.answers)
		}
	}
	q := s.Queries()
	if len(q) != len(tests) || q[1].Net != "tcp" || q[1].Type != "AAAA" || q[2].Name != "xmpp.example.test." {
		t.Errorf("recorded queries = %v", q)
	}
	s.ResetQueries()
	if len(s.Queries()) != 0 {
		t.Error("ResetQueries kept queries")
	}
}

func TestDNSServer_ADBitOnlyWithDO_X4(t *testing.T) {
	s, err := NewDNSServer()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Add("a.example.test. 60 IN A 127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if r := exchange(t, s, "udp", "a.example.test.", dns.TypeA, true); r.AuthenticatedData {
		t.Error("AD set before SetAD(true)")
	}
	s.SetAD(true)
	if r := exchange(t, s, "udp", "a.example.test.", dns.TypeA, true); !r.AuthenticatedData {
		t.Error("AD not set with DO after SetAD(true)")
	}
	if r := exchange(t, s, "udp", "a.example.test.", dns.TypeA, false); r.AuthenticatedData {
		t.Error("AD set on a query without DO")
	}
	if q := s.Queries(); !q[1].DO || q[2].DO {
		t.Errorf("DO bits recorded wrong: %+v", q)
	}
	s.SetRcode("a.example.test", dns.RcodeServerFailure)
	if r := exchange(t, s, "udp", "a.example.test.", dns.TypeA, true); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("rcode = %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
}

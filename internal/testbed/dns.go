package testbed

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// DNSServer is an authoritative-looking DNS server on a loopback port,
// answering UDP and TCP queries from an in-memory zone that the test
// fills. It answers any record type stored for a name (A, AAAA, SRV, TLSA,
// ...), NOERROR with no answer for a name that exists without that type,
// and NXDOMAIN for a name that does not exist. It records every query, so
// tests can assert that no DNS query was made (T1).
type DNSServer struct {
	// Addr is "127.0.0.1:port", the same port for UDP and TCP.
	Addr string

	udp, tcp *dns.Server

	mu      sync.Mutex
	zone    map[string][]dns.RR // by lower-case FQDN
	ad      bool
	queries []DNSQuery
	rcode   map[string]int // forced rcodes by name, e.g. SERVFAIL
}

// DNSQuery is one question the server received.
type DNSQuery struct {
	Name string // FQDN as asked, lower case
	Type string // "A", "SRV", "TLSA"...
	Net  string // "udp" or "tcp"
	DO   bool   // the EDNS0 DNSSEC OK bit was set
}

func (q DNSQuery) String() string { return q.Net + " " + q.Type + " " + q.Name }

// NewDNSServer starts a server on 127.0.0.1 with an empty zone. Close it
// when done.
func NewDNSServer() (*DNSServer, error) {
	s := &DNSServer{zone: map[string][]dns.RR{}, rcode: map[string]int{}}
	pc, l, err := listenUDPTCP("127.0.0.1")
	if err != nil {
		return nil, fmt.Errorf("testbed: dns: %w", err)
	}
	s.Addr = pc.LocalAddr().String()
	s.udp = s.start(&dns.Server{PacketConn: pc, Net: "udp"})
	s.tcp = s.start(&dns.Server{Listener: l, Net: "tcp"})
	if s.udp == nil || s.tcp == nil {
		s.Close()
		return nil, errors.New("testbed: dns: server did not start")
	}
	return s, nil
}

// listenUDPTCP listens on one port of ip for both UDP and TCP: UDP first
// on a free port, then TCP on the same one; another process may hold that
// TCP port, so it retries a few times.
func listenUDPTCP(ip string) (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return nil, nil, err
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			lastErr = err
			continue
		}
		return pc, l, nil
	}
	return nil, nil, fmt.Errorf("no port free for both UDP and TCP: %w", lastErr)
}

func (s *DNSServer) start(srv *dns.Server) *dns.Server {
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	srv.Handler = dns.HandlerFunc(s.serve)
	errc := make(chan error, 1)
	go func() { errc <- srv.ActivateAndServe() }()
	select {
	case <-started:
		return srv
	case <-errc:
		return nil
	}
}

// Close stops the server.
func (s *DNSServer) Close() error {
	var errs []error
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		if srv != nil {
			errs = append(errs, srv.Shutdown())
		}
	}
	return errors.Join(errs...)
}

// Add puts records into the zone. Each string is one record in zone-file
// presentation format, e.g. "_xmpps-client._tcp.example.test. 300 IN SRV 0 5 5223 xmpp.example.test.".
func (s *DNSServer) Add(records ...string) error {
	for _, text := range records {
		rr, err := dns.NewRR(text)
		if err != nil {
			return fmt.Errorf("testbed: dns: %w", err)
		}
		if rr == nil {
			return fmt.Errorf("testbed: dns: no record in %q", text)
		}
		s.AddRR(rr)
	}
	return nil
}

// AddRR puts records into the zone.
func (s *DNSServer) AddRR(rrs ...dns.RR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rr := range rrs {
		name := strings.ToLower(dns.Fqdn(rr.Header().Name))
		s.zone[name] = append(s.zone[name], rr)
	}
}

// Remove deletes every record of the name (so it becomes NXDOMAIN).
func (s *DNSServer) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.zone, strings.ToLower(dns.Fqdn(name)))
}

// SetAD makes every answer carry the AD (authenticated data) bit, as a
// validating resolver does for DNSSEC-secure data (X4). The bit is set only
// on answers to queries with the DO bit or the AD bit, like real resolvers.
func (s *DNSServer) SetAD(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ad = on
}

// SetRcode forces an rcode (e.g. dns.RcodeServerFailure) for every query
// for name; dns.RcodeSuccess removes the override.
func (s *DNSServer) SetRcode(name string, rcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = strings.ToLower(dns.Fqdn(name))
	if rcode == dns.RcodeSuccess {
		delete(s.rcode, name)
		return
	}
	s.rcode[name] = rcode
}

// Queries returns every query received so far, in order.
func (s *DNSServer) Queries() []DNSQuery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]DNSQuery(nil), s.queries...)
}

// ResetQueries forgets the recorded queries.
func (s *DNSServer) ResetQueries() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = nil
}

func (s *DNSServer) serve(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	do := false
	if opt := req.IsEdns0(); opt != nil {
		do = opt.Do()
		m.SetEdns0(4096, do)
	}

	s.mu.Lock()
	s.queries = append(s.queries, DNSQuery{Name: name, Type: dns.TypeToString[q.Qtype], Net: w.LocalAddr().Network(), DO: do})
	rrs, exists := s.zone[name]
	ad := s.ad && (do || req.AuthenticatedData)
	forced, isForced := s.rcode[name]
	s.mu.Unlock()

	switch {
	case isForced:
		m.Rcode = forced
	case !exists:
		m.Rcode = dns.RcodeNameError
	default:
		for _, rr := range rrs {
			if rr.Header().Rrtype == q.Qtype || q.Qtype == dns.TypeANY {
				m.Answer = append(m.Answer, dns.Copy(rr))
			}
		}
		if do && q.Qtype != dns.TypeRRSIG && q.Qtype != dns.TypeANY {
			// A DNSSEC-aware client (DO bit) gets the signatures of the
			// answer too, as a validating resolver needs (SignedZone).
			for _, rr := range rrs {
				if sig, ok := rr.(*dns.RRSIG); ok && sig.TypeCovered == q.Qtype {
					m.Answer = append(m.Answer, dns.Copy(rr))
				}
			}
		}
		m.AuthenticatedData = ad
	}
	if w.LocalAddr().Network() == "udp" {
		size := 512
		if opt := req.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
		m.Truncate(size)
	}
	w.WriteMsg(m)
}

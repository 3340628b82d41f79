package testbed

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// Authority answers queries from signed zones (Zone.Signed) the way one
// authoritative server hosting all of them does for a client that sets
// DO: the deepest hosted zone answers, a DS query at a zone apex is
// answered by the parent zone, denials carry their NSEC or NSEC3 proof
// (RFC 4035 section 3.1.3, RFC 5155 section 7.2), wildcards are
// expanded with the proof that the name itself does not exist. A name
// below a delegation to a zone it does not host gets a referral. It
// runs in the test process, as an Exchanger (dnssec.Exchanger), so
// validator tests and fuzzing need no network; StartNSD serves the same
// zones with a real server.
type Authority struct {
	mu      sync.Mutex
	zones   map[string]*authZone
	queries int
}

type authZone struct {
	origin string
	rrs    []dns.RR
	byName map[string][]dns.RR // every record and signature, by owner
	names  map[string]bool     // names that exist: authoritative owners and empty non-terminals
	cuts   map[string]bool
	nsecs  []*dns.NSEC
	nsec3s []*dns.NSEC3
	param  *dns.NSEC3PARAM
}

// NewAuthority returns an Authority with no zones.
func NewAuthority() *Authority { return &Authority{zones: map[string]*authZone{}} }

// SetZone serves rrs (normally Zone.Signed, perhaps altered) as the
// zone origin, replacing what was served there.
func (a *Authority) SetZone(origin string, rrs []dns.RR) {
	origin = dns.CanonicalName(origin)
	z := &authZone{origin: origin, byName: map[string][]dns.RR{}, names: map[string]bool{}, cuts: map[string]bool{}}
	for _, rr := range rrs {
		rr = dns.Copy(rr)
		rr.Header().Name = dns.CanonicalName(rr.Header().Name)
		z.rrs = append(z.rrs, rr)
		n := rr.Header().Name
		z.byName[n] = append(z.byName[n], rr)
		switch r := rr.(type) {
		case *dns.NS:
			if n != origin {
				z.cuts[n] = true
			}
		case *dns.NSEC:
			z.nsecs = append(z.nsecs, r)
		case *dns.NSEC3:
			z.nsec3s = append(z.nsec3s, r)
		case *dns.NSEC3PARAM:
			z.param = r
		}
	}
	for n, rs := range z.byName {
		if z.occluded(n) || onlyNSEC3(rs) {
			continue
		}
		for p := n; dns.IsSubDomain(origin, p); p = parentOf(p) {
			z.names[p] = true
			if p == origin {
				break
			}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.zones[origin] = z
}

func onlyNSEC3(rs []dns.RR) bool {
	for _, rr := range rs {
		if t := rr.Header().Rrtype; t != dns.TypeNSEC3 && !(t == dns.TypeRRSIG && rr.(*dns.RRSIG).TypeCovered == dns.TypeNSEC3) {
			return false
		}
	}
	return true
}

// Queries is how many queries were answered.
func (a *Authority) Queries() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.queries
}

// Exchange answers m.
func (a *Authority) Exchange(_ context.Context, m *dns.Msg) (*dns.Msg, error) {
	return a.Answer(m), nil
}

// Answer is the response to m.
func (a *Authority) Answer(m *dns.Msg) *dns.Msg {
	r := new(dns.Msg)
	r.SetReply(m)
	r.SetEdns0(4096, true)
	if len(m.Question) != 1 {
		r.Rcode = dns.RcodeFormatError
		return r
	}
	q := m.Question[0]
	qname := dns.CanonicalName(q.Name)
	a.mu.Lock()
	a.queries++
	z := a.zoneFor(qname, q.Qtype)
	a.mu.Unlock()
	if z == nil {
		r.Rcode = dns.RcodeRefused
		return r
	}
	r.Authoritative = true
	z.answer(r, qname, q.Qtype)
	return r
}

// zoneFor is the deepest hosted zone holding qname; for DS at a zone
// apex, the zone above it when hosted (RFC 4035 section 3.1.4.1).
func (a *Authority) zoneFor(qname string, qtype uint16) *authZone {
	for n := qname; ; n = parentOf(n) {
		if z, ok := a.zones[n]; ok {
			if qtype == dns.TypeDS && n == qname && n != "." {
				if p := a.zoneFor(parentOf(n), 0); p != nil {
					return p
				}
			}
			return z
		}
		if n == "." {
			return nil
		}
	}
}

func (z *authZone) occluded(name string) bool {
	for c := range z.cuts {
		if name != c && dns.IsSubDomain(c, name) {
			return true
		}
	}
	return false
}

// set returns the records of type t at name with their signatures.
func (z *authZone) set(name string, t uint16) []dns.RR {
	var out, sigs []dns.RR
	for _, rr := range z.byName[name] {
		if rr.Header().Rrtype == t {
			out = append(out, dns.Copy(rr))
		} else if s, ok := rr.(*dns.RRSIG); ok && s.TypeCovered == t {
			sigs = append(sigs, dns.Copy(rr))
		}
	}
	if len(out) == 0 {
		return nil
	}
	return append(out, sigs...)
}

func (z *authZone) answer(r *dns.Msg, qname string, qtype uint16) {
	// A name at or below a delegation: a referral, except DS at the cut.
	for c := range z.cuts {
		if dns.IsSubDomain(c, qname) && !(qtype == dns.TypeDS && qname == c) {
			r.Authoritative = false
			r.Ns = append(r.Ns, z.set(c, dns.TypeNS)...)
			if ds := z.set(c, dns.TypeDS); ds != nil {
				r.Ns = append(r.Ns, ds...)
			} else {
				r.Ns = append(r.Ns, z.nodataProof(c)...)
			}
			return
		}
	}
	if z.names[qname] {
		if set := z.set(qname, qtype); set != nil {
			r.Answer = set
			return
		}
		if cn := z.set(qname, dns.TypeCNAME); cn != nil {
			r.Answer = cn
			return
		}
		r.Ns = append(z.set(z.origin, dns.TypeSOA), z.nodataProof(qname)...)
		return
	}
	ce := parentOf(qname)
	for !z.names[ce] && ce != z.origin && ce != "." {
		ce = parentOf(ce)
	}
	wc := "*." + ce
	if z.names[wc] {
		if set := z.set(wc, qtype); set != nil {
			for _, rr := range set {
				rr.Header().Name = qname
			}
			r.Answer = set
			r.Ns = z.noNameProof(qname, ce, false)
			return
		}
		r.Ns = append(z.set(z.origin, dns.TypeSOA), z.noNameProof(qname, ce, false)...)
		r.Ns = append(r.Ns, z.nodataProof(wc)...)
		return
	}
	r.Rcode = dns.RcodeNameError
	r.Ns = append(z.set(z.origin, dns.TypeSOA), z.noNameProof(qname, ce, true)...)
}

// nodataProof proves that name exists without the type asked: its own
// NSEC (or, for an empty non-terminal, the NSEC before it), or its NSEC3
// record (or, in an opt-out span, the closest encloser proof).
func (z *authZone) nodataProof(name string) []dns.RR {
	if z.param == nil {
		if n := z.set(name, dns.TypeNSEC); n != nil {
			return n
		}
		return z.coveringNSEC(name)
	}
	if m := z.matchNSEC3(name); m != nil {
		return m
	}
	ce := parentOf(name)
	for z.matchNSEC3(ce) == nil && ce != z.origin && ce != "." {
		ce = parentOf(ce)
	}
	return append(z.matchNSEC3(ce), z.coverNSEC3(childOn(name, ce))...)
}

// noNameProof proves that qname does not exist below closest encloser
// ce and, with noWildcard, that *.ce does not exist either.
func (z *authZone) noNameProof(qname, ce string, noWildcard bool) []dns.RR {
	if z.param == nil {
		out := z.coveringNSEC(qname)
		if noWildcard {
			out = append(out, z.coveringNSEC("*."+ce)...)
		}
		return dedupe(out)
	}
	out := z.coverNSEC3(childOn(qname, ce))
	if noWildcard {
		out = append(z.matchNSEC3(ce), out...)
		out = append(out, z.coverNSEC3("*."+ce)...)
	}
	return dedupe(out)
}

// childOn is the name one label below ce on the way to name.
func childOn(name, ce string) string {
	n := name
	for parentOf(n) != ce && n != "." {
		n = parentOf(n)
	}
	return n
}

func (z *authZone) coveringNSEC(name string) []dns.RR {
	for _, n := range z.nsecs {
		owner, next := n.Hdr.Name, dns.CanonicalName(n.NextDomain)
		after := canonicalLess(owner, name)
		if (canonicalLess(owner, next) && after && canonicalLess(name, next)) || (!canonicalLess(owner, next) && after) {
			return z.set(owner, dns.TypeNSEC)
		}
	}
	return nil
}

func (z *authZone) hash(name string) string {
	return dns.HashName(name, dns.SHA1, z.param.Iterations, strings.TrimPrefix(z.param.Salt, "-"))
}

func (z *authZone) matchNSEC3(name string) []dns.RR {
	h := z.hash(name)
	for _, n := range z.nsec3s {
		if strings.EqualFold(strings.SplitN(n.Hdr.Name, ".", 2)[0], h) {
			return z.set(n.Hdr.Name, dns.TypeNSEC3)
		}
	}
	return nil
}

func (z *authZone) coverNSEC3(name string) []dns.RR {
	h := z.hash(name)
	for _, n := range z.nsec3s {
		o, nx := strings.ToUpper(strings.SplitN(n.Hdr.Name, ".", 2)[0]), strings.ToUpper(n.NextDomain)
		if (o < nx && o < h && h < nx) || (o >= nx && (h > o || h < nx)) {
			return z.set(n.Hdr.Name, dns.TypeNSEC3)
		}
	}
	return nil
}

func dedupe(rrs []dns.RR) []dns.RR {
	var out []dns.RR
	seen := map[string]bool{}
	for _, rr := range rrs {
		if s := rr.String(); !seen[s] {
			seen[s] = true
			out = append(out, rr)
		}
	}
	return out
}

// AuthorityServer is an Authority answering on a loopback port.
type AuthorityServer struct {
	// Addr is "127.0.0.1:port", the same port for UDP and TCP.
	Addr     string
	udp, tcp *dns.Server
}

// Serve answers queries to a's zones over UDP and TCP on a loopback port
// of its own until the server is closed.
func (a *Authority) Serve() (*AuthorityServer, error) {
	pc, l, err := listenUDPTCP("127.0.0.1")
	if err != nil {
		return nil, err
	}
	s := &AuthorityServer{Addr: pc.LocalAddr().String()}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := a.Answer(req)
		if w.LocalAddr().Network() == "udp" {
			size := 512
			if opt := req.IsEdns0(); opt != nil {
				size = int(opt.UDPSize())
			}
			m.Truncate(size)
		}
		w.WriteMsg(m)
	})
	s.udp = startDNS(&dns.Server{PacketConn: pc, Net: "udp", Handler: h})
	s.tcp = startDNS(&dns.Server{Listener: l, Net: "tcp", Handler: h})
	if s.udp == nil || s.tcp == nil {
		s.Close()
		return nil, errors.New("testbed: authority: server did not start")
	}
	return s, nil
}

// Close stops the server.
func (s *AuthorityServer) Close() error {
	var errs []error
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		if srv != nil {
			errs = append(errs, srv.Shutdown())
		}
	}
	return errors.Join(errs...)
}

// startDNS starts srv and returns it once it serves, or nil.
func startDNS(srv *dns.Server) *dns.Server {
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	errc := make(chan error, 1)
	go func() { errc <- srv.ActivateAndServe() }()
	select {
	case <-started:
		return srv
	case <-errc:
		return nil
	}
}

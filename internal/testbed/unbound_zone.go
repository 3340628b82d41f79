package testbed

import (
	"crypto"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// SignedZone is a DNSSEC-signed zone made at run time and served by a
// DNSServer, so that a real validating resolver (StartUnbound) can prove
// TLSA answers secure (X4). One ECDSA P-256 key (algorithm 13, flags 257)
// signs every RRset, the DNSKEY set included: a single key is all a
// trust anchor needs, and it keeps the zone small.
//
// The zone serves positive answers only: it has no NSEC chain, so a
// validator treats NXDOMAIN or NODATA inside it as bogus. Tests ask for
// names that exist.
type SignedZone struct {
	// Origin is the zone apex, a lower-case FQDN such as "example.test.".
	Origin string

	srv *DNSServer

	mu     sync.Mutex
	key    *dns.DNSKEY
	signer crypto.Signer
	rrsets map[rrsetKey][]dns.RR // unsigned data, the DNSKEY set excluded
}

type rrsetKey struct {
	name  string
	rtype uint16
}

// NewSignedZone generates a key for origin and puts its signed DNSKEY set
// into srv.
func NewSignedZone(srv *DNSServer, origin string) (*SignedZone, error) {
	z := &SignedZone{Origin: strings.ToLower(dns.Fqdn(origin)), srv: srv, rrsets: map[rrsetKey][]dns.RR{}}
	if err := z.newKey(); err != nil {
		return nil, err
	}
	if err := z.publishKey(); err != nil {
		return nil, err
	}
	return z, nil
}

func (z *SignedZone) newKey() error {
	k := &dns.DNSKEY{
		Hdr:       dns.RR_Header{Name: z.Origin, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 300},
		Flags:     dns.ZONE | dns.SEP,
		Protocol:  3,
		Algorithm: dns.ECDSAP256SHA256,
	}
	priv, err := k.Generate(256)
	if err != nil {
		return fmt.Errorf("testbed: zone %s: %w", z.Origin, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return fmt.Errorf("testbed: zone %s: key of type %T cannot sign", z.Origin, priv)
	}
	z.key, z.signer = k, signer
	return nil
}

// publishKey replaces the apex DNSKEY set and its signature in the server.
func (z *SignedZone) publishKey() error {
	sig, err := z.Sign([]dns.RR{z.key})
	if err != nil {
		return err
	}
	z.srv.removeType(z.Origin, dns.TypeDNSKEY)
	z.srv.AddRR(z.key, sig)
	return nil
}

// TrustAnchor is the DS record of the zone's key in presentation format,
// as unbound's trust-anchor option takes it.
func (z *SignedZone) TrustAnchor() string {
	z.mu.Lock()
	defer z.mu.Unlock()
	ds := z.key.ToDS(dns.SHA256)
	return fmt.Sprintf("%s DS %d %d %d %s", ds.Hdr.Name, ds.KeyTag, ds.Algorithm, ds.DigestType, strings.ToUpper(ds.Digest))
}

// Sign returns an RRSIG over rrset (records of one name and type) by the
// zone's current key, valid from an hour ago for a day. The records are
// not added anywhere, so a test can alter them afterwards to make a
// signature that does not verify.
func (z *SignedZone) Sign(rrset []dns.RR) (*dns.RRSIG, error) {
	if len(rrset) == 0 {
		return nil, fmt.Errorf("testbed: zone %s: empty RRset", z.Origin)
	}
	z.mu.Lock()
	key, signer := z.key, z.signer
	z.mu.Unlock()
	now := time.Now()
	sig := &dns.RRSIG{
		Hdr:        dns.RR_Header{Ttl: rrset[0].Header().Ttl},
		Algorithm:  key.Algorithm,
		KeyTag:     key.KeyTag(),
		SignerName: z.Origin,
		Inception:  uint32(now.Add(-time.Hour).Unix()),
		Expiration: uint32(now.Add(24 * time.Hour).Unix()),
	}
	if err := sig.Sign(signer, rrset); err != nil {
		return nil, fmt.Errorf("testbed: zone %s: sign %s: %w", z.Origin, rrset[0].Header().Name, err)
	}
	return sig, nil
}

// Add puts records, in zone-file presentation format, into the zone and
// re-signs every RRset they belong to. Names must be inside the zone.
func (z *SignedZone) Add(records ...string) error {
	var rrs []dns.RR
	for _, text := range records {
		rr, err := dns.NewRR(text)
		if err != nil {
			return fmt.Errorf("testbed: zone %s: %w", z.Origin, err)
		}
		if rr == nil {
			return fmt.Errorf("testbed: zone %s: no record in %q", z.Origin, text)
		}
		rrs = append(rrs, rr)
	}
	return z.AddRR(rrs...)
}

// AddRR is Add with parsed records.
func (z *SignedZone) AddRR(rrs ...dns.RR) error {
	touched := map[rrsetKey]bool{}
	z.mu.Lock()
	for _, rr := range rrs {
		h := rr.Header()
		name := strings.ToLower(dns.Fqdn(h.Name))
		if !dns.IsSubDomain(z.Origin, name) {
			z.mu.Unlock()
			return fmt.Errorf("testbed: zone %s: %s is outside the zone", z.Origin, h.Name)
		}
		if h.Rrtype == dns.TypeRRSIG || h.Rrtype == dns.TypeDNSKEY && name == z.Origin {
			z.mu.Unlock()
			return fmt.Errorf("testbed: zone %s: the zone makes its own %s records", z.Origin, dns.TypeToString[h.Rrtype])
		}
		k := rrsetKey{name, h.Rrtype}
		z.rrsets[k] = append(z.rrsets[k], dns.Copy(rr))
		touched[k] = true
	}
	z.mu.Unlock()
	for k := range touched {
		if err := z.publish(k); err != nil {
			return err
		}
	}
	return nil
}

// publish replaces one RRset and its signature in the server.
func (z *SignedZone) publish(k rrsetKey) error {
	z.mu.Lock()
	set := append([]dns.RR(nil), z.rrsets[k]...)
	z.mu.Unlock()
	sig, err := z.Sign(set)
	if err != nil {
		return err
	}
	z.srv.removeType(k.name, k.rtype)
	z.srv.AddRR(append(set, sig)...)
	return nil
}

// Resign generates a new key and signs the whole zone with it, as a key
// rollover that forgot to update the parent's DS would: a resolver that
// still trusts the old TrustAnchor finds every answer bogus.
func (z *SignedZone) Resign() error {
	z.mu.Lock()
	err := z.newKey()
	keys := make([]rrsetKey, 0, len(z.rrsets))
	for k := range z.rrsets {
		keys = append(keys, k)
	}
	z.mu.Unlock()
	if err != nil {
		return err
	}
	if err := z.publishKey(); err != nil {
		return err
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].name < keys[j].name })
	for _, k := range keys {
		if err := z.publish(k); err != nil {
			return err
		}
	}
	return nil
}

// removeType deletes the records of one type at name and the signatures
// covering that type.
func (s *DNSServer) removeType(name string, rtype uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = strings.ToLower(dns.Fqdn(name))
	kept := s.zone[name][:0:0]
	for _, rr := range s.zone[name] {
		if rr.Header().Rrtype == rtype {
			continue
		}
		if sig, ok := rr.(*dns.RRSIG); ok && sig.TypeCovered == rtype {
			continue
		}
		kept = append(kept, rr)
	}
	if len(kept) == 0 {
		delete(s.zone, name)
		return
	}
	s.zone[name] = kept
}

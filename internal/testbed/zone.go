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

// Zone is a DNS zone made and signed at run time for DNSSEC tests (D1):
// records go in, and Signed gives the whole signed zone, NSEC or NSEC3
// chain included, as an authoritative server serves it (StartNSD, or
// an Authority in the test process). One key (flags 257, a combined
// signing key) signs every RRset. Delegations are made with Delegate;
// names below a delegation are glue, neither signed nor chained (RFC
// 4035 section 2.2).
//
// The signed records are plain values, so a test can break them after
// signing: drop a signature, alter a record, re-sign an RRset with
// SignRRset over an expired period.
type Zone struct {
	// Origin is the apex, a lower-case FQDN ("." for the root).
	Origin string

	// NSEC3 makes Signed deny with NSEC3 (RFC 5155) instead of NSEC;
	// OptOut leaves unsigned delegations out of the NSEC3 chain (their
	// spans get the opt-out flag); Iterations and Salt (hex, "" for
	// none) are the hash parameters.
	NSEC3      bool
	OptOut     bool
	Iterations uint16
	Salt       string

	// Inception and Expiration bound every signature; zero means an
	// hour ago and a day from now.
	Inception, Expiration time.Time

	mu      sync.Mutex
	key     *dns.DNSKEY
	signer  crypto.Signer
	zsk     *dns.DNSKEY // with AddZSK: signs everything but the key set
	zskSign crypto.Signer
	records []dns.RR
}

// NewZone makes a zone with a new key of the given algorithm (0 means
// ECDSA P-256, algorithm 13), an SOA record (negative TTL 60 s) and an
// NS record at the apex.
func NewZone(origin string, algorithm uint8) (*Zone, error) {
	z := &Zone{Origin: dns.CanonicalName(origin)}
	if algorithm == 0 {
		algorithm = dns.ECDSAP256SHA256
	}
	bits := map[uint8]int{dns.RSASHA256: 2048, dns.RSASHA512: 2048, dns.RSASHA1: 2048, dns.RSASHA1NSEC3SHA1: 2048,
		dns.ECDSAP256SHA256: 256, dns.ECDSAP384SHA384: 384, dns.ED25519: 256}[algorithm]
	if bits == 0 {
		return nil, fmt.Errorf("testbed: zone %s: algorithm %d not supported", z.Origin, algorithm)
	}
	k := &dns.DNSKEY{
		Hdr:      dns.RR_Header{Name: z.Origin, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 300},
		Flags:    dns.ZONE | dns.SEP,
		Protocol: 3, Algorithm: algorithm,
	}
	priv, err := k.Generate(bits)
	if err != nil {
		return nil, fmt.Errorf("testbed: zone %s: %w", z.Origin, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("testbed: zone %s: key of type %T cannot sign", z.Origin, priv)
	}
	z.key, z.signer = k, signer
	ns := "ns." + strings.TrimPrefix(z.Origin, ".")
	if z.Origin == "." {
		ns = "ns.root-servers.test."
	}
	if err := z.Add(
		fmt.Sprintf("%s 300 IN SOA %s hostmaster.%s 1 3600 600 86400 60", z.Origin, ns, strings.TrimPrefix(z.Origin, ".")),
		fmt.Sprintf("%s 300 IN NS %s", z.Origin, ns),
	); err != nil {
		return nil, err
	}
	return z, nil
}

// AddZSK gives the zone a second key, a zone-signing key (flags 256) of
// the same algorithm, as most signed zones have: the first key (the one
// DS names) then signs only the DNSKEY set, the new one everything else
// (RFC 6781 section 3.1).
func (z *Zone) AddZSK() error {
	k := &dns.DNSKEY{
		Hdr:      dns.RR_Header{Name: z.Origin, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 300},
		Flags:    dns.ZONE,
		Protocol: 3, Algorithm: z.key.Algorithm,
	}
	bits := map[uint8]int{dns.ECDSAP256SHA256: 256, dns.ECDSAP384SHA384: 384, dns.ED25519: 256}[k.Algorithm]
	if bits == 0 {
		bits = 2048
	}
	priv, err := k.Generate(bits)
	if err != nil {
		return fmt.Errorf("testbed: zone %s: %w", z.Origin, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return fmt.Errorf("testbed: zone %s: key of type %T cannot sign", z.Origin, priv)
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	z.zsk, z.zskSign = k, signer
	return nil
}

// DNSKEY is the zone's key.
func (z *Zone) DNSKEY() *dns.DNSKEY { return dns.Copy(z.key).(*dns.DNSKEY) }

// DS is the SHA-256 DS record of the zone's key, for the parent zone or
// a trust anchor.
func (z *Zone) DS() *dns.DS { return z.key.ToDS(dns.SHA256) }

// TrustAnchor is DS in presentation format, as unbound's trust-anchor
// option and hacx --trust-anchor files take it.
func (z *Zone) TrustAnchor() string { return dsAnchor(z.DS()) }

// dsAnchor writes ds on one line with single spaces ("NAME DS TAG ALG
// TYPE DIGEST"): unbound reads the root name "." followed by a tab as
// an empty label.
func dsAnchor(ds *dns.DS) string {
	return fmt.Sprintf("%s DS %d %d %d %s", ds.Hdr.Name, ds.KeyTag, ds.Algorithm, ds.DigestType, strings.ToUpper(ds.Digest))
}

// Add puts records, in presentation format, into the zone.
func (z *Zone) Add(records ...string) error {
	for _, text := range records {
		rr, err := dns.NewRR(text)
		if err != nil {
			return fmt.Errorf("testbed: zone %s: %w", z.Origin, err)
		}
		if rr == nil {
			return fmt.Errorf("testbed: zone %s: no record in %q", z.Origin, text)
		}
		if err := z.AddRR(rr); err != nil {
			return err
		}
	}
	return nil
}

// AddRR puts records into the zone.
func (z *Zone) AddRR(rrs ...dns.RR) error {
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, rr := range rrs {
		h := rr.Header()
		if !dns.IsSubDomain(z.Origin, h.Name) {
			return fmt.Errorf("testbed: zone %s: %s is outside the zone", z.Origin, h.Name)
		}
		if h.Rrtype == dns.TypeRRSIG || h.Rrtype == dns.TypeNSEC || h.Rrtype == dns.TypeNSEC3 {
			return fmt.Errorf("testbed: zone %s: the zone makes its own %s records", z.Origin, dns.TypeToString[h.Rrtype])
		}
		c := dns.Copy(rr)
		c.Header().Name = dns.CanonicalName(h.Name)
		z.records = append(z.records, c)
	}
	return nil
}

// Delegate makes child a zone of its own: an NS record there and, when
// given, its DS records (none: an unsigned delegation).
func (z *Zone) Delegate(child string, ds ...*dns.DS) error {
	child = dns.CanonicalName(child)
	if err := z.Add(fmt.Sprintf("%s 300 IN NS ns.%s", child, child)); err != nil {
		return err
	}
	for _, d := range ds {
		c := dns.Copy(d).(*dns.DS)
		c.Hdr.Name, c.Hdr.Ttl = child, 300
		if err := z.AddRR(c); err != nil {
			return err
		}
	}
	return nil
}

func (z *Zone) window() (time.Time, time.Time) {
	inc, exp := z.Inception, z.Expiration
	if inc.IsZero() {
		inc = time.Now().Add(-time.Hour)
	}
	if exp.IsZero() {
		exp = time.Now().Add(24 * time.Hour)
	}
	return inc, exp
}

// SignRRset signs rrset (records of one name and type) with the zone's
// key over the given period.
func (z *Zone) SignRRset(rrset []dns.RR, inception, expiration time.Time) (*dns.RRSIG, error) {
	if len(rrset) == 0 {
		return nil, fmt.Errorf("testbed: zone %s: empty RRset", z.Origin)
	}
	h := rrset[0].Header()
	z.mu.Lock()
	key, signer := z.key, z.signer
	if z.zsk != nil && h.Rrtype != dns.TypeDNSKEY {
		key, signer = z.zsk, z.zskSign
	}
	z.mu.Unlock()
	labels := dns.CountLabel(h.Name)
	if strings.HasPrefix(h.Name, "*.") {
		labels--
	}
	sig := &dns.RRSIG{
		Hdr:         dns.RR_Header{Name: h.Name, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: h.Ttl},
		TypeCovered: h.Rrtype, Algorithm: key.Algorithm, Labels: uint8(labels), OrigTtl: h.Ttl,
		KeyTag: key.KeyTag(), SignerName: z.Origin,
		Inception:  uint32(inception.Unix()),
		Expiration: uint32(expiration.Unix()),
	}
	if err := sig.Sign(signer, rrset); err != nil {
		return nil, fmt.Errorf("testbed: zone %s: sign %s %s: %w", z.Origin, h.Name, dns.TypeToString[h.Rrtype], err)
	}
	return sig, nil
}

type zoneKey struct {
	name  string
	rtype uint16
}

// Signed returns the zone with its key, its NSEC or NSEC3 chain and a
// signature over every authoritative RRset, RRsets in canonical order of
// their owner names.
func (z *Zone) Signed() ([]dns.RR, error) {
	z.mu.Lock()
	records := append([]dns.RR{dns.Copy(z.key)}, z.records...)
	if z.zsk != nil {
		records = append(records, dns.Copy(z.zsk))
	}
	z.mu.Unlock()
	inc, exp := z.window()

	sets := map[zoneKey][]dns.RR{}
	types := map[string][]uint16{}
	for _, rr := range records {
		k := zoneKey{rr.Header().Name, rr.Header().Rrtype}
		if _, ok := sets[k]; !ok {
			types[k.name] = append(types[k.name], k.rtype)
		}
		sets[k] = append(sets[k], rr)
	}
	// Zone cuts, and the glue below them.
	cuts := map[string]bool{}
	for name, ts := range types {
		if name != z.Origin && contains(ts, dns.TypeNS) {
			cuts[name] = true
		}
	}
	occluded := func(name string) bool {
		for c := range cuts {
			if name != c && dns.IsSubDomain(c, name) {
				return true
			}
		}
		return false
	}
	var names []string
	for name := range types {
		if !occluded(name) {
			names = append(names, name)
		}
	}
	sort.Slice(names, func(i, j int) bool { return canonicalLess(names[i], names[j]) })

	var out []dns.RR
	signSet := func(set []dns.RR) error {
		sig, err := z.SignRRset(set, inc, exp)
		if err != nil {
			return err
		}
		out = append(out, set...)
		out = append(out, sig)
		return nil
	}
	// signed reports whether name has an RRset this zone signs.
	signedAt := func(name string) bool {
		if cuts[name] {
			return contains(types[name], dns.TypeDS)
		}
		return true
	}
	for _, name := range names {
		ts := append([]uint16(nil), types[name]...)
		sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
		for _, t := range ts {
			set := sets[zoneKey{name, t}]
			if cuts[name] && t != dns.TypeDS {
				out = append(out, set...) // delegation NS: not signed (RFC 4035 section 2.2)
				continue
			}
			if err := signSet(set); err != nil {
				return nil, err
			}
		}
	}
	for name := range types {
		if occluded(name) {
			for _, t := range types[name] {
				out = append(out, sets[zoneKey{name, t}]...)
			}
		}
	}
	negTTL := uint32(60)
	if z.NSEC3 {
		chain, param, err := z.nsec3Chain(names, types, cuts, signedAt, negTTL)
		if err != nil {
			return nil, err
		}
		if err := signSet([]dns.RR{param}); err != nil {
			return nil, err
		}
		for _, n := range chain {
			if err := signSet([]dns.RR{n}); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	for i, name := range names {
		next := names[(i+1)%len(names)]
		bitmap := append([]uint16(nil), types[name]...)
		bitmap = append(bitmap, dns.TypeNSEC, dns.TypeRRSIG)
		sort.Slice(bitmap, func(i, j int) bool { return bitmap[i] < bitmap[j] })
		n := &dns.NSEC{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: negTTL},
			NextDomain: next, TypeBitMap: bitmap}
		if err := signSet([]dns.RR{n}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// nsec3Chain builds the NSEC3 records of names (RFC 5155 section 7.1):
// every authoritative name and empty non-terminal, hashed and sorted;
// with OptOut, unsigned delegations are left out.
func (z *Zone) nsec3Chain(names []string, types map[string][]uint16, cuts map[string]bool, signedAt func(string) bool, ttl uint32) ([]*dns.NSEC3, *dns.NSEC3PARAM, error) {
	param := &dns.NSEC3PARAM{Hdr: dns.RR_Header{Name: z.Origin, Rrtype: dns.TypeNSEC3PARAM, Class: dns.ClassINET, Ttl: 0},
		Hash: dns.SHA1, Iterations: z.Iterations, Salt: z.Salt, SaltLength: uint8(len(z.Salt) / 2)}
	all := map[string][]uint16{}
	for _, name := range names {
		if z.OptOut && cuts[name] && !signedAt(name) {
			continue
		}
		ts := append([]uint16(nil), types[name]...)
		if name == z.Origin {
			ts = append(ts, dns.TypeNSEC3PARAM)
		}
		if signedAt(name) {
			ts = append(ts, dns.TypeRRSIG)
		}
		all[name] = ts
		// Empty non-terminals between name and the apex.
		for p := parentOf(name); p != z.Origin && dns.IsSubDomain(z.Origin, p) && name != z.Origin; p = parentOf(p) {
			if _, ok := all[p]; !ok {
				if _, real := types[p]; !real {
					all[p] = nil
				}
			}
		}
	}
	type hashed struct {
		hash  string
		types []uint16
	}
	var hs []hashed
	for name, ts := range all {
		h := dns.HashName(name, dns.SHA1, z.Iterations, z.Salt)
		if h == "" {
			return nil, nil, fmt.Errorf("testbed: zone %s: cannot hash %s", z.Origin, name)
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
		hs = append(hs, hashed{h, ts})
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].hash < hs[j].hash })
	var flags uint8
	if z.OptOut {
		flags = 1
	}
	var out []*dns.NSEC3
	for i, h := range hs {
		next := hs[(i+1)%len(hs)].hash
		out = append(out, &dns.NSEC3{
			Hdr:  dns.RR_Header{Name: strings.ToLower(h.hash) + "." + strings.TrimPrefix(z.Origin, "."), Rrtype: dns.TypeNSEC3, Class: dns.ClassINET, Ttl: ttl},
			Hash: dns.SHA1, Flags: flags, Iterations: z.Iterations, Salt: z.Salt, SaltLength: uint8(len(z.Salt) / 2),
			HashLength: 20, NextDomain: next, TypeBitMap: h.types,
		})
	}
	return out, param, nil
}

// Text is the signed zone in zone-file presentation format, as nsd
// reads it.
func Text(rrs []dns.RR) string {
	var b strings.Builder
	for _, rr := range rrs {
		b.WriteString(rr.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func contains(ts []uint16, t uint16) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

func parentOf(name string) string {
	if name == "." {
		return "."
	}
	i, end := dns.NextLabel(name, 0)
	if end {
		return "."
	}
	return name[i:]
}

// canonicalLess orders names as RFC 4034 section 6.1 does: by labels
// from the right, each compared as lower-case octets.
func canonicalLess(a, b string) bool {
	la, lb := dns.SplitDomainName(strings.ToLower(a)), dns.SplitDomainName(strings.ToLower(b))
	for i, j := len(la)-1, len(lb)-1; ; i, j = i-1, j-1 {
		switch {
		case i < 0 && j < 0:
			return false
		case i < 0:
			return true
		case j < 0:
			return false
		}
		if la[i] != lb[j] {
			return la[i] < lb[j]
		}
	}
}

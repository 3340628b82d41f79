package dnssec

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// denialResult is what NSEC or NSEC3 records proved about name.
type denialResult struct {
	nx bool // name does not exist (NXDOMAIN proof)
	// delegation: NODATA at a zone cut (NS without SOA in the bitmap),
	// which for a DS query proves an unsigned delegation.
	delegation bool
	// insecure, when set, says why the proof cannot make the answer
	// secure: NSEC3 opt-out, too many iterations, an unknown hash.
	insecure string
}

// denial proves the negative answer msg to name/qtype from the NSEC or
// NSEC3 records of its authority section, signed by zone zs: NXDOMAIN
// when msg says so, NODATA otherwise (RFC 4035 section 5.4, RFC 5155
// section 8, RFC 6840 section 4).
func (l *lookup) denial(name string, qtype uint16, msg *dns.Msg, zs *zoneState) (denialResult, error) {
	nsecs, nsec3s, err := l.denialRecords(msg, zs)
	nx := msg.Rcode == dns.RcodeNameError
	switch {
	case len(nsecs) > 0:
		return nsecProof(name, qtype, nx, nsecs, zs.name)
	case len(nsec3s) > 0:
		return l.nsec3Proof(name, qtype, nx, nsec3s, zs.name)
	case err != nil:
		return denialResult{}, err
	}
	return denialResult{}, errors.New("no NSEC or NSEC3 record proves it")
}

// denialRecords returns the NSEC and NSEC3 records of msg's authority
// section whose signatures by zs verify. The first failure is returned
// too, as the reason when no proof can be made without that record.
func (l *lookup) denialRecords(msg *dns.Msg, zs *zoneState) ([]*dns.NSEC, []*dns.NSEC3, error) {
	var nsecs []*dns.NSEC
	var nsec3s []*dns.NSEC3
	var firstErr error
	seen := 0
	for _, rr := range msg.Ns {
		t := rr.Header().Rrtype
		if t != dns.TypeNSEC && t != dns.TypeNSEC3 {
			continue
		}
		if seen++; seen > maxDenialRecords {
			break
		}
		owner := rr.Header().Name
		if !inZone(owner, zs.name) {
			continue
		}
		if t == dns.TypeNSEC3 && !equalNames(parentName(owner), zs.name) {
			continue // an NSEC3 owner is one hash label above the apex
		}
		if _, err := l.verifyRRset([]dns.RR{rr}, sigsOf(msg.Ns, owner, t), zs); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			if errors.Is(err, errBudget) {
				return nil, nil, err
			}
			continue
		}
		switch r := rr.(type) {
		case *dns.NSEC:
			if inZone(r.NextDomain, zs.name) {
				nsecs = append(nsecs, r)
			}
		case *dns.NSEC3:
			nsec3s = append(nsec3s, r)
		}
	}
	return nsecs, nsec3s, firstErr
}

func hasType(bitmap []uint16, t uint16) bool { return slices.Contains(bitmap, t) }

// atCut reports whether a bitmap is that of the parent side of a zone
// cut (NS without SOA) or of a DNAME: such a record says nothing about
// the names below it (RFC 6840 section 4.1).
func atCut(bitmap []uint16) bool {
	return (hasType(bitmap, dns.TypeNS) && !hasType(bitmap, dns.TypeSOA)) || hasType(bitmap, dns.TypeDNAME)
}

// nsecCovers reports whether name lies strictly between the NSEC's owner
// and next name in canonical order (RFC 4034 section 6.1), the last NSEC
// of a zone (whose next name is the apex) covering everything after it.
func nsecCovers(n *dns.NSEC, name string) bool {
	afterOwner := canonicalCompare(n.Hdr.Name, name) < 0
	if canonicalCompare(n.Hdr.Name, n.NextDomain) < 0 {
		return afterOwner && canonicalCompare(name, n.NextDomain) < 0
	}
	return afterOwner
}

// coversUsable is nsecCovers for a record that may speak for name: not
// the NSEC of a cut or DNAME above it (RFC 6840 section 4.1).
func coversUsable(n *dns.NSEC, name string) bool {
	if inZone(name, n.Hdr.Name) && atCut(n.TypeBitMap) {
		return false
	}
	return nsecCovers(n, name)
}

// nsecEncloser is the closest encloser of a name covered by n: the
// deepest ancestor of name that the NSEC's owner or next name shows to
// exist (RFC 4035 section 5.4).
func nsecEncloser(n *dns.NSEC, name string) string {
	a, b := commonAncestor(name, n.Hdr.Name), commonAncestor(name, n.NextDomain)
	if dns.CountLabel(b) > dns.CountLabel(a) {
		return b
	}
	return a
}

func nsecProof(name string, qtype uint16, nx bool, nsecs []*dns.NSEC, zone string) (denialResult, error) {
	find := func(owner string) *dns.NSEC {
		for _, n := range nsecs {
			if equalNames(n.Hdr.Name, owner) {
				return n
			}
		}
		return nil
	}
	covering := func(x string) *dns.NSEC {
		for _, n := range nsecs {
			if coversUsable(n, x) {
				return n
			}
		}
		return nil
	}
	tname := dns.TypeToString[qtype]
	if nx {
		cov := covering(name)
		if cov == nil {
			return denialResult{}, fmt.Errorf("no NSEC covers %s", name)
		}
		ce := nsecEncloser(cov, name)
		wc := "*." + ce
		if find(wc) != nil {
			return denialResult{}, fmt.Errorf("wildcard %s exists, so %s cannot be NXDOMAIN", wc, name)
		}
		if covering(wc) == nil {
			return denialResult{}, fmt.Errorf("no NSEC proves that wildcard %s does not exist", wc)
		}
		return denialResult{nx: true}, nil
	}
	if n := find(name); n != nil {
		switch {
		case hasType(n.TypeBitMap, qtype):
			return denialResult{}, fmt.Errorf("the NSEC at %s lists %s", name, tname)
		case hasType(n.TypeBitMap, dns.TypeCNAME):
			return denialResult{}, fmt.Errorf("the NSEC at %s lists CNAME", name)
		case qtype != dns.TypeDS && hasType(n.TypeBitMap, dns.TypeNS) && !hasType(n.TypeBitMap, dns.TypeSOA):
			return denialResult{}, fmt.Errorf("the NSEC at %s is the parent side of a delegation, which cannot deny %s", name, tname)
		case qtype == dns.TypeDS && hasType(n.TypeBitMap, dns.TypeSOA) && !equalNames(name, zone):
			return denialResult{}, fmt.Errorf("the NSEC at %s comes from the child zone, which cannot deny DS", name)
		}
		return denialResult{delegation: hasType(n.TypeBitMap, dns.TypeNS) && !hasType(n.TypeBitMap, dns.TypeSOA)}, nil
	}
	// An empty non-terminal: the next name after it lies below it.
	for _, n := range nsecs {
		if nsecCovers(n, name) && inZone(n.NextDomain, name) && !equalNames(n.NextDomain, name) {
			return denialResult{}, nil
		}
	}
	// Wildcard NODATA: the name does not exist, and the wildcard that
	// would have matched has no record of the type.
	if cov := covering(name); cov != nil {
		ce := nsecEncloser(cov, name)
		if w := find("*." + ce); w != nil && !hasType(w.TypeBitMap, qtype) && !hasType(w.TypeBitMap, dns.TypeCNAME) {
			return denialResult{}, nil
		}
	}
	return denialResult{}, fmt.Errorf("no NSEC proves that %s has no %s", name, tname)
}

// nsec3Set is the NSEC3 records of one answer with the parameters they
// share; hashes are computed once per name.
type nsec3Set struct {
	recs   []*dns.NSEC3
	zone   string
	iter   uint16
	salt   string
	hashes map[string]string
}

func (s *nsec3Set) hash(name string) string {
	name = dns.CanonicalName(name)
	if h, ok := s.hashes[name]; ok {
		return h
	}
	h := dns.HashName(name, dns.SHA1, s.iter, s.salt)
	s.hashes[name] = h
	return h
}

func ownerHash(r *dns.NSEC3) string {
	i, _ := dns.NextLabel(r.Hdr.Name, 0)
	return strings.ToUpper(strings.TrimSuffix(r.Hdr.Name[:i], "."))
}

// match returns the record whose owner is the hash of name.
func (s *nsec3Set) match(name string) *dns.NSEC3 {
	h := s.hash(name)
	if h == "" {
		return nil
	}
	for _, r := range s.recs {
		if ownerHash(r) == h {
			return r
		}
	}
	return nil
}

// cover returns the record whose hash interval holds the hash of name,
// strictly (a hash equal to an owner is a match, not a cover).
func (s *nsec3Set) cover(name string) *dns.NSEC3 {
	h := s.hash(name)
	if h == "" {
		return nil
	}
	for _, r := range s.recs {
		o, n := ownerHash(r), strings.ToUpper(r.NextDomain)
		switch {
		case o == n:
			if h != o {
				return r
			}
		case o < n:
			if o < h && h < n {
				return r
			}
		default: // the last record wraps around to the first
			if h > o || h < n {
				return r
			}
		}
	}
	return nil
}

// closestEncloser finds the deepest ancestor-or-self of name with a
// matching record (RFC 5155 section 8.3), and the next closer name: the
// one label longer name on the way to name ("" when name itself matches).
func (s *nsec3Set) closestEncloser(name string) (ce, nc string, rec *dns.NSEC3, err error) {
	n := dns.CanonicalName(name)
	for {
		if r := s.match(n); r != nil {
			if nc != "" && atCut(r.TypeBitMap) {
				return "", "", nil, fmt.Errorf("closest encloser %s is a delegation or DNAME, which cannot prove anything below it", n)
			}
			return n, nc, r, nil
		}
		if equalNames(n, s.zone) || n == "." {
			return "", "", nil, fmt.Errorf("no NSEC3 matches an ancestor of %s", name)
		}
		nc, n = n, parentName(n)
	}
}

// newNSEC3Set picks the usable records of recs (RFC 5155 section 8.1:
// an unknown hash algorithm or unknown flags are ignored; all records
// used share one parameter set). insecure says why none can be used
// when the zone's own signed records make the answer unprovable.
func newNSEC3Set(recs []*dns.NSEC3, zone string) (s *nsec3Set, insecure string, err error) {
	unknown := false
	for _, r := range recs {
		if r.Hash != dns.SHA1 || r.Flags > 1 {
			unknown = true
			continue
		}
		if s == nil {
			s = &nsec3Set{zone: dns.CanonicalName(zone), iter: r.Iterations, salt: r.Salt, hashes: map[string]string{}}
		}
		if r.Iterations == s.iter && strings.EqualFold(r.Salt, s.salt) {
			s.recs = append(s.recs, r)
		}
	}
	if s == nil {
		if unknown {
			return nil, "zone " + zone + " denies with an unsupported NSEC3 hash algorithm", nil
		}
		return nil, "", errors.New("no usable NSEC3 record")
	}
	if s.iter > MaxNSEC3Iterations {
		// RFC 9276 section 3.2: proven by the zone's own signature, but
		// too costly to check: treat as unsigned.
		return nil, fmt.Sprintf("zone %s uses %d NSEC3 iterations, more than %d (RFC 9276)", zone, s.iter, MaxNSEC3Iterations), nil
	}
	return s, "", nil
}

func (l *lookup) nsec3Proof(name string, qtype uint16, nx bool, recs []*dns.NSEC3, zone string) (denialResult, error) {
	s, insecure, err := newNSEC3Set(recs, zone)
	if err != nil {
		return denialResult{}, err
	}
	if insecure != "" {
		return denialResult{insecure: insecure, nx: nx}, nil
	}
	tname := dns.TypeToString[qtype]
	if nx {
		ce, nc, _, err := s.closestEncloser(name)
		if err != nil {
			return denialResult{}, err
		}
		if nc == "" {
			return denialResult{}, fmt.Errorf("an NSEC3 record matches %s, so it exists", name)
		}
		cov := s.cover(nc)
		if cov == nil {
			return denialResult{}, fmt.Errorf("no NSEC3 covers next closer name %s", nc)
		}
		if s.cover("*."+ce) == nil {
			return denialResult{}, fmt.Errorf("no NSEC3 proves that wildcard *.%s does not exist", ce)
		}
		if cov.Flags&1 != 0 {
			// RFC 5155 section 6: an opt-out span may hide unsigned
			// delegations, so the name's absence is not proven.
			return denialResult{nx: true, insecure: fmt.Sprintf("%s is covered by an opt-out NSEC3 span of zone %s", nc, zone)}, nil
		}
		return denialResult{nx: true}, nil
	}
	if m := s.match(name); m != nil {
		switch {
		case hasType(m.TypeBitMap, qtype):
			return denialResult{}, fmt.Errorf("the NSEC3 record of %s lists %s", name, tname)
		case hasType(m.TypeBitMap, dns.TypeCNAME):
			return denialResult{}, fmt.Errorf("the NSEC3 record of %s lists CNAME", name)
		case qtype != dns.TypeDS && hasType(m.TypeBitMap, dns.TypeNS) && !hasType(m.TypeBitMap, dns.TypeSOA):
			return denialResult{}, fmt.Errorf("the NSEC3 record of %s is the parent side of a delegation, which cannot deny %s", name, tname)
		case qtype == dns.TypeDS && hasType(m.TypeBitMap, dns.TypeSOA) && !equalNames(name, zone):
			return denialResult{}, fmt.Errorf("the NSEC3 record of %s comes from the child zone, which cannot deny DS", name)
		}
		return denialResult{delegation: hasType(m.TypeBitMap, dns.TypeNS) && !hasType(m.TypeBitMap, dns.TypeSOA)}, nil
	}
	ce, nc, _, err := s.closestEncloser(name)
	if err != nil {
		return denialResult{}, err
	}
	cov := s.cover(nc)
	if cov == nil {
		return denialResult{}, fmt.Errorf("no NSEC3 covers next closer name %s", nc)
	}
	if qtype == dns.TypeDS {
		// RFC 5155 section 8.6: no DS and no NSEC3 at the name: only an
		// opt-out span may hide an (unsigned) delegation there.
		if cov.Flags&1 != 0 {
			return denialResult{delegation: true, insecure: fmt.Sprintf("%s lies in an opt-out NSEC3 span of zone %s: an unsigned delegation", name, zone)}, nil
		}
		return denialResult{}, fmt.Errorf("no NSEC3 matches %s and its span is not opt-out", name)
	}
	// RFC 5155 section 8.7: wildcard NODATA.
	if w := s.match("*." + ce); w != nil && !hasType(w.TypeBitMap, qtype) && !hasType(w.TypeBitMap, dns.TypeCNAME) {
		return denialResult{}, nil
	}
	return denialResult{}, fmt.Errorf("no NSEC3 proves that %s has no %s", name, tname)
}

// wildcardProof checks that an answer expanded from the wildcard at
// labels labels also proves that name itself does not exist (RFC 4035
// section 5.3.4, RFC 5155 section 8.8); insecure says why it cannot be
// proven with records the zone signed.
func (l *lookup) wildcardProof(name string, labels int, msg *dns.Msg, zs *zoneState) (insecure string, err error) {
	nsecs, nsec3s, err := l.denialRecords(msg, zs)
	ce := ancestorAt(name, labels)
	switch {
	case len(nsecs) > 0:
		for _, n := range nsecs {
			if coversUsable(n, name) && equalNames(nsecEncloser(n, name), ce) {
				return "", nil
			}
		}
		return "", fmt.Errorf("no NSEC covers %s below %s", name, ce)
	case len(nsec3s) > 0:
		s, insecure, err := newNSEC3Set(nsec3s, zs.name)
		if err != nil || insecure != "" {
			return insecure, err
		}
		nc := ancestorAt(name, labels+1)
		if s.cover(nc) == nil {
			return "", fmt.Errorf("no NSEC3 covers next closer name %s", nc)
		}
		return "", nil
	case err != nil:
		return "", err
	}
	return "", errors.New("no NSEC or NSEC3 record")
}

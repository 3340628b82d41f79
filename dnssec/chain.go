package dnssec

import (
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// The chain of trust: from a trust anchor down to the zone that signed an
// answer, one DS and DNSKEY set at a time (RFC 4035 section 5).

// zoneOf returns the state of the zone that holds target. With exact,
// target is a signer name and must itself be a zone apex (a signature
// naming anything else is bogus); without, target is any name and the
// state is that of the deepest zone above it. It walks from the closest
// trust anchor down, one label at a time, with a DS query per label
// (RFC 4035 section 5.2).
func (l *lookup) zoneOf(target string, exact bool) (zoneState, error) {
	target = dns.CanonicalName(target)
	top, ok := l.v.anchors.closest(target)
	if !ok {
		return zoneState{sec: Indeterminate, reason: "no trust anchor covers " + target + " (anchors: " + l.v.anchors.describe() + ")"}, nil
	}
	cur, err := l.anchorZone(top)
	if err != nil {
		return zoneState{}, err
	}
walk:
	for _, n := range below(top, target) {
		if cur.sec != Secure {
			return cur, nil
		}
		st, err := l.step(n, &cur)
		if err != nil {
			return zoneState{}, err
		}
		switch st.kind {
		case stepCut, stepInsecure, stepBogus:
			cur = st.zone
		case stepNX:
			break walk // nothing below exists
		}
	}
	if exact && cur.sec == Secure && cur.name != target {
		return zoneState{sec: Bogus, reason: fmt.Sprintf("signer %s is not a zone (no DS there in zone %s)", target, cur.name)}, nil
	}
	return cur, nil
}

// zoneMemo returns a remembered zone state that has not expired.
func (l *lookup) zoneMemo(name string) (zoneState, bool) {
	l.v.mu.Lock()
	defer l.v.mu.Unlock()
	z, ok := l.v.zones[name]
	if !ok || !l.now.Before(z.expires) {
		return zoneState{}, false
	}
	return z, true
}

func (l *lookup) rememberZone(z zoneState) {
	if z.expires.IsZero() || z.sec == Bogus || z.sec == Indeterminate {
		z.expires = minTime(z.expires, l.now.Add(badTTL))
	}
	l.v.mu.Lock()
	defer l.v.mu.Unlock()
	if len(l.v.zones) > maxMemo {
		l.v.zones = map[string]zoneState{}
	}
	l.v.zones[z.name] = z
}

// anchorZone returns the keys of the anchored zone name: its DNSKEY set,
// signed by a key the anchor names.
func (l *lookup) anchorZone(name string) (zoneState, error) {
	if z, ok := l.zoneMemo(name); ok {
		l.expireBy(z.expires)
		return z, nil
	}
	anchors := l.v.anchors[name]
	var ds []*dns.DS
	var keys []*dns.DNSKEY
	for _, a := range anchors {
		switch a := a.(type) {
		case *dns.DS:
			ds = append(ds, a)
		case *dns.DNSKEY:
			keys = append(keys, a)
		}
	}
	z, err := l.keysFor(name, ds, keys, true)
	if err != nil {
		return zoneState{}, err
	}
	l.rememberZone(z)
	return z, nil
}

// keysFor fetches the DNSKEY set of zone and accepts it when a key that
// matches one of ds (or equals one of anchorKeys) signs it (RFC 4035
// section 5.2).
func (l *lookup) keysFor(zone string, ds []*dns.DS, anchorKeys []*dns.DNSKEY, isAnchor bool) (zoneState, error) {
	zs := zoneState{name: zone}
	var usableDS []*dns.DS
	for _, d := range ds {
		if supportedDigest(d.DigestType) && supportedAlgorithm(d.Algorithm) {
			usableDS = append(usableDS, d)
		}
	}
	var usableAnchors []*dns.DNSKEY
	for _, k := range anchorKeys {
		if usableKey(k) {
			usableAnchors = append(usableAnchors, k)
		}
	}
	if len(usableDS) == 0 && len(usableAnchors) == 0 {
		// RFC 6840 section 5.2 (and 4035 section 5.2): a zone whose DS
		// records all name algorithms or digests the validator does not
		// use is treated as unsigned.
		zs.sec = Insecure
		zs.reason = fmt.Sprintf("zone %s is signed only with algorithms or digests treated as insecure (%s)", zone, describeDS(ds, anchorKeys))
		zs.expires = l.now.Add(badTTL)
		return zs, nil
	}
	msg, err := l.query(zone, dns.TypeDNSKEY)
	if err != nil {
		return zoneState{}, err
	}
	var set []dns.RR
	var all []*dns.DNSKEY
	for _, rr := range rrsetOf(msg.Answer, zone, dns.TypeDNSKEY) {
		set = append(set, rr)
		all = append(all, rr.(*dns.DNSKEY))
	}
	sigs := sigsOf(msg.Answer, zone, dns.TypeDNSKEY)
	if len(set) == 0 || len(sigs) == 0 {
		if isAnchor {
			// Decision (D1): the server gives no signed key set for the
			// anchor's own zone, so it passes no DNSSEC records at all.
			// Nothing can be proven, for or against.
			zs.sec = Indeterminate
			zs.reason = fmt.Sprintf("the DNS server returns no signed DNSKEY set for trust anchor %s (it passes no DNSSEC records)", zone)
			return zs, nil
		}
		zs.sec = Bogus
		zs.reason = fmt.Sprintf("zone %s has a DS record but no signed DNSKEY set", zone)
		return zs, nil
	}
	if len(all) > maxKeys {
		zs.sec, zs.reason = Bogus, fmt.Sprintf("zone %s publishes %d keys, more than %d", zone, len(all), maxKeys)
		return zs, nil
	}
	// The keys the parent (or anchor) vouches for.
	var entry []*dns.DNSKEY
	for _, k := range all {
		if !usableKey(k) {
			continue
		}
		if matchesAnchor(k, usableDS, usableAnchors) {
			entry = append(entry, k)
		}
	}
	if len(entry) == 0 {
		zs.sec = Bogus
		zs.reason = fmt.Sprintf("no DNSKEY of zone %s matches its %s (%s)", zone, map[bool]string{true: "trust anchor", false: "DS records"}[isAnchor], describeDS(usableDS, usableAnchors))
		return zs, nil
	}
	entryState := zoneState{name: zone, keys: entry, tags: keyTags(entry)}
	v, err := l.verifyRRset(set, sigs, &entryState)
	if err != nil {
		zs.sec = Bogus
		zs.reason = fmt.Sprintf("DNSKEY set of zone %s is not signed by the key its %s names: %v", zone, map[bool]string{true: "trust anchor", false: "DS"}[isAnchor], err)
		return zs, nil
	}
	for _, k := range all {
		if usableKey(k) {
			zs.keys = append(zs.keys, k)
		}
	}
	zs.tags = keyTags(zs.keys)
	zs.sec = Secure
	zs.expires = v.expires
	return zs, nil
}

func keyTags(keys []*dns.DNSKEY) []uint16 {
	out := make([]uint16, len(keys))
	for i, k := range keys {
		out[i] = k.KeyTag()
	}
	return out
}

// matchesAnchor reports whether k is named by one of ds or equals one of
// anchors.
func matchesAnchor(k *dns.DNSKEY, ds []*dns.DS, anchors []*dns.DNSKEY) bool {
	tag := k.KeyTag()
	for _, d := range ds {
		if d.KeyTag != tag || d.Algorithm != k.Algorithm {
			continue
		}
		if c := k.ToDS(d.DigestType); c != nil && strings.EqualFold(c.Digest, d.Digest) {
			return true
		}
	}
	for _, a := range anchors {
		if a.Algorithm == k.Algorithm && a.Flags == k.Flags && a.PublicKey == k.PublicKey {
			return true
		}
	}
	return false
}

func describeDS(ds []*dns.DS, keys []*dns.DNSKEY) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, fmt.Sprintf("DS %d %s digest %d", d.KeyTag, algName(d.Algorithm), d.DigestType))
	}
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("DNSKEY %d %s", k.KeyTag(), algName(k.Algorithm)))
	}
	return strings.Join(parts, ", ")
}

// step finds out what lies at name, one label below a zone cur already
// known: the DS query there, answered and signed by cur (RFC 4035
// section 5.2; RFC 5155 section 8.6 for NSEC3).
func (l *lookup) step(name string, cur *zoneState) (step, error) {
	l.v.mu.Lock()
	st, ok := l.v.steps[name]
	l.v.mu.Unlock()
	if ok && l.now.Before(st.expires) {
		l.expireBy(st.expires)
		return st, nil
	}
	before := l.expires
	l.expires = time.Time{}
	st, err := l.stepFresh(name, cur)
	if err != nil {
		l.expires = minTime(before, l.expires)
		return step{}, err
	}
	st.expires = l.expires
	if st.expires.IsZero() || st.kind == stepBogus {
		st.expires = minTime(st.expires, l.now.Add(badTTL))
	}
	l.expires = minTime(before, st.expires)
	l.v.mu.Lock()
	if len(l.v.steps) > maxMemo {
		l.v.steps = map[string]step{}
	}
	l.v.steps[name] = st
	l.v.mu.Unlock()
	return st, nil
}

func (l *lookup) stepFresh(name string, cur *zoneState) (step, error) {
	bogus := func(format string, args ...any) (step, error) {
		return step{kind: stepBogus, zone: zoneState{name: name, sec: Bogus, reason: fmt.Sprintf(format, args...)}}, nil
	}
	msg, err := l.query(name, dns.TypeDS)
	if err != nil {
		return step{}, err
	}
	if rrset := rrsetOf(msg.Answer, name, dns.TypeDS); len(rrset) > 0 {
		sigs := sigsOf(msg.Answer, name, dns.TypeDS)
		if _, err := l.verifyRRset(rrset, sigs, cur); err != nil {
			return bogus("DS of %s: %v", name, err)
		}
		var ds []*dns.DS
		for _, rr := range rrset {
			ds = append(ds, rr.(*dns.DS))
		}
		if z, ok := l.zoneMemo(name); ok {
			l.expireBy(z.expires)
			return step{kind: stepCut, zone: z}, nil
		}
		z, err := l.keysFor(name, ds, nil, false)
		if err != nil {
			return step{}, err
		}
		if z.sec == Secure {
			l.expireBy(z.expires)
		}
		l.rememberZone(z)
		return step{kind: stepCut, zone: z}, nil
	}
	if len(rrsetOf(msg.Answer, name, dns.TypeCNAME)) > 0 {
		// A CNAME owner cannot be a zone cut, and nothing exists below it.
		return step{kind: stepNX}, nil
	}
	d, err := l.denial(name, dns.TypeDS, msg, cur)
	if err != nil {
		return bogus("no DS at %s claimed without valid proof from zone %s: %v", name, cur.name, err)
	}
	switch {
	case d.insecure != "":
		return step{kind: stepInsecure, zone: zoneState{name: name, sec: Insecure, reason: d.insecure}}, nil
	case d.nx:
		return step{kind: stepNX}, nil
	case d.delegation:
		return step{kind: stepInsecure, zone: zoneState{name: name, sec: Insecure,
			reason: fmt.Sprintf("zone %s is delegated from %s without DS: unsigned", name, cur.name)}}, nil
	}
	return step{kind: stepNone}, nil
}

// rrsetOf returns the records of type t owned by name in section.
func rrsetOf(section []dns.RR, name string, t uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range section {
		h := rr.Header()
		if h.Rrtype == t && h.Class == dns.ClassINET && equalNames(h.Name, name) {
			out = append(out, rr)
		}
	}
	return out
}

// sigsOf returns the signatures in section over name's RRset of type t.
func sigsOf(section []dns.RR, name string, t uint16) []*dns.RRSIG {
	var out []*dns.RRSIG
	for _, rr := range section {
		if s, ok := rr.(*dns.RRSIG); ok && s.TypeCovered == t && equalNames(s.Hdr.Name, name) {
			out = append(out, s)
		}
	}
	return out
}

// signerOf picks the signer to validate sigs with: the deepest signer
// name that is at or above name (RFC 4035 section 5.3.1: a signer is
// the zone holding the data; anything else cannot have signed it).
func signerOf(sigs []*dns.RRSIG, name string) (string, bool) {
	best := ""
	for _, s := range sigs {
		sn := dns.CanonicalName(s.SignerName)
		if !inZone(name, sn) {
			continue
		}
		if best == "" || dns.CountLabel(sn) > dns.CountLabel(best) {
			best = sn
		}
	}
	return best, best != ""
}

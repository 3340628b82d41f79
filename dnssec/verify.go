package dnssec

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Bounds on the work of one lookup, so that a hostile zone cannot make
// validation expensive (CVE-2023-50387, "KeyTrap"; RFC 9276 for NSEC3).
const (
	// maxKeyTries is how many keys sharing one key tag and algorithm are
	// tried for one signature: tags collide rarely by chance, and a zone
	// that publishes many colliding keys is attacking its validators.
	maxKeyTries = 4
	// maxSigsPerRRset is how many signatures of one RRset are tried.
	maxSigsPerRRset = 8
	// maxVerifications bounds the signature verifications of one lookup,
	// chain included.
	maxVerifications = 128
	// maxQueries bounds the queries of one lookup, chain included.
	maxQueries = 64
	// maxCNAMEs bounds the CNAME (and DNAME) hops followed.
	maxCNAMEs = 8
	// MaxNSEC3Iterations is the most NSEC3 hash iterations a proof may
	// ask for; a zone asking more is treated as insecure, as RFC 9276
	// section 3.2 allows (validators commonly draw the line at 100 or 150).
	MaxNSEC3Iterations = 100
	// maxDenialRecords bounds the NSEC/NSEC3 records examined per answer.
	maxDenialRecords = 32
	// maxKeys bounds the keys of a DNSKEY set that are considered.
	maxKeys = 32
)

// DefaultSkew is the clock-skew allowance on signature validity periods:
// a signature is accepted from DefaultSkew before its inception until
// DefaultSkew after its expiration, since a client's clock may be off
// (unbound allows at least an hour too).
const DefaultSkew = time.Hour

// errBudget is the bogus reason when a lookup needs more work than allowed.
var errBudget = errors.New("validation needs more work than allowed (too many queries, keys or signatures)")

// supportedAlgorithm reports whether signatures of alg are verified.
// RSASHA1 (5) and RSASHA1-NSEC3-SHA1 (7) rest on SHA-1, which no longer
// resists chosen-prefix collisions: zones signed only with them count as
// unsigned (insecure), as RFC 8624 lets validators decide. Ed448 (16) and
// GOST are not available to Go's standard library.
func supportedAlgorithm(alg uint8) bool {
	switch alg {
	case dns.RSASHA256, dns.RSASHA512, dns.ECDSAP256SHA256, dns.ECDSAP384SHA384, dns.ED25519:
		return true
	}
	return false
}

// supportedDigest reports whether DS records of digest type t are used:
// SHA-256 and SHA-384, not SHA-1 (RFC 4509 section 3 already prefers
// SHA-256; a zone with SHA-1 DS records only counts as insecure).
func supportedDigest(t uint8) bool {
	return t == dns.SHA256 || t == dns.SHA384
}

// usableKey reports whether k may verify signatures: a zone key of a
// supported algorithm, not revoked (RFC 5011 section 2.1).
func usableKey(k *dns.DNSKEY) bool {
	return k.Flags&dns.ZONE != 0 && k.Flags&dns.REVOKE == 0 && k.Protocol == 3 && supportedAlgorithm(k.Algorithm)
}

// serialTime turns a 32-bit RRSIG timestamp into the Unix time nearest
// to now (RFC 4034 section 3.1.5: serial number arithmetic, RFC 1982).
func serialTime(t uint32, now int64) int64 {
	return now + int64(int32(t-uint32(now)))
}

// checkWindow reports whether sig is valid at now, give or take skew, and
// returns its expiration time.
func checkWindow(sig *dns.RRSIG, now time.Time, skew time.Duration) (time.Time, error) {
	n := now.Unix()
	inc, exp := serialTime(sig.Inception, n), serialTime(sig.Expiration, n)
	s := int64(skew / time.Second)
	switch {
	case exp < inc:
		return time.Time{}, fmt.Errorf("signature of %s %s by %s expires before its inception", sig.Hdr.Name, dns.TypeToString[sig.TypeCovered], sig.SignerName)
	case n+s < inc:
		return time.Time{}, fmt.Errorf("signature of %s %s by %s is not valid before %s", sig.Hdr.Name, dns.TypeToString[sig.TypeCovered], sig.SignerName, time.Unix(inc, 0).UTC().Format(time.RFC3339))
	case n-s > exp:
		return time.Time{}, fmt.Errorf("signature of %s %s by %s expired at %s", sig.Hdr.Name, dns.TypeToString[sig.TypeCovered], sig.SignerName, time.Unix(exp, 0).UTC().Format(time.RFC3339))
	}
	return time.Unix(exp, 0), nil
}

// verified is what verifyRRset learnt about a verified RRset.
type verified struct {
	// labels is the signature's Labels field: fewer than the owner's
	// labels means the RRset was expanded from a wildcard (RFC 4035
	// section 5.3.4), and the answer must also prove that the name
	// itself does not exist.
	labels  int
	wild    bool
	expires time.Time
}

// verifyRRset checks that one of sigs, made by a key of the secure zone
// zs, verifies rrset now (RFC 4035 section 5.3). It returns why not.
func (l *lookup) verifyRRset(rrset []dns.RR, sigs []*dns.RRSIG, zs *zoneState) (verified, error) {
	if len(rrset) == 0 {
		return verified{}, errors.New("empty RRset")
	}
	h := rrset[0].Header()
	what := h.Name + " " + dns.TypeToString[h.Rrtype]
	if !inZone(h.Name, zs.name) {
		return verified{}, fmt.Errorf("%s is outside zone %s", what, zs.name)
	}
	var lastErr error
	tried := 0
	for _, sig := range sigs {
		if sig.TypeCovered != h.Rrtype || !equalNames(sig.SignerName, zs.name) || !equalNames(sig.Hdr.Name, h.Name) {
			continue
		}
		if tried++; tried > maxSigsPerRRset {
			break
		}
		if !supportedAlgorithm(sig.Algorithm) {
			lastErr = fmt.Errorf("signature of %s uses algorithm %s, not supported", what, algName(sig.Algorithm))
			continue
		}
		owner := dns.CountLabel(h.Name)
		if strings.HasPrefix(h.Name, "*.") {
			owner-- // RFC 4034 section 3.1.3: the wildcard label is not counted
		}
		if int(sig.Labels) > owner {
			lastErr = fmt.Errorf("signature of %s claims %d labels", what, sig.Labels)
			continue
		}
		exp, err := checkWindow(sig, l.now, l.v.skew())
		if err != nil {
			lastErr = err
			continue
		}
		keys := 0
		for i, k := range zs.keys {
			if zs.tags[i] != sig.KeyTag || k.Algorithm != sig.Algorithm {
				continue
			}
			if keys++; keys > maxKeyTries {
				break
			}
			if err := l.spend(); err != nil {
				return verified{}, err
			}
			if err := sig.Verify(k, rrset); err != nil {
				lastErr = fmt.Errorf("signature of %s by %s key %d does not verify: %v", what, zs.name, sig.KeyTag, err)
				continue
			}
			v := verified{labels: int(sig.Labels), wild: int(sig.Labels) < owner, expires: exp}
			ttl := sig.OrigTtl
			for _, rr := range rrset {
				ttl = min(ttl, rr.Header().Ttl)
			}
			v.expires = minTime(v.expires, l.now.Add(time.Duration(ttl)*time.Second))
			l.expireBy(v.expires)
			return v, nil
		}
		if keys == 0 {
			lastErr = fmt.Errorf("signature of %s names key %d (algorithm %s), which zone %s does not have", what, sig.KeyTag, algName(sig.Algorithm), zs.name)
		}
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("%s has no signature by zone %s", what, zs.name)
	}
	return verified{}, lastErr
}

// spend counts one signature verification against the lookup's budget.
func (l *lookup) spend() error {
	l.verifications++
	if l.verifications > maxVerifications {
		return errBudget
	}
	return nil
}

func algName(a uint8) string {
	if s, ok := dns.AlgorithmToString[a]; ok {
		return s
	}
	return fmt.Sprint(a)
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

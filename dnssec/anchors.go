package dnssec

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/miekg/dns"
)

// rootAnchors are the DS records of the IANA root zone key-signing keys
// (KSK-2017, key tag 20326, and KSK-2024, key tag 38696; both RSA/SHA-256,
// SHA-256 digests), as published in IANA's root-anchors.xml
// (https://data.iana.org/root-anchors/root-anchors.xml). The digests were
// checked when they were embedded against several independent copies of
// that file, and recomputed from the two root DNSKEY records themselves;
// TestRootAnchors_MatchRootKeys repeats that computation.
var rootAnchors = []string{
	". 172800 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
	". 172800 IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",
}

// RootAnchors returns the built-in trust anchors: the DS records of the
// IANA root zone's key-signing keys. The slice is new on every call.
func RootAnchors() []dns.RR {
	out := make([]dns.RR, 0, len(rootAnchors))
	for _, s := range rootAnchors {
		rr, err := dns.NewRR(s)
		if err != nil {
			panic("dnssec: bad built-in anchor: " + err.Error())
		}
		out = append(out, rr)
	}
	return out
}

// maxAnchorRecords bounds an anchor file: real ones hold a handful.
const maxAnchorRecords = 1024

// ParseAnchors reads trust anchors in zone-file presentation format, DS
// or DNSKEY records ("example. IN DS 12345 13 2 ABCD..."), as hacx
// --trust-anchor files and unbound's trust-anchor-file hold them.
// Comments, blank lines, $ORIGIN and $TTL are allowed; any other record
// type, a DNSKEY that is not a zone key, and $INCLUDE are errors (an
// anchor file must say what it anchors, nothing else). file names the
// input in error messages.
func ParseAnchors(r io.Reader, file string) ([]dns.RR, error) {
	zp := dns.NewZoneParser(r, ".", file)
	zp.SetIncludeAllowed(false)
	// Anchor files often give no TTL (unbound's ". DS ..." lines); it
	// means nothing for an anchor.
	zp.SetDefaultTTL(3600)
	var out []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		switch a := rr.(type) {
		case *dns.DS:
			if len(a.Digest) == 0 {
				return nil, fmt.Errorf("dnssec: %s: DS %s without digest", file, a.Hdr.Name)
			}
		case *dns.DNSKEY:
			if a.Flags&dns.ZONE == 0 || a.Protocol != 3 {
				return nil, fmt.Errorf("dnssec: %s: DNSKEY %s is not a zone key (flags %d, protocol %d)", file, a.Hdr.Name, a.Flags, a.Protocol)
			}
		default:
			return nil, fmt.Errorf("dnssec: %s: %s %s is not a trust anchor (want DS or DNSKEY)", file, rr.Header().Name, dns.TypeToString[rr.Header().Rrtype])
		}
		if rr.Header().Class != dns.ClassINET {
			return nil, fmt.Errorf("dnssec: %s: %s: class %s, want IN", file, rr.Header().Name, dns.ClassToString[rr.Header().Class])
		}
		rr.Header().Name = dns.CanonicalName(rr.Header().Name)
		out = append(out, rr)
		if len(out) > maxAnchorRecords {
			return nil, fmt.Errorf("dnssec: %s: more than %d anchors", file, maxAnchorRecords)
		}
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("dnssec: %w", err) // the parser's error names the file
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("dnssec: %s: %w", file, errNoAnchor)
	}
	return out, nil
}

var errNoAnchor = errors.New("no DS or DNSKEY record")

// anchorSet indexes anchors by owner name.
type anchorSet map[string][]dns.RR

func newAnchorSet(rrs []dns.RR) anchorSet {
	s := anchorSet{}
	for _, rr := range rrs {
		switch rr.(type) {
		case *dns.DS, *dns.DNSKEY:
			n := dns.CanonicalName(rr.Header().Name)
			s[n] = append(s[n], rr)
		}
	}
	return s
}

// closest returns the anchor name closest to (an ancestor of, or equal
// to) name: the one validation of name starts from.
func (s anchorSet) closest(name string) (string, bool) {
	name = dns.CanonicalName(name)
	for {
		if _, ok := s[name]; ok {
			return name, true
		}
		if name == "." {
			return "", false
		}
		name = parentName(name)
	}
}

// describe is an anchor set's names, for messages.
func (s anchorSet) describe() string {
	var names []string
	for n := range s {
		names = append(names, n)
	}
	return strings.Join(names, " ")
}

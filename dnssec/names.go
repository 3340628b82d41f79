package dnssec

import (
	"bytes"

	"github.com/miekg/dns"
)

// Names in this package are fully qualified and compared without regard
// to ASCII case, as DNS does (RFC 4343).

// equalNames reports whether a and b are the same DNS name.
func equalNames(a, b string) bool {
	return dns.CanonicalName(a) == dns.CanonicalName(b)
}

// inZone reports whether name is zone or below it.
func inZone(name, zone string) bool {
	return dns.IsSubDomain(dns.Fqdn(zone), dns.Fqdn(name))
}

// parentName is name without its first label; the root's parent is the root.
func parentName(name string) string {
	name = dns.Fqdn(name)
	if name == "." {
		return "."
	}
	i, end := dns.NextLabel(name, 0)
	if end {
		return "."
	}
	return name[i:]
}

// below returns the names from just below top down to name itself, one
// label at a time: below("test.", "a.b.test.") = ["b.test.", "a.b.test."].
// name must be at or below top.
func below(top, name string) []string {
	top, name = dns.CanonicalName(top), dns.CanonicalName(name)
	var out []string
	for n := name; n != top && n != "."; n = parentName(n) {
		out = append(out, n)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// ancestorAt is the ancestor-or-self of name with exactly labels labels.
func ancestorAt(name string, labels int) string {
	name = dns.Fqdn(name)
	idx := dns.Split(name)
	if name == "." || labels <= 0 {
		return "."
	}
	if labels >= len(idx) {
		return name
	}
	return name[idx[len(idx)-labels]:]
}

// commonAncestor is the deepest name that is an ancestor-or-self of both.
func commonAncestor(a, b string) string {
	n := dns.CompareDomainName(a, b)
	return ancestorAt(a, n)
}

// wireLabels returns name's labels in wire form, lower-cased, from the
// leftmost to the rightmost (the root's empty label left out), or nil for
// a name that cannot be packed.
func wireLabels(name string) [][]byte {
	buf := make([]byte, 256)
	off, err := dns.PackDomainName(dns.Fqdn(name), buf, 0, nil, false)
	if err != nil {
		return nil
	}
	buf = buf[:off]
	var out [][]byte
	for i := 0; i < len(buf) && buf[i] != 0; {
		l := int(buf[i])
		if i+1+l > len(buf) {
			return nil
		}
		label := bytes.ToLower(buf[i+1 : i+1+l])
		out = append(out, label)
		i += 1 + l
	}
	return out
}

// canonicalCompare orders names as RFC 4034 section 6.1 does for NSEC
// chains: label by label from the right, each label compared as
// lower-cased octets, a missing label sorting first.
func canonicalCompare(a, b string) int {
	la, lb := wireLabels(a), wireLabels(b)
	for i, j := len(la)-1, len(lb)-1; ; i, j = i-1, j-1 {
		switch {
		case i < 0 && j < 0:
			return 0
		case i < 0:
			return -1
		case j < 0:
			return 1
		}
		if c := bytes.Compare(la[i], lb[j]); c != 0 {
			return c
		}
	}
}

package hacx

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// HashSHA256 is the IANA name of sha-256: NewPin's default, and the one
// hash that HPKP (RFC 7469, X6) and Host Meta 2 (X3) pin with.
const HashSHA256 = "sha-256"

// Pin is one <public-key-pin> element: digests of a single public key
// (DER SubjectPublicKeyInfo) under one or more hash functions (A9).
type Pin struct {
	Digests []Digest
}

// Digest is one attribute of a <public-key-pin>: an IANA hash name and the
// hash of the key.
type Digest struct {
	Hash  string // IANA "Hash Function Textual Name", lower case, e.g. "sha-256"
	Value []byte
}

// HashInfo describes a hash function from the IANA "Hash Function Textual
// Names" registry.
type HashInfo struct {
	Name string
	Size int  // digest length in bytes
	Weak bool // too weak to trust: pins using it are ignored (A9)
	// Strength orders usable hashes so that only the strongest digest of a
	// pin needs checking (A9); 0 for weak hashes.
	Strength int
	sum      func([]byte) []byte
}

// hashes is the IANA registry as of 2026; shake128/256 use the output sizes
// RFC 8702 fixes for them.
var hashes = map[string]*HashInfo{
	"md2":      {Name: "md2", Size: 16, Weak: true},
	"md5":      {Name: "md5", Size: 16, Weak: true},
	"sha-1":    {Name: "sha-1", Size: 20, Weak: true},
	"sha-224":  {Name: "sha-224", Size: 28, Strength: 1, sum: func(b []byte) []byte { s := sha256.Sum224(b); return s[:] }},
	"sha-256":  {Name: "sha-256", Size: 32, Strength: 2, sum: func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }},
	"shake128": {Name: "shake128", Size: 32, Strength: 2, sum: func(b []byte) []byte { return sha3.SumSHAKE128(b, 32) }},
	"sha-384":  {Name: "sha-384", Size: 48, Strength: 3, sum: func(b []byte) []byte { s := sha512.Sum384(b); return s[:] }},
	"sha-512":  {Name: "sha-512", Size: 64, Strength: 4, sum: func(b []byte) []byte { s := sha512.Sum512(b); return s[:] }},
	"shake256": {Name: "shake256", Size: 64, Strength: 4, sum: func(b []byte) []byte { return sha3.SumSHAKE256(b, 64) }},
}

// LookupHash returns the registry entry for an IANA hash name (any case), or
// nil when the name is not registered.
func LookupHash(name string) *HashInfo { return hashes[strings.ToLower(name)] }

// Sum hashes data with h. It returns nil for weak hashes, which are never
// computed because their pins are ignored.
func (h *HashInfo) Sum(data []byte) []byte {
	if h == nil || h.sum == nil {
		return nil
	}
	return h.sum(data)
}

// Strongest returns the usable digest with the strongest hash, or false
// when the pin has none (all weak or unknown): such a pin can never match.
func (p Pin) Strongest() (Digest, bool) {
	var best Digest
	strength := 0
	for _, d := range p.Digests {
		if h := LookupHash(d.Hash); h != nil && !h.Weak && h.Strength > strength && len(d.Value) == h.Size {
			best, strength = d, h.Strength
		}
	}
	return best, strength > 0
}

// Usable reports whether the pin has a digest that can be checked.
func (p Pin) Usable() bool {
	_, ok := p.Strongest()
	return ok
}

// MatchesSPKI reports whether the pin describes the key whose DER
// SubjectPublicKeyInfo is spki, judged by its strongest usable digest (A9).
func (p Pin) MatchesSPKI(spki []byte) bool {
	d, ok := p.Strongest()
	if !ok {
		return false
	}
	sum := LookupHash(d.Hash).Sum(spki)
	return sum != nil && string(sum) == string(d.Value)
}

// MatchesCert reports whether the pin describes cert's public key.
func (p Pin) MatchesCert(cert *x509.Certificate) bool {
	return p.MatchesSPKI(cert.RawSubjectPublicKeyInfo)
}

// Digest returns the value of p's digest under the named hash (any case),
// or nil when p has none.
func (p Pin) Digest(hash string) []byte {
	h := LookupHash(hash)
	if h == nil {
		return nil
	}
	for _, d := range p.Digests {
		if strings.EqualFold(d.Hash, h.Name) {
			return d.Value
		}
	}
	return nil
}

// KeySHA256 returns the sha-256 digest of cert's public key, its DER
// SubjectPublicKeyInfo: the value of a sha-256 pin (A9), of an HPKP
// pin-sha256 directive (RFC 7469, X6) and of a Host Meta 2
// public-key-pins-sha-256 entry (X3), before EncodeDigest.
func KeySHA256(cert *x509.Certificate) []byte {
	return hashes[HashSHA256].Sum(cert.RawSubjectPublicKeyInfo)
}

// EncodeDigest writes a digest as every pin format does: standard base64
// with padding (A9; RFC 7469 section 2.1.1; X3).
func EncodeDigest(sum []byte) string { return base64.StdEncoding.EncodeToString(sum) }

// strictDigest is made once: Strict returns a new Encoding on each call.
var strictDigest = base64.StdEncoding.Strict()

// DecodeDigest reads a digest written as EncodeDigest writes it, strictly
// (RFC 4648 section 3.5: no stray padding bits), so that one digest has
// one spelling wherever pins are compared as text. It does not check the
// length, which depends on the hash.
func DecodeDigest(s string) ([]byte, error) { return strictDigest.DecodeString(s) }

// ParsePin reads a pin in the form String writes: one or more
// space-separated NAME=BASE64 digests of one key, such as
// "sha-256=AbC...=". Every name must be a usable IANA hash name (weak ones
// are refused, A9) and every value a digest of that hash's size. The
// base64 is read leniently (stray padding bits allowed), as operators
// paste it; Pin renders it canonically. Failures are *PinSyntaxError.
func ParsePin(s string) (Pin, error) {
	fail := func(format string, a ...any) (Pin, error) {
		return Pin{}, &PinSyntaxError{Text: s, Msg: fmt.Sprintf(format, a...)}
	}
	var p Pin
	for _, f := range strings.Fields(s) {
		name, val, _ := strings.Cut(f, "=")
		h := LookupHash(name)
		switch {
		case h == nil:
			return fail("%q is not an IANA hash name", name)
		case h.Weak:
			return fail("%s is too weak to pin with (A9); use %s", h.Name, HashSHA256)
		}
		sum, err := base64.StdEncoding.DecodeString(val)
		if err != nil {
			return fail("%s value is not base64: %v", h.Name, err)
		}
		if len(sum) != h.Size {
			return fail("%s value is %d bytes, want %d", h.Name, len(sum), h.Size)
		}
		p.Digests = append(p.Digests, Digest{Hash: h.Name, Value: sum})
	}
	if len(p.Digests) == 0 {
		return fail("no digest: a pin is NAME=BASE64, such as %s=...", HashSHA256)
	}
	return p, nil
}

// PinSyntaxError reports text that ParsePin cannot read as a pin.
type PinSyntaxError struct {
	Text string // the text given
	Msg  string // what is wrong with it, e.g. "sha-1 is too weak to pin with (A9); use sha-256"
}

func (e *PinSyntaxError) Error() string { return "hacx: pin " + strconv.Quote(e.Text) + ": " + e.Msg }

// NewPin returns a pin for the key of cert, with one digest per named hash
// (sha-256 when none is named).
func NewPin(cert *x509.Certificate, hashNames ...string) (Pin, error) {
	return NewPinSPKI(cert.RawSubjectPublicKeyInfo, hashNames...)
}

// NewPinSPKI is NewPin for a DER SubjectPublicKeyInfo.
func NewPinSPKI(spki []byte, hashNames ...string) (Pin, error) {
	if len(hashNames) == 0 {
		hashNames = []string{HashSHA256}
	}
	var p Pin
	for _, n := range hashNames {
		h := LookupHash(n)
		if h == nil || h.sum == nil {
			return Pin{}, &PinHashError{Name: n}
		}
		p.Digests = append(p.Digests, Digest{Hash: h.Name, Value: h.Sum(spki)})
	}
	return p, nil
}

// PinHashError reports a hash name that cannot be used to make a pin.
type PinHashError struct{ Name string }

func (e *PinHashError) Error() string {
	if h := LookupHash(e.Name); h != nil && h.Weak {
		return "hacx: pin hash " + e.Name + " is too weak (A9)"
	}
	return "hacx: unknown pin hash " + e.Name + " (not in the IANA registry)"
}

// Element renders the pin as the <public-key-pin/> element of a document
// (A9), one attribute per digest; Marshal writes pins this way.
func (p Pin) Element() string {
	var b bytes.Buffer
	p.writeElement(&b)
	return b.String()
}

func (p Pin) writeElement(b *bytes.Buffer) {
	b.WriteString("<public-key-pin")
	for _, dg := range p.Digests {
		attr(b, dg.Hash, EncodeDigest(dg.Value))
	}
	b.WriteString("/>")
}

// String renders the pin as its attributes would appear in a document.
func (p Pin) String() string {
	var b strings.Builder
	for i, d := range p.Digests {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(d.Hash + "=" + EncodeDigest(d.Value))
	}
	return b.String()
}

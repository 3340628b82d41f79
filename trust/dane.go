package trust

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/dns"

	"hacx.dev/hacx"
)

// ErrNoUsableTLSA means the TLSA set held no record this package can use
// (X4, RFC 7671 §4.1): the caller falls back to WebPKI.
var ErrNoUsableTLSA = errors.New("trust: no usable TLSA record")

// ErrBogus means a validating resolver could not validate the TLSA answer
// (SERVFAIL from a resolver trusted to validate, X4). RFC 6698 §4.1 says
// to abort TLS then: a forger who breaks the signatures must not win a
// fall-back to WebPKI.
var ErrBogus = errors.New("trust: DNSSEC validation failed (bogus answer)")

// TLSA parameters (RFC 6698 §2.1, RFC 7218 acronyms).
const (
	usagePKIXTA = 0
	usagePKIXEE = 1
	usageDANETA = 2
	usageDANEEE = 3

	selectorCert = 0
	selectorSPKI = 1

	matchFull   = 0
	matchSHA256 = 1
	matchSHA512 = 2
)

// tlsaRecord is a TLSA record whose parameters are all understood.
type tlsaRecord struct {
	usage, selector, matching uint8
	data                      []byte
	rr                        *dns.TLSA
}

// usableTLSA decodes rr, or reports false when RFC 7671 §4.1 says it must be
// treated as unusable: an unknown usage, selector or matching type, or
// association data that cannot be what the matching type says.
func usableTLSA(rr *dns.TLSA) (tlsaRecord, bool) {
	if rr == nil || rr.Usage > usageDANEEE || rr.Selector > selectorSPKI || rr.MatchingType > matchSHA512 {
		return tlsaRecord{}, false
	}
	// hex.DecodeString accepts either case: presentation format is
	// case-insensitive, unlike the comparison in miekg/dns TLSA.Verify.
	data, err := hex.DecodeString(rr.Certificate)
	if err != nil || len(data) == 0 {
		return tlsaRecord{}, false
	}
	switch rr.MatchingType {
	case matchSHA256:
		if len(data) != sha256.Size {
			return tlsaRecord{}, false
		}
	case matchSHA512:
		if len(data) != sha512.Size {
			return tlsaRecord{}, false
		}
	}
	return tlsaRecord{usage: rr.Usage, selector: rr.Selector, matching: rr.MatchingType, data: data, rr: rr}, true
}

func (t tlsaRecord) matches(c *x509.Certificate) bool {
	if c == nil {
		return false
	}
	in := c.Raw
	if t.selector == selectorSPKI {
		in = c.RawSubjectPublicKeyInfo
	}
	switch t.matching {
	case matchSHA256:
		s := sha256.Sum256(in)
		return bytes.Equal(s[:], t.data)
	case matchSHA512:
		s := sha512.Sum512(in)
		return bytes.Equal(s[:], t.data)
	default:
		return bytes.Equal(in, t.data)
	}
}

func (t tlsaRecord) String() string {
	return fmt.Sprintf("%d %d %d %s", t.usage, t.selector, t.matching, strings.ToLower(hex.EncodeToString(t.data)))
}

// VerifyDANE checks certs (leaf first) against a DNSSEC-validated TLSA set
// (X4, RFC 6698/7671). The caller must pass only records from a secure
// (AD) answer. One matching record is enough.
//
// Usages: 0 PKIX-TA and 1 PKIX-EE also need VerifyWebPKI to pass (for
// PKIX-TA the matching certificate must be in a verified chain); 2 DANE-TA
// needs the chain to verify up to a certificate matching the record (a
// presented one, the record itself when it holds a full certificate, or one
// from opts.Roots) plus the name check; 3 DANE-EE needs only the leaf to
// match, with no name or expiry check (RFC 7671 §5.1). Selectors 0 cert,
// 1 SPKI; matching types 0 full, 1 sha-256, 2 sha-512.
//
// Records with unknown parameters are unusable; with no usable record the
// result is ErrNoUsableTLSA, and with usable records none of which matches
// it is a *DANEError.
func VerifyDANE(tlsa []*dns.TLSA, certs []*x509.Certificate, opts VerifyOptions) error {
	var recs []tlsaRecord
	for _, rr := range tlsa {
		if r, ok := usableTLSA(rr); ok {
			recs = append(recs, r)
		}
	}
	if len(recs) == 0 {
		return ErrNoUsableTLSA
	}
	fail := func(err error) error {
		e := &DANEError{Err: err}
		for _, r := range recs {
			e.Records = append(e.Records, r.String())
		}
		if len(certs) > 0 && certs[0] != nil {
			e.Leaf = hex.EncodeToString(hacx.KeySHA256(certs[0]))
		}
		return e
	}
	if len(certs) == 0 || certs[0] == nil {
		return fail(errNoCerts)
	}
	leaf := certs[0]

	// WebPKI is computed at most once, and only if a PKIX record needs it.
	var (
		webDone   bool
		webChains [][]*x509.Certificate
		webErr    error
	)
	webPKI := func() ([][]*x509.Certificate, error) {
		if !webDone {
			webChains, webErr = VerifyWebPKI(certs, opts)
			webDone = true
		}
		return webChains, webErr
	}
	var lastErr error
	for _, r := range recs {
		switch r.usage {
		case usageDANEEE:
			// RFC 7671 §5.1: the key is the identity; names and dates
			// are not checked.
			if r.matches(leaf) {
				return nil
			}
		case usagePKIXEE:
			if r.matches(leaf) {
				if _, err := webPKI(); err != nil {
					lastErr = err
					continue
				}
				return nil
			}
		case usagePKIXTA:
			chains, err := webPKI()
			if err != nil {
				if anyMatch(r, certs[1:]) {
					lastErr = err
				}
				continue
			}
			for _, ch := range chains {
				if anyMatch(r, ch[1:]) {
					return nil
				}
			}
		case usageDANETA:
			err := verifyDANETA(r, certs, opts)
			if err == nil {
				return nil
			}
			if !errors.Is(err, errNoAnchor) {
				lastErr = err
			}
		}
	}
	return fail(lastErr)
}

func anyMatch(r tlsaRecord, certs []*x509.Certificate) bool {
	for _, c := range certs {
		if r.matches(c) {
			return true
		}
	}
	return false
}

var errNoAnchor = errors.New("trust: no certificate matches the DANE-TA record")

// verifyDANETA checks one usage-2 record: the chain must verify from the
// leaf up to a certificate matching the record, which then serves as the
// only trust anchor (RFC 7671 §5.2), and the leaf must carry an acceptable
// name.
func verifyDANETA(r tlsaRecord, certs []*x509.Certificate, opts VerifyOptions) error {
	// RFC 7671 §5.2.2: a "2 0 0" record carries the anchor itself, which the
	// server may then omit from its chain.
	var extra []*x509.Certificate
	if r.selector == selectorCert && r.matching == matchFull {
		if c, err := x509.ParseCertificate(r.data); err == nil {
			extra = append(extra, c)
		}
	}
	ok, _, chainErr := anchoredChain(certs, opts, r.matches, extra...)
	switch {
	case ok:
		return verifyName(certs[0], opts.Names)
	case chainErr != nil:
		return chainErr
	}
	return errNoAnchor
}

// DANEError reports that a usable TLSA set did not authenticate the peer
// (X4: a secure TLSA set with no matching record is a failure).
type DANEError struct {
	Records []string // the usable records: "usage selector matching hex"
	Leaf    string   // sha-256 of the presented leaf's SPKI, hex
	Err     error    // the last chain or name error met, if any
}

func (e *DANEError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "trust: DANE (X4): none of %d usable TLSA records authenticates the peer [%s]; leaf SPKI sha-256 %s",
		len(e.Records), strings.Join(e.Records, ", "), e.Leaf)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *DANEError) Unwrap() error { return e.Err }

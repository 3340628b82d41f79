package trust

import (
	"crypto/x509"
	"errors"

	"github.com/miekg/dns"
)

// ErrNoUsableTLSA means the TLSA set held no record this package can use
// (X4, RFC 7671 §4.1): the caller falls back to WebPKI.
var ErrNoUsableTLSA = errors.New("trust: no usable TLSA record")

// VerifyDANE checks certs (leaf first) against a DNSSEC-validated TLSA set
// (X4, RFC 6698/7671). Usages: 0 PKIX-TA and 1 PKIX-EE (both also need
// VerifyWebPKI to pass), 2 DANE-TA (chain to a presented or anchor cert
// matching the record, plus name check), 3 DANE-EE (leaf key or cert match,
// no name or expiry check). Selectors 0 cert, 1 SPKI; matching types 0 full,
// 1 sha-256, 2 sha-512 (hex compared case-insensitively). Records with
// unknown parameters are unusable; with no usable record the result is
// ErrNoUsableTLSA, and with usable records none of which matches it is a
// *DANEError.
func VerifyDANE(tlsa []*dns.TLSA, certs []*x509.Certificate, opts VerifyOptions) error {
	return errNotImplemented
}

// DANEError reports that a usable TLSA set did not authenticate the peer.
type DANEError struct {
	Records []string // the usable records, presentation format (usage selector matching data)
	Leaf    string   // sha-256 of the leaf SPKI, hex
	Err     error    // e.g. the WebPKI error for usages 0/1
}

func (e *DANEError) Error() string { return "trust: DANE check failed" }

func (e *DANEError) Unwrap() error { return e.Err }

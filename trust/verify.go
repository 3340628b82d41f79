package trust

import (
	"crypto/x509"
	"errors"
	"time"

	"hacx.dev/hacx"
)

var errNotImplemented = errors.New("trust: not implemented")

// VerifyOptions says what a certificate chain is checked against. The zero
// value verifies against the system roots, at the current time, and accepts
// no name (so WebPKI and CA-pin checks fail until Names is set).
type VerifyOptions struct {
	// Roots are the trust anchors; nil means the system roots.
	Roots *x509.CertPool
	// Names are the acceptable DNS names (A10: the XMPP domain; for
	// websocket/bosh also the URL host). The leaf must be valid for one.
	Names []string
	// Now is the verification time; zero means time.Now().
	Now time.Time
}

// VerifyWebPKI verifies certs (the presented chain, leaf first) the way a
// browser would (A10): a chain to one of opts.Roots, valid at opts.Now, for
// server authentication, with a leaf valid for any of opts.Names. It returns
// the verified chains.
func VerifyWebPKI(certs []*x509.Certificate, opts VerifyOptions) ([][]*x509.Certificate, error) {
	return nil, errNotImplemented
}

// VerifyPins enforces the <public-key-pin> elements of a record (A9) on
// certs, the presented chain, leaf first.
//
// A pin matching the leaf key replaces CA validation: self-signed is fine and
// neither names nor validity dates are checked. A pin on a CA key counts only
// if the presented chain is cryptographically verified from the leaf up to a
// certificate with that key (the anchor, found in the presented chain or in
// opts.Roots) and the leaf is valid for one of opts.Names. Pins with only
// weak (md2/md5/sha-1) or unknown hashes are ignored; when no pin is usable
// the check fails closed. Failures are *PinError.
func VerifyPins(pins []hacx.Pin, certs []*x509.Certificate, opts VerifyOptions) error {
	return errNotImplemented
}

// PinError reports that no usable pin matched the presented chain (A9).
type PinError struct {
	// Expected are the usable pins, rendered as in a document.
	Expected []string
	// Presented are base64 sha-256 digests of the presented keys'
	// SubjectPublicKeyInfo, leaf first.
	Presented []string
	// Reason says why, e.g. "no usable pin" or "no pin matches".
	Reason string
	// Err is an underlying chain or name error, if any.
	Err error
}

func (e *PinError) Error() string { return "trust: pin check failed" }

func (e *PinError) Unwrap() error { return e.Err }

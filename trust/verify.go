package trust

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"hacx.dev/hacx"
)

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

func (o VerifyOptions) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

// errNoCerts is returned when the peer presented no certificate at all.
var errNoCerts = errors.New("trust: no certificate presented")

// VerifyWebPKI verifies certs (the presented chain, leaf first) the way a
// browser would (A10): a chain to one of opts.Roots, valid at opts.Now, for
// server authentication, with a leaf valid for any of opts.Names. It returns
// the verified chains. Errors wrap the crypto/x509 error
// (x509.UnknownAuthorityError, x509.CertificateInvalidError,
// x509.HostnameError) so callers can errors.As them.
func VerifyWebPKI(certs []*x509.Certificate, opts VerifyOptions) ([][]*x509.Certificate, error) {
	chains, err := verifyChain(certs, opts.Roots, opts.now())
	if err != nil {
		return nil, fmt.Errorf("trust: WebPKI: %w", err)
	}
	if err := verifyName(certs[0], opts.Names); err != nil {
		return nil, fmt.Errorf("trust: WebPKI: %w", err)
	}
	return chains, nil
}

// anchoredChain reports whether certs verify from the leaf up to a
// certificate isAnchor accepts (a pinned CA key, A9; a DANE-TA record,
// X4): each accepted certificate presented, or given in extra, is tried as
// the only trust anchor, so the anchor holds even for a private CA not in
// opts.Roots; failing that, one in a chain verified to opts.Roots (a root
// the server did not send). Names are not checked. candidate says some
// presented or extra certificate was accepted; chainErr is why the last
// such chain did not verify.
func anchoredChain(certs []*x509.Certificate, opts VerifyOptions, isAnchor func(*x509.Certificate) bool, extra ...*x509.Certificate) (ok, candidate bool, chainErr error) {
	now := opts.now()
	for _, c := range append(certs[1:len(certs):len(certs)], extra...) {
		if c == nil || !isAnchor(c) {
			continue
		}
		candidate = true
		anchor := x509.NewCertPool()
		anchor.AddCert(c)
		if _, err := verifyChain(certs, anchor, now); err != nil {
			chainErr = err
			continue
		}
		return true, true, nil
	}
	if chains, err := verifyChain(certs, opts.Roots, now); err == nil {
		for _, ch := range chains {
			for _, c := range ch[1:] {
				if isAnchor(c) {
					return true, candidate, nil
				}
			}
		}
	}
	return false, candidate, chainErr
}

// verifyChain builds chains from certs[0] to roots using certs[1:] as
// intermediates. Names are checked separately (verifyName) because A10
// accepts any of several names and x509 takes only one.
func verifyChain(certs []*x509.Certificate, roots *x509.CertPool, now time.Time) ([][]*x509.Certificate, error) {
	if len(certs) == 0 || certs[0] == nil {
		return nil, errNoCerts
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		if c != nil {
			inter.AddCert(c)
		}
	}
	return certs[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
}

// NameError reports a certificate that is valid for none of the acceptable
// names (A10).
type NameError struct {
	Names []string // acceptable names
	Cert  []string // DNS names and IP addresses in the certificate
}

func (e *NameError) Error() string {
	if len(e.Names) == 0 {
		return "trust: no acceptable name given to check the certificate against"
	}
	return fmt.Sprintf("trust: certificate for [%s] is not valid for any of [%s]",
		strings.Join(e.Cert, " "), strings.Join(e.Names, " "))
}

func verifyName(leaf *x509.Certificate, names []string) error {
	for _, n := range names {
		if n != "" && leaf.VerifyHostname(n) == nil {
			return nil
		}
	}
	e := &NameError{Names: names, Cert: append([]string(nil), leaf.DNSNames...)}
	for _, ip := range leaf.IPAddresses {
		e.Cert = append(e.Cert, ip.String())
	}
	return e
}

// VerifyPins enforces the <public-key-pin> elements of a record (A9) on
// certs, the presented chain, leaf first.
//
// A pin matching the leaf key replaces CA validation: self-signed is fine and
// neither names nor validity dates are checked. A pin on a CA key counts only
// if the presented chain is cryptographically verified from the leaf up to a
// certificate with that key (the anchor, found in the presented chain or in
// opts.Roots), valid at opts.Now, and the leaf is valid for one of
// opts.Names. Pins with only weak (md2/md5/sha-1) or unknown hashes are
// ignored; when no pin is usable the check fails closed. Failures are
// *PinError.
func VerifyPins(pins []hacx.Pin, certs []*x509.Certificate, opts VerifyOptions) error {
	var usable []hacx.Pin
	for _, p := range pins {
		if p.Usable() {
			usable = append(usable, p)
		}
	}
	fail := func(reason string, err error) error {
		e := &PinError{Reason: reason, Err: err}
		for _, p := range usable {
			e.Expected = append(e.Expected, p.String())
		}
		for _, c := range certs {
			if c != nil {
				e.Presented = append(e.Presented, spkiSHA256(c))
			}
		}
		return e
	}
	// A9 Decision: a record whose pins are all weak or unknown fails
	// closed rather than silently falling back to WebPKI.
	if len(usable) == 0 {
		return fail("no usable pin (all weak or unknown hashes)", nil)
	}
	if len(certs) == 0 || certs[0] == nil {
		return fail("no certificate presented", nil)
	}
	matches := func(c *x509.Certificate) bool {
		for _, p := range usable {
			if p.MatchesCert(c) {
				return true
			}
		}
		return false
	}
	leaf := certs[0]
	// A9: a pin on the leaf key replaces CA validation entirely.
	if matches(leaf) {
		return nil
	}
	// A9: a pinned CA key counts only when the chain verifies from the leaf
	// up to the certificate with that key.
	ok, caPinned, chainErr := anchoredChain(certs, opts, matches)
	if ok {
		if err := verifyName(leaf, opts.Names); err != nil {
			return fail("pinned CA key verified but name check failed", err)
		}
		return nil
	}
	if caPinned {
		return fail("a presented CA certificate matches a pin but the chain does not verify up to it", chainErr)
	}
	return fail("no pin matches the presented keys", nil)
}

// spkiSHA256 is the base64 sha-256 of cert's SubjectPublicKeyInfo: the form
// pins are written in, so a mismatch message can be compared by eye.
func spkiSHA256(c *x509.Certificate) string {
	return hacx.EncodeDigest(hacx.KeySHA256(c))
}

// PinError reports that no usable pin matched the presented chain (A9).
type PinError struct {
	// Expected are the usable pins, rendered as in a document.
	Expected []string
	// Presented are base64 sha-256 digests of the presented keys'
	// SubjectPublicKeyInfo, leaf first.
	Presented []string
	// Reason says why, e.g. "no pin matches the presented keys".
	Reason string
	// Err is an underlying chain or name error, if any.
	Err error
}

func (e *PinError) Error() string {
	var b strings.Builder
	b.WriteString("trust: public-key-pin (A9): ")
	b.WriteString(e.Reason)
	b.WriteString("; expected [")
	b.WriteString(strings.Join(e.Expected, " | "))
	b.WriteString("], presented sha-256 [")
	b.WriteString(strings.Join(e.Presented, " "))
	b.WriteString("]")
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *PinError) Unwrap() error { return e.Err }

package hacx

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// KeyPin is the pin of one public key found in PEM data or a certificate
// chain: what an operator copies into a document (A9) or a configuration.
type KeyPin struct {
	// Subject describes where the key came from: a certificate's subject
	// common name (or "certificate N"), or the PEM block type of a bare key.
	Subject string
	SPKI    []byte // DER SubjectPublicKeyInfo
	Pin     Pin
}

// PinsFromPEM returns a pin for every key in data, in file order: each
// certificate of a chain, each public key and each private key (by its
// public half). hashNames are IANA names; none means sha-256 (A9). Blocks
// that hold no key, such as DH PARAMETERS, are skipped; data with no key
// at all is an error.
func PinsFromPEM(data []byte, hashNames ...string) ([]KeyPin, error) {
	var out []KeyPin
	for n := 1; ; n++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		spki, subject, err := blockSPKI(b, n)
		if err != nil {
			return nil, err
		}
		if spki == nil {
			continue
		}
		p, err := NewPinSPKI(spki, hashNames...)
		if err != nil {
			return nil, err
		}
		out = append(out, KeyPin{Subject: subject, SPKI: spki, Pin: p})
	}
	if len(out) == 0 {
		return nil, errors.New("hacx: no certificate or key found in PEM data")
	}
	return out, nil
}

// PinsFromCerts returns a pin for each certificate's key, in chain order.
func PinsFromCerts(certs []*x509.Certificate, hashNames ...string) ([]KeyPin, error) {
	out := make([]KeyPin, 0, len(certs))
	for i, c := range certs {
		p, err := NewPin(c, hashNames...)
		if err != nil {
			return nil, err
		}
		out = append(out, KeyPin{Subject: certSubject(c, i+1), SPKI: c.RawSubjectPublicKeyInfo, Pin: p})
	}
	return out, nil
}

func certSubject(c *x509.Certificate, n int) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	return fmt.Sprintf("certificate %d", n)
}

// blockSPKI returns the DER SubjectPublicKeyInfo of the key in PEM block
// number n, or nil for a block type that holds no key.
func blockSPKI(b *pem.Block, n int) (spki []byte, subject string, err error) {
	switch b.Type {
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, "", fmt.Errorf("hacx: PEM block %d: bad certificate: %w", n, err)
		}
		return c.RawSubjectPublicKeyInfo, certSubject(c, n), nil
	case "PUBLIC KEY":
		if _, err := x509.ParsePKIXPublicKey(b.Bytes); err != nil {
			return nil, "", fmt.Errorf("hacx: PEM block %d: bad public key: %w", n, err)
		}
		return b.Bytes, "public key", nil
	case "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY":
		var key any
		switch b.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		default:
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		}
		if err != nil {
			return nil, "", fmt.Errorf("hacx: PEM block %d: bad %s: %w", n, b.Type, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, "", fmt.Errorf("hacx: PEM block %d: unsupported %s", n, b.Type)
		}
		der, err := x509.MarshalPKIXPublicKey(signer.Public())
		if err != nil {
			return nil, "", fmt.Errorf("hacx: PEM block %d: %w", n, err)
		}
		return der, "private key (public half)", nil
	}
	return nil, "", nil
}

package hacxtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"sync/atomic"
	"time"
)

// CA is a certificate authority created at run time. Its zero value is not
// usable; call NewCA.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Intermediate, when set by NewCAWithIntermediate, signs leaves in
	// place of the root so that chains have three certificates.
	Intermediate    *x509.Certificate
	IntermediateKey crypto.Signer
	serial          atomic.Int64
}

// NewCA returns a new root CA whose name includes label, for messages.
func NewCA(label string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	ca := &CA{Key: key}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "hacx test root " + label},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	if ca.Cert, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	ca.serial.Store(1)
	return ca, nil
}

// NewCAWithIntermediate is NewCA plus an intermediate CA that signs leaves.
func NewCAWithIntermediate(label string) (*CA, error) {
	ca, err := NewCA(label)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(ca.serial.Add(1)),
		Subject:               pkix.Name{CommonName: "hacx test intermediate " + label},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, err
	}
	if ca.Intermediate, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	ca.IntermediateKey = key
	return ca, nil
}

// Pool returns a pool holding only the root.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// PEM returns the root certificate in PEM, as a --ca-file would hold it.
func (ca *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// Issue returns a leaf certificate for the given DNS names and IP literals
// (each name is parsed as an IP first), valid from an hour ago for a day,
// with the chain (leaf, then intermediate if any) in Certificate.
func (ca *CA) Issue(names ...string) (*tls.Certificate, error) {
	return ca.IssueValid(time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), names...)
}

// IssueValid is Issue with an explicit validity period, for expired or
// not-yet-valid certificates.
func (ca *CA) IssueValid(notBefore, notAfter time.Time, names ...string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial.Add(1)),
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if len(names) > 0 {
		tmpl.Subject.CommonName = names[0]
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	parent, signer := ca.Cert, ca.Key
	if ca.Intermediate != nil {
		parent, signer = ca.Intermediate, ca.IntermediateKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("hacxtest: issue %v: %w", names, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	cert := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	if ca.Intermediate != nil {
		cert.Certificate = append(cert.Certificate, ca.Intermediate.Raw)
	}
	return cert, nil
}

// SelfSigned returns a self-signed leaf certificate for names, outside any
// CA: what a server with only a pinned key (A9) would present.
func SelfSigned(names ...string) (*tls.Certificate, error) {
	ca, err := NewCA("self-signed")
	if err != nil {
		return nil, err
	}
	c, err := ca.Issue(names...)
	if err != nil {
		return nil, err
	}
	// Signed by a throw-away root nobody trusts: only a pin can accept it.
	return c, nil
}

// CertPEM returns cert's chain and key in PEM, for files given to servers.
func CertPEM(cert *tls.Certificate) (certPEM, keyPEM []byte, err error) {
	for _, der := range cert.Certificate {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return nil, nil, err
	}
	return certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

package serve

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
)

// CheckChain checks every HPKP policy of c against the certificate chain
// the server presents (P2). RFC 7469 section 4.3 requires a backup pin: a
// pin of a key that is not in the served chain, kept offline to switch to
// when the live key is lost or compromised. Without one, clients that
// noted the policy are locked out by the first key change, so a policy
// whose every pin matches a key of chain is refused. A pin on the root CA
// key, which the server does not send, counts as a backup here.
//
// The error is a *ConfigError whose problems carry the line of each
// policy's pins when c came from LoadConfig.
func (c *Config) CheckChain(chain []*x509.Certificate) error {
	if len(chain) == 0 {
		return nil
	}
	served := map[[sha256.Size]byte]bool{}
	for _, cert := range chain {
		served[sha256.Sum256(cert.RawSubjectPublicKeyInfo)] = true
	}
	var probs []ConfigProblem
	for i := range c.Domains {
		h := c.Domains[i].HPKP
		if h == nil {
			continue
		}
		backup := false
		for _, p := range h.PinsSHA256 {
			if len(p) == sha256.Size && !served[[sha256.Size]byte(p)] {
				backup = true
			}
		}
		if backup {
			continue
		}
		key := h.key
		if key == "" {
			key = fmt.Sprintf("domain[%d].hpkp.pins", i)
		}
		probs = append(probs, ConfigProblem{
			Line: h.line, Key: key, Rule: "P2",
			Msg: fmt.Sprintf("every HPKP pin of %s matches a key of the served certificate chain: add the pin of a backup key the server does not use (RFC 7469 section 4.3), or a key change would lock clients out", c.Domains[i].Name),
		})
	}
	if len(probs) == 0 {
		return nil
	}
	return &ConfigError{File: c.file, Problems: probs}
}

// certChain parses the chain of a loaded certificate, leaf first.
func certChain(c *tls.Certificate) ([]*x509.Certificate, error) {
	if c == nil {
		return nil, nil
	}
	out := make([]*x509.Certificate, 0, len(c.Certificate))
	for _, der := range c.Certificate {
		x, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

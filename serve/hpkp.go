package serve

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"hacx.dev/hacx"
)

// CheckChain checks every HPKP policy of c against the certificate chain
// the server presents (P2). A policy needs both kinds of pin:
//
//   - one matching a key of chain: a client stores a policy only when one
//     of its pins matches the chain it validated (RFC 7469 section 2.5,
//     and X6 here), so a policy of backup pins alone is never noted and
//     protects nobody;
//   - a backup pin, of a key that is not in the served chain, kept offline
//     to switch to when the live key is lost or compromised (RFC 7469
//     section 4.3). Without one, clients that noted the policy are locked
//     out by the first key change. A pin on the root CA key, which the
//     server does not send, counts as a backup here.
//
// An empty chain means nothing is known to check against and passes.
// The error is a *ConfigError whose problems carry the line of each
// policy's pins when c came from LoadConfig.
func (c *Config) CheckChain(chain []*x509.Certificate) error {
	if len(chain) == 0 {
		return nil
	}
	served := map[string]bool{}
	for _, cert := range chain {
		served[string(hacx.KeySHA256(cert))] = true
	}
	var probs []ConfigProblem
	for i := range c.Domains {
		h := c.Domains[i].HPKP
		if h == nil {
			continue
		}
		live, backup := false, false
		for _, p := range h.PinsSHA256 {
			if len(p) != sha256.Size {
				continue
			}
			if served[string(p)] {
				live = true
			} else {
				backup = true
			}
		}
		var msg string
		switch {
		case !live:
			msg = fmt.Sprintf("no HPKP pin of %s matches a key of the served certificate chain: clients would ignore the policy (RFC 7469 section 2.5); pin the key in use or its issuer's, plus a backup key", c.Domains[i].Name)
		case !backup:
			msg = fmt.Sprintf("every HPKP pin of %s matches a key of the served certificate chain: add the pin of a backup key the server does not use (RFC 7469 section 4.3), or a key change would lock clients out", c.Domains[i].Name)
		default:
			continue
		}
		probs = append(probs, h.problem(i, msg))
	}
	if len(probs) == 0 {
		return nil
	}
	return &ConfigError{File: c.file, Problems: probs}
}

// CheckACME refuses every HPKP policy of c, for a server whose
// certificates come from ACME (P2). An ACME client such as autocert makes
// a new key at every renewal, and the CA may change its intermediate at
// any time, so no pin of the served chain stays valid: clients that noted
// the policy would be locked out at the next renewal, and nothing can be
// checked before the first certificate is issued.
func (c *Config) CheckACME() error {
	var probs []ConfigProblem
	for i := range c.Domains {
		if h := c.Domains[i].HPKP; h != nil {
			probs = append(probs, h.problem(i, fmt.Sprintf("HPKP for %s cannot be used with ACME certificates: each renewal makes a new key, so clients holding the pins would be locked out; serve keys you control with --cert/--key, or remove the hpkp table", c.Domains[i].Name)))
		}
	}
	if len(probs) == 0 {
		return nil
	}
	return &ConfigError{File: c.file, Problems: probs}
}

// problem is a P2 problem at the policy's pins, for domain i.
func (h *HPKP) problem(i int, msg string) ConfigProblem {
	key := h.key
	if key == "" {
		key = fmt.Sprintf("domain[%d].hpkp.pins", i)
	}
	return ConfigProblem{Line: h.line, Key: key, Rule: "P2", Msg: msg}
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

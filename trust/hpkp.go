package trust

import (
	"crypto/x509"
	"time"
)

// HPKPPolicy is a parsed Public-Key-Pins header (X6, RFC 7469).
type HPKPPolicy struct {
	Pins              [][]byte // sha-256 of SubjectPublicKeyInfo
	MaxAge            time.Duration
	IncludeSubDomains bool
	ReportURI         string
}

// ParseHPKP parses a Public-Key-Pins (or -Report-Only) header value strictly
// by RFC 7469 §2.1: pin-sha256 (quoted base64), max-age required,
// includeSubDomains, report-uri.
func ParseHPKP(header string) (HPKPPolicy, error) {
	return HPKPPolicy{}, errNotImplemented
}

// HPKPStore remembers HPKP policies (X6); fields as in HSTSStore.
type HPKPStore struct {
	Path string
	Now  func() time.Time
}

// Observe records a Public-Key-Pins header from an error-free, validated TLS
// response: only if the connection's chain matches at least one pin AND at
// least one pin (the backup) matches no key in the chain (RFC 7469 §4.3).
// Report-Only headers are never stored (the caller logs them).
func (s *HPKPStore) Observe(host, header string, verifiedChain []*x509.Certificate) error {
	return errNotImplemented
}

// Check enforces a stored policy: nil when none applies or any key in the
// chain matches; else *HPKPError naming host and pins.
func (s *HPKPStore) Check(host string, chain []*x509.Certificate) error {
	return errNotImplemented
}

// HPKPError reports a connection whose chain matches none of the pins
// stored for its host (X6).
type HPKPError struct {
	Host      string   // host connected to
	PolicyFor string   // host the policy was stored for (Host or a parent)
	Pins      []string // stored pins, base64 sha-256
	Presented []string // chain keys, base64 sha-256
}

func (e *HPKPError) Error() string { return "trust: HPKP check failed" }

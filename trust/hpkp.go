package trust

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"hacx.dev/hacx"
)

// hpkpHeader is the only field ever stored: Public-Key-Pins-Report-Only
// (RFC 7469 §2.1.3) asks for reports, never for enforcement.
const hpkpHeader = "Public-Key-Pins"

// MaxHPKPAge caps the max-age a stored HPKP policy is honoured for (RFC
// 7469 §4.1 lets UAs cap it; 60 days is what it suggests), so that a
// hijacked response cannot lock clients out for years.
const MaxHPKPAge = 60 * 24 * time.Hour

// HPKPPolicy is a parsed Public-Key-Pins header (X6, RFC 7469).
type HPKPPolicy struct {
	Pins              [][]byte // sha-256 of SubjectPublicKeyInfo, 32 bytes each
	MaxAge            time.Duration
	IncludeSubDomains bool
	ReportURI         string
}

// ParseHPKP parses a Public-Key-Pins (or -Report-Only) header value strictly
// by RFC 7469 §2.1: pin-sha256 directives (quoted base64 of a 32-byte
// digest; may repeat), max-age required (delta-seconds), includeSubDomains
// (no value) and report-uri (a quoted absolute URI). Directive names are
// case-insensitive; directives other than pins may appear once; pins with
// other hash names (pin-sha1, ...) and unknown directives are ignored.
func ParseHPKP(header string) (HPKPPolicy, error) {
	ds, err := parseDirectives(hpkpHeader, header)
	if err != nil {
		return HPKPPolicy{}, err
	}
	bad := func(format string, args ...any) error {
		return &HeaderError{Header: hpkpHeader, Value: header, Reason: fmt.Sprintf(format, args...)}
	}
	var p HPKPPolicy
	seen := map[string]bool{}
	for _, d := range ds {
		if d.name == "pin-sha256" {
			// RFC 7469 §2.1.1: the value is a quoted-string.
			if !d.hasValue || !d.quoted {
				return HPKPPolicy{}, bad("pin-sha256 must be a quoted base64 string")
			}
			pin, err := hacx.DecodeDigest(d.value)
			if err != nil || len(pin) != sha256.Size {
				return HPKPPolicy{}, bad("pin-sha256 %q is not base64 of a 32-byte digest", d.value)
			}
			if !containsPin(p.Pins, pin) {
				p.Pins = append(p.Pins, pin)
			}
			continue
		}
		if seen[d.name] {
			return HPKPPolicy{}, bad("directive %s appears more than once", d.name)
		}
		seen[d.name] = true
		switch d.name {
		case "max-age":
			age, ok := parseMaxAge(d)
			if !ok {
				return HPKPPolicy{}, bad("max-age must be delta-seconds (digits)")
			}
			p.MaxAge = age
		case "includesubdomains":
			if d.hasValue {
				return HPKPPolicy{}, bad("includeSubDomains takes no value")
			}
			p.IncludeSubDomains = true
		case "report-uri":
			// RFC 7469 §2.1.4: report-uri = quoted-string holding a URI-reference.
			if !d.hasValue || !d.quoted {
				return HPKPPolicy{}, bad("report-uri must be a quoted URI")
			}
			u, err := url.Parse(d.value)
			if err != nil || u.Scheme == "" {
				return HPKPPolicy{}, bad("report-uri %q is not an absolute URI", d.value)
			}
			p.ReportURI = d.value
		}
	}
	if !seen["max-age"] {
		return HPKPPolicy{}, bad("missing max-age")
	}
	return p, nil
}

func containsPin(pins [][]byte, pin []byte) bool {
	for _, p := range pins {
		if bytes.Equal(p, pin) {
			return true
		}
	}
	return false
}

// HPKPStore remembers Known Pinned Hosts (X6, RFC 7469 §2.7). The zero
// value keeps state in memory; an HPKPStore must not be copied after first
// use.
type HPKPStore struct {
	// Path is a JSON file holding the state; "" means memory only.
	// Written and merged like HSTSStore.Path.
	Path string
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	st store
}

// HPKPRefusedError reports a valid Public-Key-Pins header that was not
// stored because RFC 7469 §2.5/§4.3 forbids it.
type HPKPRefusedError struct {
	Host   string
	Reason string // e.g. "no backup pin"
}

func (e *HPKPRefusedError) Error() string {
	return "trust: Public-Key-Pins from " + e.Host + " not stored (X6): " + e.Reason
}

// Observe records a Public-Key-Pins header from an error-free, validated
// TLS response whose verified chain (leaf first) is verifiedChain: only if
// the chain matches at least one pin AND at least one pin (the backup)
// matches no key in the chain (RFC 7469 §2.5, §4.3); otherwise it returns
// *HPKPRefusedError and stores nothing. max-age=0 forgets the host.
// IP-literal hosts are ignored. Report-Only headers must never be passed
// here (the caller logs them); ObserveResponse does that sorting.
func (s *HPKPStore) Observe(host, header string, verifiedChain []*x509.Certificate) error {
	h, ok := normalizeHost(host)
	if !ok {
		return nil
	}
	p, err := ParseHPKP(header)
	if err != nil {
		return err
	}
	now := clock(s.Now)
	if p.MaxAge == 0 {
		return s.st.update(s.Path, "hpkp", now, func(m map[string]entry) { delete(m, h) })
	}
	keys := chainKeys(verifiedChain)
	matched, backup := false, false
	for _, pin := range p.Pins {
		if containsPin(keys, pin) {
			matched = true
		} else {
			backup = true
		}
	}
	switch {
	case len(keys) == 0:
		return &HPKPRefusedError{Host: h, Reason: "no verified chain"}
	case !matched:
		return &HPKPRefusedError{Host: h, Reason: "no pin matches a key of the connection's chain"}
	case !backup:
		return &HPKPRefusedError{Host: h, Reason: "no backup pin (every pin matches the current chain)"}
	}
	age := min(p.MaxAge, MaxHPKPAge)
	e := entry{Expires: now.Add(age).UTC(), IncludeSubDomains: p.IncludeSubDomains, ReportURI: p.ReportURI}
	for _, pin := range p.Pins {
		e.Pins = append(e.Pins, hacx.EncodeDigest(pin))
	}
	return s.st.update(s.Path, "hpkp", now, func(m map[string]entry) { m[h] = e })
}

// ObserveResponse is Observe for a whole header set: it stores from the
// first Public-Key-Pins field only (RFC 7469 §2.3.1), never from
// Public-Key-Pins-Report-Only, and does nothing when there is none.
func (s *HPKPStore) ObserveResponse(host string, h http.Header, verifiedChain []*x509.Certificate) error {
	v := h.Values(hpkpHeader)
	if len(v) == 0 {
		return nil
	}
	return s.Observe(host, v[0], verifiedChain)
}

// Check enforces a stored policy on a new connection to host (RFC 7469
// §2.6): nil when no unexpired policy applies (congruent, or a parent with
// includeSubDomains) or when any key in chain matches one of its pins;
// otherwise *HPKPError naming host and pins. A store file that cannot be
// read is an error: pins fail closed.
func (s *HPKPStore) Check(host string, chain []*x509.Certificate) error {
	h, ok := normalizeHost(host)
	if !ok {
		return nil
	}
	m, err := s.st.snapshot(s.Path, "hpkp")
	if err != nil {
		return err
	}
	owner, e, ok := match(m, h, clock(s.Now))
	if !ok {
		return nil
	}
	keys := chainKeys(chain)
	for _, p := range e.Pins {
		pin, err := hacx.DecodeDigest(p)
		if err == nil && containsPin(keys, pin) {
			return nil
		}
	}
	he := &HPKPError{Host: h, PolicyFor: owner, Pins: e.Pins, ReportURI: e.ReportURI}
	for _, k := range keys {
		he.Presented = append(he.Presented, hacx.EncodeDigest(k))
	}
	return he
}

// chainKeys returns the sha-256 of each certificate's key: the pins that
// match it (RFC 7469 section 2.4).
func chainKeys(chain []*x509.Certificate) [][]byte {
	var keys [][]byte
	for _, c := range chain {
		if c != nil {
			keys = append(keys, hacx.KeySHA256(c))
		}
	}
	return keys
}

// HPKPError reports a connection whose chain matches none of the pins
// stored for its host (X6).
type HPKPError struct {
	Host      string   // host connected to
	PolicyFor string   // host the policy was stored for (Host or a parent)
	Pins      []string // stored pins, base64 sha-256
	Presented []string // chain keys, base64 sha-256
	ReportURI string   // where the host asked failures to be reported, if anywhere
}

func (e *HPKPError) Error() string {
	via := ""
	if e.PolicyFor != e.Host {
		via = " (policy of " + e.PolicyFor + " with includeSubDomains)"
	}
	return "trust: HPKP (X6): " + e.Host + via + ": no key of the chain [" + strings.Join(e.Presented, " ") +
		"] matches a stored pin [" + strings.Join(e.Pins, " ") + "]"
}

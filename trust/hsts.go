package trust

import (
	"net/url"
	"time"
)

// HSTSPolicy is a parsed Strict-Transport-Security header (X5).
type HSTSPolicy struct {
	MaxAge            time.Duration
	IncludeSubDomains bool
}

// ParseHSTS parses a Strict-Transport-Security header value strictly by the
// RFC 6797 §6.1 grammar. An invalid header must be ignored by the caller
// (RFC 6797 §8.1); the error says what is wrong.
func ParseHSTS(header string) (HSTSPolicy, error) {
	return HSTSPolicy{}, errNotImplemented
}

// HSTSStore remembers HSTS hosts (X5). The zero value keeps state in memory.
type HSTSStore struct {
	// Path is a JSON file holding the state; "" means memory only. It is
	// written atomically (temp file + rename) and merged under an flock'd
	// lock file so concurrent processes lose nothing.
	Path string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Observe records the header host sent. Call it only for a verified HTTPS
// response. max-age=0 deletes the host; IP-literal hosts are ignored.
func (s *HSTSStore) Observe(host, header string) error { return errNotImplemented }

// Known reports whether host, or a parent domain with includeSubDomains, is
// a known HSTS host.
func (s *HSTSStore) Known(host string) bool { return false }

// Upgrade returns u rewritten to https:// when it is http:// to a known host
// (port 80 becomes 443, another explicit port is kept), and whether it did.
func (s *HSTSStore) Upgrade(u *url.URL) (*url.URL, bool) { return u, false }

// HeaderError reports an invalid Strict-Transport-Security or
// Public-Key-Pins header, which the caller must ignore (RFC 6797 §8.1,
// RFC 7469 §2.1).
type HeaderError struct {
	Header string // "Strict-Transport-Security" or "Public-Key-Pins"
	Value  string // the header value as received
	Reason string // what is wrong, e.g. "missing max-age"
}

func (e *HeaderError) Error() string {
	return "trust: invalid " + e.Header + " header: " + e.Reason
}

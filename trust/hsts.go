package trust

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const hstsHeader = "Strict-Transport-Security"

// HSTSPolicy is a parsed Strict-Transport-Security header (X5).
type HSTSPolicy struct {
	MaxAge            time.Duration
	IncludeSubDomains bool
}

// ParseHSTS parses a Strict-Transport-Security header value strictly by the
// RFC 6797 §6.1 grammar: directive names are case-insensitive, each may
// appear once, max-age (delta-seconds, token or quoted) is required,
// includeSubDomains takes no value, and unknown directives are ignored. An
// invalid header must be ignored by the caller (RFC 6797 §8.1); the
// *HeaderError says what is wrong.
func ParseHSTS(header string) (HSTSPolicy, error) {
	ds, err := parseDirectives(hstsHeader, header)
	if err != nil {
		return HSTSPolicy{}, err
	}
	bad := func(reason string) error {
		return &HeaderError{Header: hstsHeader, Value: header, Reason: reason}
	}
	var p HSTSPolicy
	seen := map[string]bool{}
	for _, d := range ds {
		// RFC 6797 §6.1 rule 2: all directives MUST appear only once.
		if seen[d.name] {
			return HSTSPolicy{}, bad("directive " + d.name + " appears more than once")
		}
		seen[d.name] = true
		switch d.name {
		case "max-age":
			age, ok := parseMaxAge(d)
			if !ok {
				return HSTSPolicy{}, bad("max-age must be delta-seconds (digits)")
			}
			p.MaxAge = age
		case "includesubdomains":
			// RFC 6797 §6.1.2: a valueless directive.
			if d.hasValue {
				return HSTSPolicy{}, bad("includeSubDomains takes no value")
			}
			p.IncludeSubDomains = true
		}
		// RFC 6797 §6.1 rule 4: unknown directives are ignored.
	}
	if !seen["max-age"] {
		return HSTSPolicy{}, bad("missing max-age")
	}
	return p, nil
}

// HSTSStore remembers Known HSTS Hosts (X5, RFC 6797 §8). The zero value
// keeps state in memory; an HSTSStore must not be copied after first use.
type HSTSStore struct {
	// Path is a JSON file holding the state; "" means memory only. It is
	// written atomically (temp file + rename, mode 0600) and every write
	// merges into the file's current content under an flock(2)'d lock file
	// (Path + ".lock"), so concurrent processes lose nothing.
	Path string
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	st store
}

// Observe records the header host sent. Call it only for a verified HTTPS
// response (RFC 6797 §8.1: headers over insecure transport are ignored),
// with only the first Strict-Transport-Security field of the response.
// max-age=0 deletes the host; IP-literal hosts are ignored (RFC 6797 §8.1).
// An invalid header is ignored and returned as *HeaderError; other errors
// come from the file.
func (s *HSTSStore) Observe(host, header string) error {
	h, ok := normalizeHost(host)
	if !ok {
		return nil
	}
	p, err := ParseHSTS(header)
	if err != nil {
		return err
	}
	now := clock(s.Now)
	return s.st.update(s.Path, "hsts", now, func(m map[string]entry) {
		if p.MaxAge == 0 {
			delete(m, h) // RFC 6797 §6.1.1: max-age=0 ends Known HSTS Host status.
			return
		}
		m[h] = entry{Expires: now.Add(p.MaxAge).UTC(), IncludeSubDomains: p.IncludeSubDomains}
	})
}

// ObserveResponse is Observe for a whole header set: it takes the first
// Strict-Transport-Security field only (RFC 6797 §8.1), and does nothing
// when there is none.
func (s *HSTSStore) ObserveResponse(host string, h http.Header) error {
	v := h.Values(hstsHeader)
	if len(v) == 0 {
		return nil
	}
	return s.Observe(host, v[0])
}

// Known reports whether host is a Known HSTS Host (RFC 6797 §8.2): a
// congruent match, or a parent domain stored with includeSubDomains, that
// has not expired. A store file that cannot be read counts as no knowledge.
func (s *HSTSStore) Known(host string) bool {
	_, ok := s.lookup(host)
	return ok
}

func (s *HSTSStore) lookup(host string) (entry, bool) {
	h, ok := normalizeHost(host)
	if !ok {
		return entry{}, false
	}
	m, err := s.st.snapshot(s.Path, "hsts")
	if err != nil {
		return entry{}, false
	}
	_, e, ok := match(m, h, clock(s.Now))
	return e, ok
}

// Upgrade returns a copy of u rewritten to https:// (ws:// to wss://) when it
// is plain http:// (ws://) to a Known HSTS Host, and whether it did so
// (RFC 6797 §8.3: an explicit port 80 becomes 443, any other explicit port
// is kept). Other URLs are returned unchanged.
func (s *HSTSStore) Upgrade(u *url.URL) (*url.URL, bool) {
	if u == nil {
		return u, false
	}
	var scheme, port string
	switch strings.ToLower(u.Scheme) {
	case "http":
		scheme = "https"
	case "ws":
		scheme = "wss"
	default:
		return u, false
	}
	if !s.Known(u.Hostname()) {
		return u, false
	}
	v := *u
	v.Scheme = scheme
	if port = u.Port(); port == "80" {
		v.Host = net.JoinHostPort(u.Hostname(), "443")
	}
	return &v, true
}

// normalizeHost returns host as stored: lower case, no trailing dot, no
// port or brackets. It reports false for IP literals and for names that are
// not plain ASCII (pass IDNs as A-labels), which are never stored.
func normalizeHost(host string) (string, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if net.ParseIP(host) != nil {
		return "", false
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" || len(host) > 253 {
		return "", false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return "", false
		}
	}
	if strings.HasPrefix(host, ".") || strings.Contains(host, "..") {
		return "", false
	}
	return host, true
}

// match finds the policy for host: a congruent match first, then the
// nearest parent stored with includeSubDomains (RFC 6797 §8.2, RFC 7469
// §2.7). Expired entries never match.
func match(m map[string]entry, host string, now time.Time) (string, entry, bool) {
	if e, ok := m[host]; ok && now.Before(e.Expires) {
		return host, e, true
	}
	for h := host; ; {
		i := strings.IndexByte(h, '.')
		if i < 0 {
			return "", entry{}, false
		}
		h = h[i+1:]
		if e, ok := m[h]; ok && e.IncludeSubDomains && now.Before(e.Expires) {
			return h, e, true
		}
	}
}

func clock(now func() time.Time) time.Time {
	if now == nil {
		return time.Now()
	}
	return now()
}

package trust

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// directive is one name[=value] item of a Strict-Transport-Security or
// Public-Key-Pins header field.
type directive struct {
	name     string // lower-cased: directive names are case-insensitive
	value    string // unquoted
	hasValue bool
	quoted   bool
}

// HeaderError reports an invalid Strict-Transport-Security or
// Public-Key-Pins header, which the caller must ignore (RFC 6797 §8.1,
// RFC 7469 §2.1).
type HeaderError struct {
	Header string // "Strict-Transport-Security" or "Public-Key-Pins"
	Value  string // the header value as received
	Reason string // what is wrong, e.g. "missing max-age"
}

func (e *HeaderError) Error() string {
	return "trust: invalid " + e.Header + " header " + strconv.Quote(e.Value) + ": " + e.Reason
}

// parseDirectives splits a header value by the grammar shared by RFC 6797
// §6.1 and RFC 7469 §2.1:
//
//	header    = [ directive ] *( ";" [ directive ] )
//	directive = directive-name [ "=" directive-value ]
//	directive-name  = token
//	directive-value = token / quoted-string
//
// with optional whitespace around tokens and separators (implied LWS, RFC
// 2616 §2.1). Empty directives (";;") are allowed by the grammar.
func parseDirectives(header, value string) ([]directive, error) {
	bad := func(format string, args ...any) error {
		return &HeaderError{Header: header, Value: value, Reason: fmt.Sprintf(format, args...)}
	}
	var out []directive
	s := value
	i := 0
	skipOWS := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
	}
	token := func() string {
		start := i
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		return s[start:i]
	}
	for {
		skipOWS()
		if i == len(s) {
			break
		}
		if s[i] == ';' {
			i++
			continue
		}
		start := i
		name := token()
		if name == "" {
			return nil, bad("unexpected %q at offset %d", s[i], i)
		}
		d := directive{name: strings.ToLower(name)}
		skipOWS()
		if i < len(s) && s[i] == '=' {
			i++
			skipOWS()
			d.hasValue = true
			if i < len(s) && s[i] == '"' {
				v, n, ok := unquote(s[i:])
				if !ok {
					return nil, bad("unterminated or invalid quoted-string in directive %q", name)
				}
				d.value, d.quoted = v, true
				i += n
			} else {
				d.value = token()
				if d.value == "" {
					return nil, bad("directive %q has an empty value", name)
				}
			}
			skipOWS()
		}
		if i < len(s) && s[i] != ';' {
			return nil, bad("unexpected %q after directive %q at offset %d", s[i], s[start:i], i)
		}
		out = append(out, d)
	}
	return out, nil
}

// unquote reads an RFC 2616 quoted-string at the start of s and returns its
// content, the number of bytes consumed, and whether it was well formed.
func unquote(s string) (string, int, bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			return b.String(), i + 1, true
		case c == '\\':
			// quoted-pair = "\" CHAR, CHAR being any US-ASCII octet.
			if i+1 >= len(s) || s[i+1] > 127 {
				return "", 0, false
			}
			i++
			b.WriteByte(s[i])
		case c == '\t' || (c >= ' ' && c != 0x7f):
			// qdtext: any TEXT (no CTLs, LWS allowed) except <">.
			b.WriteByte(c)
		default:
			return "", 0, false
		}
	}
	return "", 0, false
}

// isTokenChar reports whether c may appear in an RFC 2616 token: any CHAR
// except CTLs and separators.
func isTokenChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	return !strings.ContainsRune("()<>@,;:\\\"/[]?={}", rune(c))
}

// maxDeltaSeconds caps delta-seconds that overflow, as RFC 2616 §14.6
// suggests (2^31); any value beyond it means "for a very long time".
const maxDeltaSeconds = math.MaxInt32 + 1

// parseMaxAge parses a max-age value: delta-seconds = 1*DIGIT, token or
// quoted (RFC 6797 §6.1.1).
func parseMaxAge(d directive) (time.Duration, bool) {
	if !d.hasValue || d.value == "" {
		return 0, false
	}
	for i := 0; i < len(d.value); i++ {
		if d.value[i] < '0' || d.value[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(d.value, 10, 64)
	if err != nil || n > maxDeltaSeconds {
		n = maxDeltaSeconds
	}
	return time.Duration(n) * time.Second, true
}

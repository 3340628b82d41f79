package hacx

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"hacx.dev/hacx/ech"
)

// This file holds the rules that judge a decoded record as a whole (A1-A9,
// E1): Parse drops a record that breaks one (E2) and Marshal refuses to
// write it, so both read the same list.

// digestNote says why a pin digest is not used (A9): a weak or an unknown
// hash.
func digestNote(hash string) string {
	if h := LookupHash(hash); h != nil && h.Weak {
		return hash + " is too weak and is ignored"
	}
	return "unknown hash " + strconv.Quote(hash) + " is ignored (not in the IANA registry)"
}

type ruleMsg struct{ rule, msg string }

// check applies the rules that need the whole record; Parse and Marshal
// share it so that nothing invalid is ever written.
func (r Record) check() []ruleMsg {
	var out []ruleMsg
	add := func(rule, format string, a ...any) { out = append(out, ruleMsg{rule, fmt.Sprintf(format, a...)}) }
	switch r.Method {
	case MethodTLS, MethodWebSocket, MethodBOSH, MethodQUIC: // quic: Q1
	default:
		add("E1", "method %q cannot appear in a document", r.Method)
	}
	if !r.IP.IsValid() {
		add("A1", "missing ip")
	} else if r.IP.Zone() != "" {
		add("A1", "ip %s has a zone", r.IP)
	}
	if r.Port == 0 {
		add("A2", "port must be from 1 to 65535")
	}
	if r.HasSNI {
		if msg := checkSNI(r.SNI); msg != "" {
			add("A5", "%s", msg)
		}
	}
	if r.ALPN != nil {
		switch {
		case r.Method == MethodWebSocket || r.Method == MethodBOSH:
			add("A7", "alpn is not allowed on %s: HTTP negotiates its own", r.Method)
		case len(r.ALPN) == 0 || len(r.ALPN) > 255:
			add("A6", "alpn must decode to a protocol name of 1 to 255 bytes")
		}
	}
	if r.ECH != nil {
		switch r.Method {
		case MethodTLS, MethodWebSocket, MethodBOSH:
			if _, err := ech.ParseConfigList(r.ECH); err != nil {
				add("E4", "ech is not a usable ECHConfigList: %s", strings.TrimPrefix(err.Error(), "ech: "))
			}
		default:
			// The dialer could not honour it, and a route that
			// publishes ECH must not be dialed without it (E4).
			add("E4", "ech is not supported on %s", r.Method)
		}
	}
	switch r.Method {
	case MethodTLS, MethodQUIC: // Q1: <quic> follows the rules of <tls>
		if r.URL != "" {
			add("A8", "url is not allowed on %s", r.Method)
		}
	case MethodWebSocket:
		if msg := checkURL(r.URL, "wss"); msg != "" {
			add("A8", "%s", msg)
		}
	case MethodBOSH:
		if msg := checkURL(r.URL, "https"); msg != "" {
			add("A8", "%s", msg)
		}
	}
	if len(r.Pins) > 0 {
		usable := false
		for _, p := range r.Pins {
			usable = usable || p.Usable()
		}
		if !usable {
			add("A9", "no pin has a usable digest (sha-256 or stronger): the record could never be trusted")
		}
	}
	return out
}

func checkSNI(sni string) string {
	switch {
	case sni == "":
		return `sni="" cannot be sent (RFC 6066): omit the attribute to send no SNI`
	case strings.HasSuffix(sni, "."):
		return fmt.Sprintf("sni %q must not end with a dot", sni)
	case len(sni) > 253:
		return "sni is longer than 253 characters"
	}
	if mayBeIP(sni) {
		if _, err := netip.ParseAddr(sni); err == nil {
			return fmt.Sprintf("sni %q is an IP address, which SNI cannot carry (RFC 6066): omit it to send none", sni)
		}
	}
	// The labels, as strings.Split(sni, ".") gives them, without the slice.
	for rest, more := sni, true; more; {
		var label string
		label, rest, more = strings.Cut(rest, ".")
		if label == "" || len(label) > 63 {
			return fmt.Sprintf("sni %q is not a valid host name", sni)
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				if c >= 0x80 {
					return fmt.Sprintf("sni %q must use the A-label (punycode) form of an internationalized name", sni)
				}
				return fmt.Sprintf("sni %q is not a valid host name", sni)
			}
		}
	}
	return ""
}

// mayBeIP is false for a string netip.ParseAddr surely refuses: no colon
// (so not IPv6) and something besides digits and dots (so not IPv4). A host
// name is then judged without the error value a failed parse allocates.
func mayBeIP(s string) bool {
	if strings.IndexByte(s, ':') >= 0 {
		return true
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func checkURL(raw, scheme string) string {
	if raw == "" {
		return fmt.Sprintf("missing url (a %s:// URL)", scheme)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Sprintf("url %q does not parse", raw)
	case u.Scheme != scheme:
		return fmt.Sprintf("url %q must use %s://", raw, scheme)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Sprintf("url %q has no host", raw)
	case u.User != nil:
		return fmt.Sprintf("url %q must not carry credentials", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Sprintf("url %q must not have a fragment", raw)
	}
	if p := u.Port(); p != "" {
		if n, ok := parseUint16(p); !ok || n == 0 {
			return fmt.Sprintf("url %q has an invalid port", raw)
		}
	}
	return ""
}

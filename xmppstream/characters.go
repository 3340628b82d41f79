package xmppstream

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"unicode/utf8"
)

// This file holds the character-level rules of XML 1.0 the Splitter
// applies: the characters XML allows, names, and references (RFC 6120
// section 11.1 allows only the five predefined entities).

// checkChars rejects what XML 1.0 section 2.2 excludes beyond the control
// characters the scanner already refused: invalid UTF-8 (RFC 6120 section
// 11.6), surrogates, U+FFFE and U+FFFF.
func (s *Splitter) checkChars(raw []byte) error {
	if !utf8.Valid(raw) {
		return s.fail("not-well-formed", "got bytes that are not UTF-8", 0)
	}
	for i := 0; ; {
		k := bytes.Index(raw[i:], []byte("\xef\xbf"))
		if k < 0 {
			return nil
		}
		i += k + 2
		if i < len(raw) && (raw[i] == 0xbe || raw[i] == 0xbf) {
			return s.fail("not-well-formed", "got U+FFFE or U+FFFF, which XML forbids", 0)
		}
	}
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// isNameDelim ends a name in a tag.
func isNameDelim(c byte) bool {
	return isXMLSpace(c) || c == '/' || c == '>' || c == '=' || c == '<' || c == '\'' || c == '"' || c == '&' || c == '?' || c == '!'
}

// validRef reports whether ref (between '&' and ';') is one of the five
// predefined entities or a character reference to a character XML allows
// (RFC 6120 section 11.1: no other entities exist in XMPP).
func validRef(ref []byte) bool {
	switch string(ref) {
	case "amp", "lt", "gt", "quot", "apos":
		return true
	}
	r, ok := charRef(ref)
	return ok && isXMLChar(r)
}

func charRef(ref []byte) (rune, bool) {
	if len(ref) < 2 || ref[0] != '#' {
		return 0, false
	}
	base, digits := 10, ref[1:]
	if digits[0] == 'x' {
		base, digits = 16, digits[1:]
	}
	if len(digits) == 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(digits), base, 32)
	if err != nil || n > utf8.MaxRune {
		return 0, false
	}
	return rune(n), true
}

// isXMLChar is the Char production of XML 1.0 section 2.2.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// decodeAttr expands the references of an attribute value the scanner
// has already checked.
func decodeAttr(v []byte) string {
	if bytes.IndexByte(v, '&') < 0 {
		return string(v)
	}
	var out []byte
	for len(v) > 0 {
		i := bytes.IndexByte(v, '&')
		if i < 0 {
			out = append(out, v...)
			break
		}
		out = append(out, v[:i]...)
		v = v[i+1:]
		k := bytes.IndexByte(v, ';')
		if k < 0 {
			break
		}
		ref := v[:k]
		v = v[k+1:]
		switch string(ref) {
		case "amp":
			out = append(out, '&')
		case "lt":
			out = append(out, '<')
		case "gt":
			out = append(out, '>')
		case "quot":
			out = append(out, '"')
		case "apos":
			out = append(out, '\'')
		default:
			if r, ok := charRef(ref); ok {
				out = utf8.AppendRune(out, r)
			}
		}
	}
	return string(out)
}

// isQName reports whether b is a name XML and XML Namespaces accept: a
// Name with at most one colon, neither first nor last. Names with
// characters beyond ASCII are checked by encoding/xml itself, so that
// what the Splitter accepts the standard decoder accepts too.
func isQName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	colons := 0
	ascii := true
	for i, c := range b {
		switch {
		case c >= 0x80:
			ascii = false
		case c == ':':
			colons++
			if i == 0 || i == len(b)-1 || colons > 1 {
				return false
			}
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_':
		case c >= '0' && c <= '9' || c == '-' || c == '.':
			if i == 0 || b[i-1] == ':' {
				return false
			}
		default:
			return false
		}
	}
	if ascii {
		return true
	}
	d := xml.NewDecoder(bytes.NewReader(append(append([]byte("<"), b...), "/>"...)))
	tok, err := d.RawToken()
	if err != nil {
		return false
	}
	se, ok := tok.(xml.StartElement)
	if !ok || len(se.Attr) != 0 {
		return false
	}
	got := se.Name.Local
	if se.Name.Space != "" {
		got = se.Name.Space + ":" + got
	}
	return got == string(b)
}

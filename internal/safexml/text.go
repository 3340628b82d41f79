package safexml

import (
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// This file is the part of the Reader (reader.go) that reads character
// data: text between tags, CDATA sections and attribute values, with the
// only references a document may use (H6) and the character checks of
// XML 1.0 section 2.2.

// charData reads text up to the next '<' (cdata false) or the inside of a
// CDATA section whose "<![CDATA[" has been consumed; start is where the
// token began.
func (r *Reader) charData(start int, cdata bool) (Token, error) {
	raw, decoded, err := r.text(-1, cdata)
	if err != nil {
		return Token{}, err
	}
	return Token{Kind: CharData, Offset: start, text: raw, dec: r.buf, decoded: decoded}, nil
}

// attrValue reads an attribute value after its opening quote.
func (r *Reader) attrValue(quote byte) (string, error) {
	raw, decoded, err := r.text(int(quote), false)
	if decoded {
		raw = string(r.buf)
	}
	return raw, err
}

// text reads character data: up to '<' or the end of input (quote < 0, not
// cdata), up to the closing quote of an attribute value (quote >= 0), or up
// to "]]>" (cdata). It expands the five predefined entities and character
// references, refuses any other entity (H6), turns "\r\n" and "\r" into
// "\n", and refuses bytes that are not UTF-8 or not XML characters. The
// result is raw, a substring of the input, when none of that changed
// anything; otherwise decoded is set and the result is in r.buf.
func (r *Reader) text(quote int, cdata bool) (raw string, decoded bool, err error) {
	start, end, trunc := r.i, 0, 0
	if !cdata {
		// Fast path for what documents are made of: plain ASCII up to
		// the '<' or closing quote, nothing to decode or check.
		i := start
		for i < len(r.s) && plainText[r.s[i]] {
			i++
		}
		if i < len(r.s) {
			switch {
			case quote < 0 && r.s[i] == '<':
				r.i = i
				return r.s[start:i], false, nil
			case quote >= 0 && r.s[i] == byte(quote):
				r.i = i + 1
				return r.s[start:i], false, nil
			}
		}
	}
	// switchToBuf starts decoding: the bytes so far are copied as they are
	// (they hold neither '&' nor '\r').
	switchToBuf := func() {
		if !decoded {
			r.buf = append(r.buf[:0], r.s[start:r.i-1]...)
			decoded = true
		}
	}
	var b0, b1 byte
	for {
		if r.i >= len(r.s) {
			if cdata {
				return "", false, r.malformed(r.i, false, "unexpected EOF in CDATA section")
			}
			end = r.i
			break
		}
		b := r.s[r.i]
		r.i++
		if quote < 0 && b0 == ']' && b1 == ']' && b == '>' {
			if cdata {
				end, trunc = r.i-3, 2
				break
			}
			return "", false, r.malformed(r.i, false, "unescaped ]]> not in CDATA section")
		}
		if b == '<' && !cdata {
			if quote >= 0 {
				return "", false, r.malformed(r.i, false, "unescaped < inside quoted string")
			}
			r.i--
			end = r.i
			break
		}
		if quote >= 0 && b == byte(quote) {
			end = r.i - 1
			break
		}
		if b == '&' && !cdata {
			switchToBuf()
			if err := r.entity(); err != nil {
				return "", false, err
			}
			b0, b1 = 0, 0
			continue
		}
		switch {
		case b == '\r':
			switchToBuf()
			r.buf = append(r.buf, '\n')
		case b1 == '\r' && b == '\n':
			// "\r\n": the '\n' is already written.
		case decoded:
			r.buf = append(r.buf, b)
		}
		b0, b1 = b1, b
	}
	var msg string
	if decoded {
		r.buf = r.buf[:len(r.buf)-trunc]
		msg = checkChars(r.buf)
	} else {
		raw = r.s[start:end]
		msg = checkChars(raw)
	}
	if msg != "" {
		return "", false, r.malformed(r.i, false, msg)
	}
	return raw, decoded, nil
}

// entity reads a reference after its '&' and appends what it stands for
// to r.buf. Only &lt; &gt; &amp; &apos; &quot; and character references
// exist here: a document cannot declare entities (H6).
func (r *Reader) entity() error {
	before := len(r.buf)
	r.buf = append(r.buf, '&')
	var (
		ch     rune
		ok     bool
		unread bool
	)
	b, err := r.mustgetc()
	if err != nil {
		return err
	}
	if b == '#' {
		r.buf = append(r.buf, '#')
		if b, err = r.mustgetc(); err != nil {
			return err
		}
		base := 10
		if b == 'x' {
			base = 16
			r.buf = append(r.buf, 'x')
			if b, err = r.mustgetc(); err != nil {
				return err
			}
		}
		digits := len(r.buf)
		for '0' <= b && b <= '9' || base == 16 && ('a' <= b && b <= 'f' || 'A' <= b && b <= 'F') {
			r.buf = append(r.buf, b)
			if b, err = r.mustgetc(); err != nil {
				return err
			}
		}
		if b == ';' {
			n, err := strconv.ParseUint(string(r.buf[digits:]), base, 64)
			ch, ok = rune(n), err == nil && n <= unicode.MaxRune
		}
	} else {
		r.i--
		from := r.i
		for {
			if r.i >= len(r.s) {
				return r.unexpectedEOF()
			}
			if c := r.s[r.i]; c < utf8.RuneSelf && !isNameByte(c) {
				break
			}
			r.i++
		}
		name := r.s[from:r.i]
		r.buf = append(r.buf, name...)
		if b, err = r.mustgetc(); err != nil {
			return err
		}
		if b == ';' && isName(name) {
			ch, ok = predefinedEntity(name)
		}
	}
	// Without its ';' a reference is not one: the byte after it is put
	// back, and the message says so.
	if b != ';' {
		r.i--
		unread = true
	} else {
		r.buf = append(r.buf, ';')
	}
	if ok {
		// A surrogate becomes U+FFFD, as in a Go string conversion.
		r.buf = utf8.AppendRune(r.buf[:before], ch)
		return nil
	}
	ent := string(r.buf[before:])
	if ent[len(ent)-1] != ';' {
		ent += " (no semicolon)"
	}
	return r.errorAt(r.i, unread, "H6", "invalid character entity "+ent+" (only &lt; &gt; &amp; &apos; &quot; and character references are allowed)")
}

// plainText marks the bytes text's fast path takes as they are: XML
// characters below 0x80 that never end, escape or need rewriting in text
// or attribute values ('<', '&', ']', quotes and '\r' are left out).
var plainText = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = true
	}
	for _, c := range "<&]\"'" {
		t[c] = false
	}
	t['\t'], t['\n'] = true, true
	return t
}()

func predefinedEntity(name string) (rune, bool) {
	switch name {
	case "lt":
		return '<', true
	case "gt":
		return '>', true
	case "amp":
		return '&', true
	case "apos":
		return '\'', true
	case "quot":
		return '"', true
	}
	return 0, false
}

// checkChars returns what is wrong with text that must be UTF-8 made of
// XML characters (XML 1.0 section 2.2), or "".
func checkChars[T string | []byte](s T) string {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return fmt.Sprintf("illegal character code %U", rune(c))
			}
			i++
			continue
		}
		ch, n := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if ch == utf8.RuneError && n == 1 {
			return "invalid UTF-8"
		}
		if !(ch >= 0x20 && ch <= 0xD7FF || ch >= 0xE000 && ch <= 0xFFFD || ch >= 0x10000 && ch <= 0x10FFFF) {
			return fmt.Sprintf("illegal character code %U", ch)
		}
		i += n
	}
	return ""
}

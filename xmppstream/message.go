package xmppstream

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// This file reads whole messages (a WebSocket message, a BOSH body, a
// features element) with the Splitter, and turns what the Splitter says
// about bad input into the *Error a dialer reports (C3).

// maxDepth bounds element nesting inside features, messages and bodies
// (H6: bounded depth).
const maxDepth = 32

// parseMessage parses msg as exactly one element (with optional XML
// declaration and surrounding whitespace): a WebSocket message or a BOSH
// body. It returns a reason and cause when msg is not acceptable.
func parseMessage(msg []byte, phase, want string) (*elem, error) {
	if len(msg) > MaxMessageBytes {
		return nil, &Error{Phase: phase, Reason: fmt.Sprintf("message of %d bytes exceeds the %d-byte bound", len(msg), MaxMessageBytes), Err: ErrTooLarge}
	}
	trimmed := bytes.TrimLeft(msg, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, &Error{Phase: phase, Reason: "got an empty message where " + want + " was expected", Err: ErrClosed}
	}
	if trimmed[0] != '<' {
		return nil, &Error{Phase: phase, Reason: "got bytes that are not XML where " + want + " was expected", Got: excerpt(trimmed), Err: ErrNotXMPP}
	}
	if looksHTML(trimmed) {
		return nil, &Error{Phase: phase, Reason: "got an HTML page where " + want + " was expected", Got: excerpt(trimmed), Err: ErrNotXMPP}
	}
	tok, _, err := oneElement(trimmed, MaxMessageBytes, maxDepth)
	if err != nil {
		return nil, messageError(phase, want, err)
	}
	root := tree(tok.Raw, nil)
	if root == nil {
		return nil, &Error{Phase: phase, Reason: "got ill-formed XML", Got: excerpt(tok.Raw), Err: ErrNotXMPP}
	}
	return root, nil
}

// errMultiple and errNoElement are what oneElement finds wrong with a
// message that parses.
var (
	errMultiple  = errors.New("got more than one element in one message")
	errNoElement = errors.New("got no element")
)

// oneElement runs a message (leading whitespace trimmed) through the
// Splitter: an optional XML declaration, one element standing alone (its
// namespaces declared on itself, RFC 7395 section 3.3.3), whitespace. It
// returns the element's token and the Splitter that read it (for the
// element's attributes), or the Splitter's *Error, errMultiple or
// errNoElement. max bounds the element, depth its nesting.
func oneElement(body []byte, max, depth int) (Token, *Splitter, error) {
	if bytes.HasPrefix(body, []byte("<?")) {
		end := bytes.Index(body[2:], []byte("?>")) + 2
		if end < 2 {
			return Token{}, nil, &Error{Phase: PhaseStream, Reason: "got an unterminated XML declaration", Got: excerpt(body), Err: &StreamError{Condition: "not-well-formed"}}
		}
		d := &Splitter{buf: body, end: len(body)}
		if err := d.checkDecl(body[:end+2]); err != nil {
			return Token{}, nil, err
		}
		body = bytes.TrimLeft(body[end+2:], " \t\r\n")
	}
	s := newByteSplitter(body, max, modeWS)
	s.maxDepth = depth
	var tok Token
	for {
		t, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Token{}, nil, err
		}
		if t.Kind == TokenSpace {
			continue
		}
		if tok.Kind != 0 {
			return Token{}, nil, errMultiple
		}
		tok = t
	}
	if tok.Kind == 0 {
		return Token{}, nil, errNoElement
	}
	return tok, s, nil
}

// messageError turns what oneElement found wrong into the *Error of a
// message that should have been want.
func messageError(phase, want string, err error) *Error {
	switch err {
	case errMultiple:
		return &Error{Phase: phase, Reason: err.Error(), Err: ErrNotXMPP}
	case errNoElement:
		return &Error{Phase: phase, Reason: "got no element where " + want + " was expected", Err: ErrNotXMPP}
	}
	var e *Error
	var se *StreamError
	if !errors.As(err, &e) || !errors.As(err, &se) {
		return &Error{Phase: phase, Reason: "could not parse XML", Err: err}
	}
	return splitterError(phase, e, se, "outside any element")
}

// splitterError restates a Splitter's *Error (whose cause names the
// stream error condition to send a peer) as the *Error of a reader that
// expected something of a peer: the sentinel cause a dialer classifies a
// route with (C3) instead of a condition the peer never sent. textWhere
// says where text does not belong, for bad-format.
func splitterError(phase string, e *Error, se *StreamError, textWhere string) *Error {
	out := &Error{Phase: phase, Reason: e.Reason, Got: e.Got}
	switch se.Condition {
	case "restricted-xml":
		out.Err = ErrRestrictedXML
	case "policy-violation":
		out.Err = ErrTooLarge
	case "bad-format":
		out.Reason, out.Err = "got text "+textWhere, ErrNotXMPP
	case "invalid-namespace":
		out.Err = ErrNotXMPP
	default: // not-well-formed, bad-namespace-prefix, unsupported-encoding
		out.Reason, out.Err = "got ill-formed XML", errors.New(e.Reason)
	}
	return out
}

func looksHTML(b []byte) bool {
	p := strings.ToLower(string(b[:min(len(b), 15)]))
	return strings.HasPrefix(p, "<!doctype html") || strings.HasPrefix(p, "<html")
}

// sameDomain compares XMPP domains as C4 needs: ASCII case-insensitively,
// ignoring one trailing dot. An empty from never matches.
func sameDomain(from, domain string) bool {
	from, domain = strings.TrimSuffix(from, "."), strings.TrimSuffix(domain, ".")
	return from != "" && strings.EqualFold(from, domain)
}

// checkVersion accepts "1.x" (RFC 6120 section 4.7.5: the major version
// must match; a minor version is an extension the client may ignore).
func checkVersion(v string) bool {
	major, minor, ok := strings.Cut(v, ".")
	if !ok || major != "1" || minor == "" {
		return false
	}
	for _, c := range minor {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// xmlAttr appends name='value' (value escaped) with a leading space.
func xmlAttr(b *bytes.Buffer, name, value string) {
	b.WriteString(" " + name + "='")
	xml.EscapeText(b, []byte(value)) //nolint:errcheck // bytes.Buffer never fails
	b.WriteByte('\'')
}

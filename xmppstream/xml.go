package xmppstream

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// errLimit is what boundedReader returns past its bound; readers turn it
// into ErrTooLarge.
var errLimit = errors.New("read bound reached")

// boundedReader hands bytes one at a time to an xml.Decoder (which then
// does no buffering of its own), counts them against a limit, and records
// them so that raw elements and excerpts can be cut out afterwards.
// Reading byte by byte means nothing past the element of interest is ever
// consumed from the connection.
type boundedReader struct {
	r       io.Reader
	br      io.ByteReader // r itself when it is one
	limit   int
	rec     []byte // every byte read so far
	pending int    // bytes of rec to hand out again (after unread)
	pos     int    // next byte of rec to hand out when pending > 0
	err     error  // first error from r
	one     [1]byte
}

func newBoundedReader(r io.Reader, limit int) *boundedReader {
	b := &boundedReader{r: r, limit: limit}
	b.br, _ = r.(io.ByteReader)
	return b
}

func (b *boundedReader) ReadByte() (byte, error) {
	if b.pending > 0 {
		c := b.rec[b.pos]
		b.pos++
		b.pending--
		return c, nil
	}
	if b.err != nil {
		return 0, b.err
	}
	if len(b.rec) >= b.limit {
		b.err = errLimit
		return 0, b.err
	}
	var c byte
	if b.br != nil {
		c, b.err = b.br.ReadByte()
	} else {
		for tries := 0; ; tries++ {
			var n int
			n, b.err = b.r.Read(b.one[:])
			if n == 1 {
				c, b.err = b.one[0], nil // a byte with io.EOF: keep the byte, EOF comes next read
				break
			}
			if b.err != nil {
				break
			}
			if tries > 100 {
				b.err = io.ErrNoProgress
				break
			}
		}
	}
	if b.err != nil {
		return 0, b.err
	}
	b.rec = append(b.rec, c)
	return c, nil
}

// unread makes the last n recorded bytes be read again.
func (b *boundedReader) unread(n int) {
	b.pending += n
	b.pos = len(b.rec) - b.pending
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c, err := b.ReadByte()
	if err != nil {
		return 0, err
	}
	p[0] = c
	return 1, nil
}

// newDecoder returns a strict decoder over r that knows only the five
// predefined entities (RFC 6120 section 11.1).
func newDecoder(r io.Reader) *xml.Decoder {
	d := xml.NewDecoder(r)
	d.Strict = true
	return d
}

// restricted reports the RFC 6120 section 11.1 violation tok is, if any.
// first says whether tok is the first token of the document, where the XML
// declaration is allowed.
func restricted(tok xml.Token, first bool) string {
	switch t := tok.(type) {
	case xml.ProcInst:
		if t.Target == "xml" && first {
			return ""
		}
		if t.Target == "xml" {
			return "an XML declaration that is not at the start"
		}
		return "a processing instruction <?" + t.Target + "?>"
	case xml.Directive:
		d := string(t)
		if len(d) > 20 {
			d = d[:20]
		}
		return "a <!" + d + "> declaration (DOCTYPE and entities are forbidden)"
	case xml.Comment:
		return "an XML comment"
	}
	return ""
}

// elem is a parsed element: the small tree the message checks work on.
type elem struct {
	Name     xml.Name
	Attr     []xml.Attr
	Children []*elem
	Text     string // character data directly inside, concatenated
	Raw      []byte // the element's bytes as received
}

// attr is get that also reports whether the attribute is present, for
// callers that tell an absent attribute from an empty one (intAttr).
func (e *elem) attr(space, local string) (string, bool) {
	for _, a := range e.Attr {
		if a.Name.Space == space && a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

func (e *elem) get(space, local string) string {
	return attrValue(e.Attr, space, local)
}

// child returns the first child element named {space}local, or nil.
func (e *elem) child(space, local string) *elem {
	for _, c := range e.Children {
		if c.Name.Space == space && c.Name.Local == local {
			return c
		}
	}
	return nil
}

// tree reads the rest of the element that start opened (the decoder has
// just returned start, which began at offset off), bounded in depth. raw
// cuts bytes [from, to) of the decoder's input.
func tree(d *xml.Decoder, start xml.StartElement, off int64, depth int, raw func(from, to int64) []byte) (*elem, error) {
	if depth > maxDepth {
		return nil, errDepth
	}
	e := &elem{Name: start.Name, Attr: start.Attr}
	var text strings.Builder
	for {
		before := d.InputOffset()
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		if why := restricted(tok, false); why != "" {
			return nil, &restrictedError{why}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			c, err := tree(d, t.Copy(), before, depth+1, raw)
			if err != nil {
				return nil, err
			}
			e.Children = append(e.Children, c)
		case xml.CharData:
			if text.Len() < MaxMessageBytes {
				text.Write(t)
			}
		case xml.EndElement:
			e.Text = text.String()
			e.Raw = raw(off, d.InputOffset())
			return e, nil
		}
	}
}

// errDepth is what tree returns past maxDepth (H6: bounded depth).
var errDepth = fmt.Errorf("elements nested deeper than %d", maxDepth)

// restrictedError carries an RFC 6120 section 11.1 violation out of tree.
type restrictedError struct{ why string }

func (e *restrictedError) Error() string { return e.why }

// streamError extracts the condition and text of a <stream:error/>.
func streamError(e *elem) *StreamError {
	se := &StreamError{}
	for _, c := range e.Children {
		if c.Name.Space != NSStreamErr {
			continue
		}
		if c.Name.Local == "text" {
			se.Text = strings.TrimSpace(c.Text)
		} else if se.Condition == "" {
			se.Condition = c.Name.Local
			if t := strings.TrimSpace(c.Text); t != "" && se.Text == "" {
				se.Text = t // see-other-host carries the new host
			}
		}
	}
	return se
}

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
	d := newDecoder(bytes.NewReader(msg))
	raw := func(from, to int64) []byte { return msg[from:to] }
	var root *elem
	for first := true; ; first = false {
		before := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, xmlError(phase, err, msg[min(int(before), len(msg)):])
		}
		if why := restricted(tok, first); why != "" {
			return nil, &Error{Phase: phase, Reason: "got " + why + ", which XMPP forbids", Got: excerpt(msg[before:]), Err: ErrRestrictedXML}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root != nil {
				return nil, &Error{Phase: phase, Reason: "got more than one element in one message", Got: excerpt(msg[before:]), Err: ErrNotXMPP}
			}
			root, err = tree(d, t.Copy(), before, 1, raw)
			if err != nil {
				return nil, xmlError(phase, err, msg[before:])
			}
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return nil, &Error{Phase: phase, Reason: "got text outside any element", Got: excerpt(bytes.TrimSpace(t)), Err: ErrNotXMPP}
			}
		}
	}
	if root == nil {
		return nil, &Error{Phase: phase, Reason: "got no element where " + want + " was expected", Got: excerpt(trimmed), Err: ErrNotXMPP}
	}
	return root, nil
}

// xmlError turns a decoding failure into an *Error.
func xmlError(phase string, err error, at []byte) *Error {
	var re *restrictedError
	if errors.As(err, &re) {
		return &Error{Phase: phase, Reason: "got " + re.why + ", which XMPP forbids", Got: excerpt(at), Err: ErrRestrictedXML}
	}
	if errors.Is(err, errDepth) {
		return &Error{Phase: phase, Reason: "got " + errDepth.Error(), Got: excerpt(at), Err: ErrTooLarge}
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return &Error{Phase: phase, Reason: "got ill-formed XML", Got: excerpt(at), Err: err}
	}
	return &Error{Phase: phase, Reason: "could not parse XML", Got: excerpt(at), Err: err}
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

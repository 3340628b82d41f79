package safexml

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// This file is the reader itself: markup, names, namespaces, the element
// stack and positions. text.go reads character data and references,
// names.go holds XML's name tables.

// xmlNamespace is the namespace the reserved prefix xml stands for.
const xmlNamespace = "http://www.w3.org/XML/1998/namespace"

// Kind says what a Token is.
type Kind uint8

// Kinds of Token.
const (
	EOF          Kind = iota // end of input, every element closed
	StartElement             // start tag; <x/> gives StartElement then EndElement
	EndElement               // end tag
	CharData                 // character data or a CDATA section
)

// Name is an element or attribute name as written (Prefix, Local) and the
// namespace it is in (Space), resolved as encoding/xml resolves it: the
// URI bound to the prefix where the name appears, the prefix itself when it
// is not bound, the default namespace for an unprefixed element, "" for an
// unprefixed attribute.
type Name struct {
	Space, Local, Prefix string
}

// Attr is one attribute of a start tag, its value decoded.
type Attr struct {
	Name  Name
	Value string
}

// Token is one piece of the input. Comments, and the XML declaration, are
// consumed by the Reader and never returned. Names and values are
// substrings of the input unless decoding changed them.
type Token struct {
	Kind Kind
	// Offset is the offset of the token's first byte: the '<' of a tag,
	// the first byte of text or of a CDATA section. The EndElement of an
	// empty-element tag <x/> is at the end of that tag; EOF is at the end
	// of the input.
	Offset int
	Name   Name // of a StartElement or EndElement
	// Attr holds the attributes of a StartElement, in document order;
	// valid until the next call of Next.
	Attr []Attr
	// The character data of a CharData: text as written, or, when decoded
	// is set, dec (valid until the next call of Next).
	text    string
	dec     []byte
	decoded bool
}

// Blank reports whether a CharData holds only white space (Unicode's
// definition, as bytes.TrimSpace).
func (t *Token) Blank() bool {
	if t.decoded {
		return len(bytes.TrimSpace(t.dec)) == 0
	}
	return strings.TrimSpace(t.text) == ""
}

// Text returns the character data of a CharData, decoded: references
// expanded and line ends normalized to "\n". It copies only when decoding
// changed the text.
func (t *Token) Text() string {
	if t.decoded {
		return string(t.dec)
	}
	return t.text
}

// Element is an open element on the Reader's stack.
type Element struct {
	Name   Name
	Offset int // offset of its '<'
	nsLen  int // len(Reader.ns) before the element's own declarations
}

type nsBinding struct{ prefix, uri string }

// Reader reads Tokens from a string. It is made by NewReader; it is not
// safe for concurrent use. Its offset moves as encoding/xml's Decoder
// offset does (a byte looked at and put back is not consumed), so
// positions in errors match.
type Reader struct {
	s        string
	i        int
	maxDepth int
	stack    []Element   // open elements, outermost first
	ns       []nsBinding // namespace declarations in scope, innermost last
	attrs    []Attr      // reused for each start tag
	buf      []byte      // decoded text or attribute value
	// selfClosed is set after <x/>: its EndElement is the next token.
	selfClosed bool
	// err is the first error, returned again by every later Next: the
	// offset is somewhere inside what could not be read. errorAt, which
	// makes every error, sets it (a wrapper around Next would cost a copy
	// of each Token).
	err error
	// line cache for LineCol: the line of offset lcOff, and where that
	// line starts
	lcOff, lcLine, lcStart int
}

// NewReader returns a Reader of s that refuses elements nested deeper
// than maxDepth levels, the root element being level 1 (H6). The caller
// bounds the size of s, and removes a byte order mark if it accepts one:
// offsets count from the start of s, and an XML declaration is allowed at
// offset 0 only.
func NewReader(s string, maxDepth int) *Reader {
	return &Reader{
		s:        s,
		maxDepth: maxDepth,
		stack:    make([]Element, 0, min(max(maxDepth, 0), 16)),
		attrs:    make([]Attr, 0, 8),
		lcLine:   1,
	}
}

// Declare binds prefix ("" for the default namespace) to uri around the
// whole input, as the declarations of an enclosing element would: the
// input is then an element cut out of a larger document, such as a child
// of an XMPP stream, whose header declares the stream: prefix and the
// default namespace for everything inside it (RFC 6120 section 4.8). The
// input's own declarations override it, as nested ones do. The reserved
// prefixes xml and xmlns keep their meaning whatever is declared. Declare
// must be called before the first Next: later, it would change the names
// of elements already returned, so it panics.
func (r *Reader) Declare(prefix, uri string) {
	if r.i != 0 || len(r.stack) != 0 || r.err != nil {
		panic("safexml: Declare after Next")
	}
	r.ns = append(r.ns, nsBinding{prefix, uri})
}

// Offset returns the offset of the first byte not yet consumed: after the
// EndElement of an element, the offset just past that element's end tag.
func (r *Reader) Offset() int { return r.i }

// Stack returns the open elements, outermost first. The slice is the
// Reader's own: valid until the next call of Next, not to be modified.
func (r *Reader) Stack() []Element { return r.stack }

// LineCol converts an offset to a 1-based line and column (columns count
// bytes, lines count '\n', as encoding/xml does). Callers ask mostly in
// increasing order, so counting resumes from the previous answer.
func (r *Reader) LineCol(off int) (line, col int) {
	if off < r.lcOff {
		r.lcOff, r.lcLine, r.lcStart = 0, 1, 0
	}
	seg := r.s[r.lcOff:off]
	if n := strings.Count(seg, "\n"); n > 0 {
		r.lcLine += n
		r.lcStart = r.lcOff + strings.LastIndexByte(seg, '\n') + 1
	}
	r.lcOff = off
	return r.lcLine, off - r.lcStart + 1
}

// errorAt builds the error for a problem found with the reader at off,
// and makes it the error of every later Next. unread says that the byte at off was looked at and put back; when that
// byte is a newline, encoding/xml reports column 0 of that line, and so do
// we.
func (r *Reader) errorAt(off int, unread bool, rule, msg string) *SyntaxError {
	line, col := r.LineCol(off)
	if unread && off < len(r.s) && r.s[off] == '\n' {
		col = 0
	}
	e := &SyntaxError{Offset: off, Line: line, Col: col, Rule: rule, Msg: msg}
	r.err = e
	return e
}

// malformed reports input that is not well-formed XML (E3).
func (r *Reader) malformed(off int, unread bool, msg string) *SyntaxError {
	return r.errorAt(off, unread, "E3", "not well-formed XML: "+msg)
}

// unexpectedEOF reports input that ends in the middle of something: when
// an element is open, the message names the innermost one and where it
// was opened (E3).
func (r *Reader) unexpectedEOF() *SyntaxError {
	if len(r.stack) == 0 {
		return r.malformed(len(r.s), false, "unexpected EOF")
	}
	top := r.stack[len(r.stack)-1]
	line, col := r.LineCol(top.Offset)
	return r.errorAt(len(r.s), false, "E3", fmt.Sprintf("document ends but <%s> (opened at %d:%d) is never closed: expected </%s>",
		top.Name.Local, line, col, top.Name.Local))
}

// mustgetc consumes one byte; the input must not end here.
func (r *Reader) mustgetc() (byte, error) {
	if r.i >= len(r.s) {
		return 0, r.unexpectedEOF()
	}
	b := r.s[r.i]
	r.i++
	return b, nil
}

// space skips XML white space.
func (r *Reader) space() {
	for r.i < len(r.s) {
		switch r.s[r.i] {
		case ' ', '\r', '\n', '\t':
			r.i++
		default:
			return
		}
	}
}

// Next returns the next token. Its error, when not nil, is a *SyntaxError,
// and every later call returns an error too. It returns EOF only once the
// input has ended with every element closed: input that ends inside an
// element is an error naming the innermost one.
func (r *Reader) Next() (Token, error) {
	if r.err != nil {
		return Token{}, r.err
	}
	if r.selfClosed {
		r.selfClosed = false
		return r.pop(), nil
	}
	for {
		start := r.i
		if start == len(r.s) {
			if len(r.stack) > 0 {
				return Token{}, r.unexpectedEOF()
			}
			return Token{Kind: EOF, Offset: start}, nil
		}
		if r.s[start] != '<' {
			return r.charData(start, false)
		}
		r.i++
		b, err := r.mustgetc()
		if err != nil {
			return Token{}, err
		}
		switch b {
		case '/':
			return r.endTag(start)
		case '?':
			if err := r.procInst(start); err != nil {
				return Token{}, err
			}
		case '!':
			b, err := r.mustgetc()
			if err != nil {
				return Token{}, err
			}
			switch b {
			case '-':
				if err := r.comment(); err != nil {
					return Token{}, err
				}
			case '[':
				for k := 0; k < len("CDATA["); k++ {
					b, err := r.mustgetc()
					if err != nil {
						return Token{}, err
					}
					if b != "CDATA["[k] {
						return Token{}, r.malformed(r.i, false, "invalid <![ sequence")
					}
				}
				return r.charData(start, true)
			default:
				return Token{}, r.directive(start, b)
			}
		default:
			r.i--
			return r.startTag(start)
		}
	}
}

// pop closes the innermost element and returns its EndElement.
func (r *Reader) pop() Token {
	top := r.stack[len(r.stack)-1]
	r.stack = r.stack[:len(r.stack)-1]
	r.ns = r.ns[:top.nsLen]
	return Token{Kind: EndElement, Offset: r.i, Name: top.Name}
}

// name reads an XML Name; missing is the complaint when there is none.
func (r *Reader) name(missing string) (string, error) {
	start := r.i
	for {
		if r.i >= len(r.s) {
			return "", r.unexpectedEOF()
		}
		// Every byte from 0x80 up is taken in; isName judges the whole.
		if c := r.s[r.i]; c < utf8.RuneSelf && !isNameByte(c) {
			break
		}
		r.i++
	}
	s := r.s[start:r.i]
	if s == "" {
		return "", r.malformed(r.i, true, missing)
	}
	if !isName(s) {
		return "", r.malformed(r.i, true, "invalid XML name: "+s)
	}
	return s, nil
}

// qname reads a name that may have a prefix. As in encoding/xml, a name
// with a colon at either end is all local part, and more than one colon is
// no name at all.
func (r *Reader) qname(missing string) (prefix, local string, err error) {
	s, err := r.name(missing)
	if err != nil {
		return "", "", err
	}
	if strings.Count(s, ":") > 1 {
		return "", "", r.malformed(r.i, true, missing)
	}
	if p, l, ok := strings.Cut(s, ":"); ok && p != "" && l != "" {
		return p, l, nil
	}
	return "", s, nil
}

// startTag reads <name attr="value" ...> or <name .../>; start is the
// offset of '<', which has been consumed.
func (r *Reader) startTag(start int) (Token, error) {
	prefix, local, err := r.qname("expected element name after <")
	if err != nil {
		return Token{}, err
	}
	attrs := r.attrs[:0]
	empty := false
	for {
		r.space()
		b, err := r.mustgetc()
		if err != nil {
			return Token{}, err
		}
		if b == '/' {
			if b, err = r.mustgetc(); err != nil {
				return Token{}, err
			}
			if b != '>' {
				return Token{}, r.malformed(r.i, false, "expected /> in element")
			}
			empty = true
			break
		}
		if b == '>' {
			break
		}
		r.i--
		p, l, err := r.qname("expected attribute name in element")
		if err != nil {
			return Token{}, err
		}
		r.space()
		if b, err = r.mustgetc(); err != nil {
			return Token{}, err
		}
		if b != '=' {
			return Token{}, r.malformed(r.i, false, "attribute name without = in element")
		}
		r.space()
		if b, err = r.mustgetc(); err != nil {
			return Token{}, err
		}
		if b != '"' && b != '\'' {
			return Token{}, r.malformed(r.i, false, "unquoted or missing attribute value in element")
		}
		v, err := r.attrValue(b)
		if err != nil {
			return Token{}, err
		}
		attrs = append(attrs, Attr{Name: Name{Prefix: p, Local: l}, Value: v})
	}
	r.attrs = attrs

	// Declarations on an element apply to its own name and attributes.
	nsLen := len(r.ns)
	for _, a := range attrs {
		switch {
		case a.Name.Prefix == "xmlns":
			r.ns = append(r.ns, nsBinding{a.Name.Local, a.Value})
		case a.Name.Prefix == "" && a.Name.Local == "xmlns":
			r.ns = append(r.ns, nsBinding{"", a.Value})
		}
	}
	name := Name{Prefix: prefix, Local: local}
	name.Space = r.resolve(name, true)
	for k := range attrs {
		attrs[k].Name.Space = r.resolve(attrs[k].Name, false)
	}

	if len(r.stack) >= r.maxDepth {
		return Token{}, r.errorAt(start, false, "H6", fmt.Sprintf("elements nested deeper than %d levels", r.maxDepth))
	}
	if dup := duplicateAttr(attrs); dup != "" {
		return Token{}, r.errorAt(start, false, "E3", fmt.Sprintf("attribute %q given twice on <%s>", dup, local))
	}
	r.stack = append(r.stack, Element{Name: name, Offset: start, nsLen: nsLen})
	r.selfClosed = empty
	return Token{Kind: StartElement, Offset: start, Name: name, Attr: attrs}, nil
}

// resolve finds the namespace of a name, as encoding/xml does (no
// DefaultSpace): see Name.
func (r *Reader) resolve(n Name, element bool) string {
	switch {
	case n.Prefix == "xmlns":
		return n.Prefix
	case n.Prefix == "" && !element:
		return ""
	case n.Prefix == "xml":
		return xmlNamespace
	case n.Prefix == "" && n.Local == "xmlns":
		return ""
	}
	for k := len(r.ns) - 1; k >= 0; k-- {
		if r.ns[k].prefix == n.Prefix {
			return r.ns[k].uri
		}
	}
	return n.Prefix
}

// duplicateAttr returns the local name of an attribute given twice (same
// namespace and local name), or "".
func duplicateAttr(attrs []Attr) string {
	if len(attrs) > 16 {
		// A pathological tag: stay linear. The answer is the same as the
		// loop's below: of the names given twice, the one given first.
		first := make(map[[2]string]int, len(attrs))
		best := -1
		for j, a := range attrs {
			k := [2]string{a.Name.Space, a.Name.Local}
			if i, ok := first[k]; !ok {
				first[k] = j
			} else if best < 0 || i < best {
				best = i
			}
		}
		if best < 0 {
			return ""
		}
		return attrs[best].Name.Local
	}
	for i := range attrs {
		for j := i + 1; j < len(attrs); j++ {
			if attrs[i].Name.Space == attrs[j].Name.Space && attrs[i].Name.Local == attrs[j].Name.Local {
				return attrs[i].Name.Local
			}
		}
	}
	return ""
}

// endTag reads </name>; start is the offset of '<'. The name must be that
// of the innermost open element (E3).
func (r *Reader) endTag(start int) (Token, error) {
	prefix, local, err := r.qname("expected element name after </")
	if err != nil {
		return Token{}, err
	}
	r.space()
	b, err := r.mustgetc()
	if err != nil {
		return Token{}, err
	}
	if b != '>' {
		return Token{}, r.malformed(r.i, false, "invalid characters between </"+local+" and >")
	}
	if len(r.stack) == 0 {
		return Token{}, r.malformed(r.i, false, "unexpected end element </"+local+">")
	}
	top := r.stack[len(r.stack)-1]
	switch {
	case top.Name.Local != local:
		// The draft's own example (E3): say which element is still open,
		// where it was opened, and both ways to fix it.
		line, col := r.LineCol(top.Offset)
		open := top.Name.Local
		return Token{}, r.errorAt(r.i, false, "E3", fmt.Sprintf("found </%s> but <%s> (opened at %d:%d) is still open: close it with </%s> or write it as <%s .../>",
			local, open, line, col, open, open))
	case top.Name.Prefix != prefix:
		space := prefix
		if space == "" {
			space = `""`
		}
		return Token{}, r.malformed(r.i, false, "element <"+top.Name.Local+"> in space "+top.Name.Prefix+" closed by </"+local+"> in space "+space)
	}
	t := r.pop()
	t.Offset = start
	return t, nil
}

// procInst reads <?target ...?>: only the XML declaration, first in the
// document, is allowed (H6), and it must not announce another XML version
// or a charset other than UTF-8.
func (r *Reader) procInst(start int) error {
	target, err := r.name("expected target name after <?")
	if err != nil {
		return err
	}
	r.space()
	from := r.i
	var b0 byte
	for {
		b, err := r.mustgetc()
		if err != nil {
			return err
		}
		if b0 == '?' && b == '>' {
			break
		}
		b0 = b
	}
	content := r.s[from : r.i-2]
	if target == "xml" {
		if v := procInstParam("version", content); v != "" && v != "1.0" {
			return r.errorAt(r.i, false, "", fmt.Sprintf("xml: unsupported version %q; only version 1.0 is supported", v))
		}
		if enc := procInstParam("encoding", content); enc != "" && !strings.EqualFold(enc, "utf-8") {
			return r.errorAt(r.i, false, "", fmt.Sprintf("encoding %q: only UTF-8 documents are supported", enc))
		}
	}
	switch {
	case target != "xml":
		return r.errorAt(start, false, "H6", fmt.Sprintf("processing instruction <?%s?> is not allowed", target))
	case start != 0:
		return r.errorAt(start, false, "E3", "the XML declaration <?xml ...?> must be the very first thing in the document")
	}
	return nil
}

// procInstParam finds param="value" (or 'value') in the XML declaration,
// with encoding/xml's reading of it.
func procInstParam(param, s string) string {
	param += "="
	i := 0
	var sep byte
	for i < len(s) {
		sub := s[i:]
		k := strings.Index(sub, param)
		if k < 0 || len(param)+k >= len(sub) {
			return ""
		}
		i += len(param) + k + 1
		if c := sub[len(param)+k]; c == '\'' || c == '"' {
			sep = c
			break
		}
	}
	if sep == 0 {
		return ""
	}
	j := strings.IndexByte(s[i:], sep)
	if j < 0 {
		return ""
	}
	return s[i : i+j]
}

// comment reads the rest of <!-- ... -->, "<!-" having been consumed.
func (r *Reader) comment() error {
	b, err := r.mustgetc()
	if err != nil {
		return err
	}
	if b != '-' {
		return r.malformed(r.i, false, "invalid sequence <!- not part of <!--")
	}
	var b0, b1 byte
	for {
		b, err := r.mustgetc()
		if err != nil {
			return err
		}
		if b0 == '-' && b1 == '-' {
			if b != '>' {
				return r.malformed(r.i, false, `invalid sequence "--" not allowed in comments`)
			}
			return nil
		}
		b0, b1 = b1, b
	}
}

// directive reads a <!DOCTYPE ...> or other declaration to its end, as
// encoding/xml delimits one (so that an unterminated one is reported as
// such), and refuses it (H6): this is where XXE would come in.
func (r *Reader) directive(start int, b byte) error {
	// The declaration's text with comments blanked out, to tell entity
	// declarations apart in the message.
	text := []byte{b}
	var inquote byte
	depth := 0
	for {
		b, err := r.mustgetc()
		if err != nil {
			return err
		}
		if inquote == 0 && b == '>' && depth == 0 {
			break
		}
	handle:
		text = append(text, b)
		switch {
		case b == inquote:
			inquote = 0
		case inquote != 0:
		case b == '\'' || b == '"':
			inquote = b
		case b == '>':
			depth--
		case b == '<':
			const open = "!--"
			for k := 0; k < len(open); k++ {
				if b, err = r.mustgetc(); err != nil {
					return err
				}
				if b != open[k] {
					text = append(text, open[:k]...)
					depth++
					goto handle
				}
			}
			text = text[:len(text)-1]
			var b0, b1 byte
			for {
				if b, err = r.mustgetc(); err != nil {
					return err
				}
				if b0 == '-' && b1 == '-' && b == '>' {
					break
				}
				b0, b1 = b1, b
			}
			text = append(text, ' ')
		}
	}
	msg := "DOCTYPE and other <!...> declarations are not allowed"
	if bytes.Contains(text, []byte("ENTITY")) {
		msg = "entity declarations are not allowed"
	}
	return r.errorAt(start, false, "H6", msg)
}

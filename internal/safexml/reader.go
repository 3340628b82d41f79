package hacx

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// This file is the document reader: a tokenizer for the strict, safe subset
// of XML that HACX documents are read in (H6). It refuses DOCTYPE and every
// other <!...> declaration (so no entity can be declared, and nothing
// external is ever referenced), every processing instruction but the XML
// declaration at the very start, nesting deeper than maxDepth, undefined
// entities and anything that is not well-formed (E3). Parse has already
// bounded the size (MaxSize).
//
// Its syntax is exactly that of encoding/xml's Decoder in Strict mode, with
// the same error messages at the same line:column, so that `hacx lint`
// reports what it always reported. The difference is cost: the input is one
// string, names and attribute values are substrings of it (a value is copied
// only when an entity or a carriage return must be decoded), tokens are
// plain structs rather than interface values, and the reader keeps its own
// stack of open elements, so that "closed by" and "never closed" messages
// come from that stack (name and position of each open element), never from
// an error string. FuzzParse_NoLaxerThanEncodingXML checks that the reader
// never accepts what encoding/xml refuses.

// maxDepth bounds element nesting (H6): <hacx>, a record and a pin need
// three levels; extensions get a few more.
const maxDepth = 8

// xmlNamespace is the namespace the reserved prefix xml stands for.
const xmlNamespace = "http://www.w3.org/XML/1998/namespace"

type tokKind uint8

const (
	tokEOF   tokKind = iota // end of input, every element closed
	tokStart                // start tag; <x/> gives tokStart then tokEnd
	tokEnd                  // end tag
	tokText                 // character data or a CDATA section
)

// xmlName is an element or attribute name as written (prefix, local) and
// the namespace it is in (space), resolved as encoding/xml resolves it: the
// URI bound to the prefix where the name appears, the prefix itself when it
// is not bound, the default namespace for an unprefixed element, "" for an
// unprefixed attribute.
type xmlName struct {
	prefix, local, space string
}

type xmlAttr struct {
	name  xmlName
	value string
}

// token is one piece of the document. Comments, and the XML declaration,
// are consumed by the reader and never returned.
type token struct {
	kind tokKind
	off  int     // offset of the token's first byte; end of input for tokEOF
	name xmlName // tokStart, tokEnd
	// attrs of a tokStart, in document order; valid until the next call
	// of next.
	attrs []xmlAttr
	// The character data of a tokText: text as written, or, when decoded
	// is set, dec (valid until the next call of next).
	text    string
	dec     []byte
	decoded bool
}

// blank reports whether a tokText holds only white space (Unicode's
// definition, as bytes.TrimSpace).
func (t *token) blank() bool {
	if t.decoded {
		return len(bytes.TrimSpace(t.dec)) == 0
	}
	return strings.TrimSpace(t.text) == ""
}

type openElem struct {
	name  xmlName
	off   int // offset of its '<'
	nsLen int // len(xmlReader.ns) before the element's own declarations
}

type nsBinding struct{ prefix, uri string }

// xmlReader reads tokens from s. Its offset i moves as encoding/xml's
// Decoder offset does (a byte looked at and put back is not consumed), so
// positions in errors match.
type xmlReader struct {
	s     string
	i     int
	stack []openElem  // open elements, outermost first
	ns    []nsBinding // namespace declarations in scope, innermost last
	attrs []xmlAttr   // reused for each start tag
	buf   []byte      // decoded text or attribute value
	// selfClosed is set after <x/>: its tokEnd is the next token.
	selfClosed bool
	// line cache for lineCol: the line of offset lcOff, and where that
	// line starts
	lcOff, lcLine, lcStart int
}

func newXMLReader(s string) *xmlReader {
	return &xmlReader{
		s:      s,
		stack:  make([]openElem, 0, maxDepth),
		attrs:  make([]xmlAttr, 0, 8),
		lcLine: 1,
	}
}

// lineCol converts an offset to a 1-based line and column (columns count
// bytes, lines count '\n', as encoding/xml does). Callers ask mostly in
// increasing order, so counting resumes from the previous answer.
func (r *xmlReader) lineCol(off int) (line, col int) {
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

// errorAt builds the error for a problem found with the reader at off.
// unread says that the byte at off was looked at and put back; when that
// byte is a newline, encoding/xml reports column 0 of that line, and so do
// we.
func (r *xmlReader) errorAt(off int, unread bool, rule, msg string) *SyntaxError {
	line, col := r.lineCol(off)
	if unread && off < len(r.s) && r.s[off] == '\n' {
		col = 0
	}
	return &SyntaxError{Line: line, Col: col, Rule: rule, Msg: msg}
}

// malformed reports input that is not well-formed XML (E3).
func (r *xmlReader) malformed(off int, unread bool, msg string) *SyntaxError {
	return r.errorAt(off, unread, "E3", "not well-formed XML: "+msg)
}

// unexpectedEOF reports input that ends in the middle of something: when
// an element is open, the message names the innermost one and where it
// was opened (E3).
func (r *xmlReader) unexpectedEOF() *SyntaxError {
	if len(r.stack) == 0 {
		return r.malformed(len(r.s), false, "unexpected EOF")
	}
	top := r.stack[len(r.stack)-1]
	line, col := r.lineCol(top.off)
	return r.errorAt(len(r.s), false, "E3", fmt.Sprintf("document ends but <%s> (opened at %d:%d) is never closed: expected </%s>",
		top.name.local, line, col, top.name.local))
}

// mustgetc consumes one byte; the input must not end here.
func (r *xmlReader) mustgetc() (byte, error) {
	if r.i >= len(r.s) {
		return 0, r.unexpectedEOF()
	}
	b := r.s[r.i]
	r.i++
	return b, nil
}

// space skips XML white space.
func (r *xmlReader) space() {
	for r.i < len(r.s) {
		switch r.s[r.i] {
		case ' ', '\r', '\n', '\t':
			r.i++
		default:
			return
		}
	}
}

// next returns the next token.
func (r *xmlReader) next() (token, error) {
	if r.selfClosed {
		r.selfClosed = false
		return r.pop(), nil
	}
	for {
		start := r.i
		if start == len(r.s) {
			if len(r.stack) > 0 {
				return token{}, r.unexpectedEOF()
			}
			return token{kind: tokEOF, off: start}, nil
		}
		if r.s[start] != '<' {
			return r.charData(start, false)
		}
		r.i++
		b, err := r.mustgetc()
		if err != nil {
			return token{}, err
		}
		switch b {
		case '/':
			return r.endTag(start)
		case '?':
			if err := r.procInst(start); err != nil {
				return token{}, err
			}
		case '!':
			b, err := r.mustgetc()
			if err != nil {
				return token{}, err
			}
			switch b {
			case '-':
				if err := r.comment(); err != nil {
					return token{}, err
				}
			case '[':
				for k := 0; k < len("CDATA["); k++ {
					b, err := r.mustgetc()
					if err != nil {
						return token{}, err
					}
					if b != "CDATA["[k] {
						return token{}, r.malformed(r.i, false, "invalid <![ sequence")
					}
				}
				return r.charData(start, true)
			default:
				return token{}, r.directive(start, b)
			}
		default:
			r.i--
			return r.startTag(start)
		}
	}
}

// pop closes the innermost element and returns its tokEnd.
func (r *xmlReader) pop() token {
	top := r.stack[len(r.stack)-1]
	r.stack = r.stack[:len(r.stack)-1]
	r.ns = r.ns[:top.nsLen]
	return token{kind: tokEnd, off: r.i, name: top.name}
}

// name reads an XML Name; missing is the complaint when there is none.
func (r *xmlReader) name(missing string) (string, error) {
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
func (r *xmlReader) qname(missing string) (prefix, local string, err error) {
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
func (r *xmlReader) startTag(start int) (token, error) {
	prefix, local, err := r.qname("expected element name after <")
	if err != nil {
		return token{}, err
	}
	attrs := r.attrs[:0]
	empty := false
	for {
		r.space()
		b, err := r.mustgetc()
		if err != nil {
			return token{}, err
		}
		if b == '/' {
			if b, err = r.mustgetc(); err != nil {
				return token{}, err
			}
			if b != '>' {
				return token{}, r.malformed(r.i, false, "expected /> in element")
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
			return token{}, err
		}
		r.space()
		if b, err = r.mustgetc(); err != nil {
			return token{}, err
		}
		if b != '=' {
			return token{}, r.malformed(r.i, false, "attribute name without = in element")
		}
		r.space()
		if b, err = r.mustgetc(); err != nil {
			return token{}, err
		}
		if b != '"' && b != '\'' {
			return token{}, r.malformed(r.i, false, "unquoted or missing attribute value in element")
		}
		v, err := r.attrValue(b)
		if err != nil {
			return token{}, err
		}
		attrs = append(attrs, xmlAttr{name: xmlName{prefix: p, local: l}, value: v})
	}
	r.attrs = attrs

	// Declarations on an element apply to its own name and attributes.
	nsLen := len(r.ns)
	for _, a := range attrs {
		switch {
		case a.name.prefix == "xmlns":
			r.ns = append(r.ns, nsBinding{a.name.local, a.value})
		case a.name.prefix == "" && a.name.local == "xmlns":
			r.ns = append(r.ns, nsBinding{"", a.value})
		}
	}
	name := xmlName{prefix: prefix, local: local}
	name.space = r.resolve(name, true)
	for k := range attrs {
		attrs[k].name.space = r.resolve(attrs[k].name, false)
	}

	if len(r.stack) >= maxDepth {
		return token{}, r.errorAt(start, false, "H6", fmt.Sprintf("elements nested deeper than %d levels", maxDepth))
	}
	if dup := duplicateAttr(attrs); dup != "" {
		return token{}, r.errorAt(start, false, "E3", fmt.Sprintf("attribute %q given twice on <%s>", dup, local))
	}
	r.stack = append(r.stack, openElem{name: name, off: start, nsLen: nsLen})
	r.selfClosed = empty
	return token{kind: tokStart, off: start, name: name, attrs: attrs}, nil
}

// resolve finds the namespace of a name, as encoding/xml does (no
// DefaultSpace): see xmlName.
func (r *xmlReader) resolve(n xmlName, element bool) string {
	switch {
	case n.prefix == "xmlns":
		return n.prefix
	case n.prefix == "" && !element:
		return ""
	case n.prefix == "xml":
		return xmlNamespace
	case n.prefix == "" && n.local == "xmlns":
		return ""
	}
	for k := len(r.ns) - 1; k >= 0; k-- {
		if r.ns[k].prefix == n.prefix {
			return r.ns[k].uri
		}
	}
	return n.prefix
}

// duplicateAttr returns the local name of an attribute given twice (same
// namespace and local name), or "".
func duplicateAttr(attrs []xmlAttr) string {
	if len(attrs) > 16 {
		// A pathological tag: stay linear. The answer is the same as the
		// loop's below: of the names given twice, the one given first.
		first := make(map[[2]string]int, len(attrs))
		best := -1
		for j, a := range attrs {
			k := [2]string{a.name.space, a.name.local}
			if i, ok := first[k]; !ok {
				first[k] = j
			} else if best < 0 || i < best {
				best = i
			}
		}
		if best < 0 {
			return ""
		}
		return attrs[best].name.local
	}
	for i := range attrs {
		for j := i + 1; j < len(attrs); j++ {
			if attrs[i].name.space == attrs[j].name.space && attrs[i].name.local == attrs[j].name.local {
				return attrs[i].name.local
			}
		}
	}
	return ""
}

// endTag reads </name>; start is the offset of '<'. The name must be that
// of the innermost open element (E3).
func (r *xmlReader) endTag(start int) (token, error) {
	prefix, local, err := r.qname("expected element name after </")
	if err != nil {
		return token{}, err
	}
	r.space()
	b, err := r.mustgetc()
	if err != nil {
		return token{}, err
	}
	if b != '>' {
		return token{}, r.malformed(r.i, false, "invalid characters between </"+local+" and >")
	}
	if len(r.stack) == 0 {
		return token{}, r.malformed(r.i, false, "unexpected end element </"+local+">")
	}
	top := r.stack[len(r.stack)-1]
	switch {
	case top.name.local != local:
		// The draft's own example (E3): say which element is still open,
		// where it was opened, and both ways to fix it.
		line, col := r.lineCol(top.off)
		open := top.name.local
		return token{}, r.errorAt(r.i, false, "E3", fmt.Sprintf("found </%s> but <%s> (opened at %d:%d) is still open: close it with </%s> or write it as <%s .../>",
			local, open, line, col, open, open))
	case top.name.prefix != prefix:
		space := prefix
		if space == "" {
			space = `""`
		}
		return token{}, r.malformed(r.i, false, "element <"+top.name.local+"> in space "+top.name.prefix+" closed by </"+local+"> in space "+space)
	}
	t := r.pop()
	t.off = start
	return t, nil
}

// procInst reads <?target ...?>: only the XML declaration, first in the
// document, is allowed (H6), and it must not announce another XML version
// or a charset other than UTF-8.
func (r *xmlReader) procInst(start int) error {
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
func (r *xmlReader) comment() error {
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
func (r *xmlReader) directive(start int, b byte) error {
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

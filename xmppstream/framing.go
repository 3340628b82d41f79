package xmppstream

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"hacx.dev/hacx"
)

// This file is the streaming side of the package: it cuts an RFC 6120 byte
// stream into top-level elements, and converts them to and from the
// message framings of RFC 7395 (WebSocket) and XEP-0206 (BOSH), which is
// what a proxy between a plain XMPP client and a WebSocket or BOSH
// upstream needs.

// TokenKind says what a Token is.
type TokenKind int

// Kinds of Token.
const (
	TokenOpen    TokenKind = iota + 1 // stream header <stream:stream ...> (also a restart)
	TokenElement                      // one complete top-level element (stanza, features, sasl...)
	TokenClose                        // </stream:stream>
	TokenSpace                        // whitespace between elements (keepalive)
)

func (k TokenKind) String() string {
	switch k {
	case TokenOpen:
		return "open"
	case TokenElement:
		return "element"
	case TokenClose:
		return "close"
	case TokenSpace:
		return "space"
	}
	return "TokenKind(" + strconv.Itoa(int(k)) + ")"
}

// Token is one unit of an XMPP stream as Splitter.Next, ParseWSMessage and
// BOSHChildren return it.
type Token struct {
	Kind TokenKind
	// Header holds the attributes of a TokenOpen (to, from, id, version,
	// xml:lang, default namespace); nil for the other kinds.
	Header *Header
	// Name is the namespace-resolved name of a TokenElement.
	Name xml.Name
	// Raw is a copy of the exact bytes as received: for a TokenOpen any
	// XML declaration before the header and the header's start tag, for a
	// TokenElement the element, for a TokenSpace the whitespace, for a
	// TokenClose the end tag (empty when the header was an empty-element
	// tag). The caller owns it.
	Raw []byte
	// SeeOtherURI is the see-other-uri attribute of an RFC 7395 <close/>
	// (a TokenClose from ParseWSMessage): where the server wants the
	// client to reconnect (RFC 7395). Empty otherwise.
	SeeOtherURI string

	scope *nsScope // namespace declarations of the stream header in effect
}

// DefaultMaxElement bounds one top-level element; a larger one is a
// policy-violation (RFC 6120 section 4.9.3.14).
const DefaultMaxElement = 256 << 10

// MaxBOSHBody bounds a whole BOSH body given to BOSHChildren: a connection
// manager may hold several stanzas in one response.
const MaxBOSHBody = 4 * DefaultMaxElement

// PhaseStream names errors from Splitter, ParseWSMessage and BOSHChildren
// in an *Error.
const PhaseStream = "stream"

// Bounds of the scanner besides the element size: a start tag with more
// attributes, or elements nested deeper, are a policy-violation, so that
// neither the duplicate-attribute check nor a recursive consumer
// downstream can be made to work without limit.
const (
	maxAttrs      = 128
	maxSplitDepth = 256
	readChunk     = 4 << 10 // bytes asked of the reader at once; the "small constant" above max
	maxRefLen     = 12      // longest accepted entity or character reference, "&#x10FFFF;" fits
)

// nsDecl is one namespace declaration of a stream header (or BOSH body).
type nsDecl struct {
	prefix string // "" for the default namespace
	value  string // decoded namespace name
	raw    []byte // " xmlns:p='…'" as written, ready to insert into a start tag
}

// nsScope is what a stream header declares for the elements inside it.
type nsScope struct {
	decls []nsDecl
	// byPrefix indexes decls when there are more than a few, so that a
	// header declaring a hundred prefixes does not make every prefixed
	// name after it a hundred comparisons.
	byPrefix map[string]string
}

// maxHeaderDecls bounds the namespace declarations of a stream header,
// which Complete copies into each element; real headers declare two or
// three namespaces in about a hundred bytes.
const maxHeaderDecls = 1 << 10

// size is the length of the declarations Complete may copy.
func (sc *nsScope) size() int {
	n := 0
	for _, d := range sc.decls {
		n += len(d.raw)
	}
	return n
}

// indexScopeAbove is how many declarations a scope holds before lookup
// uses a map rather than comparing them one by one.
const indexScopeAbove = 8

func (sc *nsScope) index() {
	if len(sc.decls) <= indexScopeAbove {
		return
	}
	sc.byPrefix = make(map[string]string, len(sc.decls))
	for _, d := range sc.decls {
		sc.byPrefix[d.prefix] = d.value
	}
}

func (sc *nsScope) lookup(prefix []byte) (string, bool) {
	if sc == nil {
		return "", false
	}
	if sc.byPrefix != nil {
		v, ok := sc.byPrefix[string(prefix)]
		return v, ok
	}
	for i := range sc.decls {
		if sc.decls[i].prefix == string(prefix) {
			return sc.decls[i].value, true
		}
	}
	return "", false
}

// splitMode says what the outermost element of the input is.
type splitMode uint8

const (
	modeStream splitMode = iota // RFC 6120: <stream:stream> around everything, restarts allowed
	modeBOSH                    // one XEP-0124 <body/> around the elements
	modeWS                      // RFC 7395 message: one element, no wrapper
)

type scanState uint8

const (
	stStart        scanState = iota // at a token boundary
	stLT                            // after '<'
	stBang                          // inside "<!…" until it is known what it is
	stCDATA                         // inside a CDATA section
	stPI                            // inside "<?…", looking for "?>"
	stAfterDecl                     // after the XML declaration, before the header
	stStartName                     // in the name of a start tag
	stInTag                         // in a start tag, between attributes
	stAttrName                      // in an attribute name
	stAttrEq                        // after an attribute name, before '='
	stAttrValStart                  // after '=', before the quote
	stAttrVal                       // in a quoted attribute value
	stEmptyEnd                      // after '/' in a start tag
	stEndName                       // in the name of an end tag
	stEndSpace                      // after the name of an end tag
	stText                          // in character data inside an element
	stRef                           // in an entity or character reference
)

// attrOff locates one attribute of the start tag being scanned, in
// offsets from the start of the token.
type attrOff struct{ ns, ne, vs, ve int }

// Splitter reads an RFC 6120 XML stream (either direction) and returns it
// one Token at a time: the stream header, each top-level element whole,
// whitespace keepalives and the closing tag. It checks well-formedness,
// namespace well-formedness and the restrictions of RFC 6120 section 11
// as it goes, with a hand-written scanner that keeps its state between
// reads, so the cost is linear in the input however it is cut into reads.
//
// It buffers at most max bytes of one element plus a read chunk (4 KiB):
// an element larger than max is refused as a policy-violation without
// being read whole. Reads go ahead of the element being returned;
// Buffered returns what was read and not yet returned.
//
// A Splitter is made by NewSplitter; it is not safe for concurrent use.
type Splitter struct {
	r    io.Reader
	max  int
	mode splitMode

	buf      []byte
	pos, end int   // unconsumed bytes are buf[pos:end]
	rerr     error // error from the last read, served once buffered bytes run out
	err      error // sticky: a stream error or EOF ends the splitter
	whole    bool  // buf is a whole message (never written to): its end inside an element is not-well-formed

	scope        *nsScope // of the header in effect; nil before the first one
	rootQName    []byte   // the header's qualified name as written, to match the end tag
	openAttrs    []xml.Attr
	closed       bool
	pendingClose bool

	// Per-token scanner state; offsets are from buf[pos].
	st        scanState
	j         int // next byte to scan
	depth     int
	tagStart  int
	nameStart int
	nameEnd   int
	attrStart int // start of the current attribute name
	attrEnd   int
	valStart  int
	quote     byte
	sawSpace  bool
	brackets  int // consecutive ']' seen (for "]]>")
	refStart  int
	refRet    scanState
	decl      bool // the token began with an XML declaration
	attrs     []attrOff
	names     []int    // start, end pairs of the open elements' qualified names
	prefixes  []string // prefixes declared on the open elements, outermost first
	pcounts   []int    // how many of prefixes each open element declared
	// inScope counts the declarations of each prefix in prefixes, so that
	// looking a prefix up costs the same however many a peer declared
	// (thousands fit in one element).
	inScope  map[string]int
	tagDecls int // prefix declarations (xmlns:p) on the start tag being scanned
	topName  xml.Name
}

// NewSplitter returns a Splitter reading r, refusing elements larger than
// max bytes (DefaultMaxElement when max <= 0).
func NewSplitter(r io.Reader, max int) *Splitter {
	if max <= 0 {
		max = DefaultMaxElement
	}
	return &Splitter{r: r, max: max}
}

// newByteSplitter scans b in place, for messages already in memory.
func newByteSplitter(b []byte, max int, mode splitMode) *Splitter {
	s := &Splitter{max: max, mode: mode, buf: b, end: len(b), rerr: io.EOF, whole: true}
	if mode == modeWS {
		s.scope = &nsScope{}
	}
	return s
}

// Buffered returns the bytes read from r but not yet returned as tokens,
// for a caller that hands the connection to something else (after a
// STARTTLS <proceed/>, say). It aliases the Splitter's buffer.
func (s *Splitter) Buffered() []byte { return s.buf[s.pos:s.end] }

// StreamName returns the qualified name of the stream header in effect
// as the peer wrote it (stream:stream, or another prefix), for a relay
// that writes the matching end tag; nil before the first header. The
// slice is the caller's.
func (s *Splitter) StreamName() []byte { return bytes.Clone(s.rootQName) }

// Next returns the next token. At the end of the input between tokens it
// returns io.EOF; after a TokenClose it returns io.EOF without reading.
// Input that is not an acceptable XMPP stream gives an *Error whose cause
// is a *StreamError naming the condition to send back (not-well-formed,
// restricted-xml, policy-violation, bad-namespace-prefix, bad-format,
// unsupported-encoding, invalid-namespace); an *Error wrapping
// io.ErrUnexpectedEOF when the input ends inside an element. Those end the
// Splitter: every later call returns the same error. A read error (a
// deadline, say) is returned wrapped and does not: calling Next again
// resumes where the input stopped.
func (s *Splitter) Next() (Token, error) {
	if s.err != nil {
		return Token{}, s.err
	}
	if s.pendingClose {
		s.pendingClose, s.closed = false, true
		return Token{Kind: TokenClose, Raw: []byte{}, scope: s.scope}, nil
	}
	if s.closed {
		s.err = io.EOF
		return Token{}, io.EOF
	}
	for {
		tok, done, err := s.scan()
		if err != nil {
			s.err = err
			return Token{}, err
		}
		if done {
			return tok, nil
		}
		if err := s.fill(); err != nil {
			return Token{}, err
		}
	}
}

// fill reads more input, keeping the token being scanned in the buffer.
func (s *Splitter) fill() error {
	if s.rerr != nil {
		err := s.rerr
		if err != io.EOF {
			s.rerr = nil // a deadline or the like: the caller may try again
			return fmt.Errorf("xmppstream: read: %w", err)
		}
		if s.end == s.pos {
			s.err = io.EOF
			return io.EOF
		}
		s.err = &Error{Phase: PhaseStream, Reason: "the stream ended inside an element", Got: excerpt(s.buf[s.pos:s.end]), Err: io.ErrUnexpectedEOF}
		if s.whole {
			s.err = s.fail("not-well-formed", "got an unfinished element", 0)
		}
		return s.err
	}
	if s.end-s.pos > s.max {
		s.err = s.fail("policy-violation", fmt.Sprintf("got an element larger than %d bytes", s.max), 0)
		return s.err
	}
	if s.pos > 0 {
		n := copy(s.buf, s.buf[s.pos:s.end])
		s.pos, s.end = 0, n
	}
	if s.end == len(s.buf) {
		size := max(2*len(s.buf), readChunk)
		size = min(size, s.max+readChunk)
		if size <= len(s.buf) { // cannot happen: end-pos <= max was checked above
			s.err = s.fail("policy-violation", fmt.Sprintf("got an element larger than %d bytes", s.max), 0)
			return s.err
		}
		nb := make([]byte, size)
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	for tries := 0; ; tries++ {
		n, err := s.r.Read(s.buf[s.end:min(len(s.buf), s.end+readChunk)])
		s.end += n
		if err != nil {
			s.rerr = err
		}
		if n > 0 || err != nil {
			return nil
		}
		if tries > 100 {
			s.rerr = io.ErrNoProgress
			return nil
		}
	}
}

// fail builds the *Error of a stream error condition at offset at of the
// token being scanned.
func (s *Splitter) fail(condition, reason string, at int) *Error {
	var got []byte
	if at >= 0 && s.pos+at <= s.end {
		got = s.buf[s.pos+at : s.end]
	}
	return &Error{Phase: PhaseStream, Reason: reason, Got: excerpt(got), Err: &StreamError{Condition: condition}}
}

// reset prepares the scanner for the next token after n bytes were used.
func (s *Splitter) reset(n int) {
	s.pos += n
	s.st, s.j, s.depth, s.decl = stStart, 0, 0, false
	s.unscope(0)
	s.names, s.pcounts, s.attrs = s.names[:0], s.pcounts[:0], s.attrs[:0]
}

// unscope ends the declarations prefixes[from:] as their elements close.
func (s *Splitter) unscope(from int) {
	for _, p := range s.prefixes[from:] {
		if n := s.inScope[p]; n > 1 {
			s.inScope[p] = n - 1
		} else {
			delete(s.inScope, p)
		}
	}
	s.prefixes = s.prefixes[:from]
}

// emit finishes a token of n bytes: it checks the size and the
// characters, copies the bytes and moves on.
func (s *Splitter) emit(t Token, n int) (Token, bool, error) {
	if n > s.max {
		return Token{}, false, s.fail("policy-violation", fmt.Sprintf("got an element of %d bytes, more than %d", n, s.max), 0)
	}
	raw := s.buf[s.pos : s.pos+n]
	if t.Kind != TokenSpace {
		if err := s.checkChars(raw); err != nil {
			return Token{}, false, err
		}
	}
	t.Raw = bytes.Clone(raw)
	if t.Raw == nil {
		t.Raw = []byte{}
	}
	t.scope = s.scope
	s.reset(n)
	return t, true, nil
}

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

// scan advances the scanner over the buffered bytes. It returns a token
// when one is complete, done=false when it needs more input.
func (s *Splitter) scan() (Token, bool, error) {
	b := s.buf[s.pos:s.end]
	if s.st == stStart {
		if len(b) == 0 {
			return Token{}, false, nil
		}
		if isXMLSpace(b[0]) {
			n := 1
			for n < len(b) && n < s.max && isXMLSpace(b[n]) {
				n++
			}
			return s.emit(Token{Kind: TokenSpace}, n)
		}
		if b[0] != '<' {
			if s.scope == nil {
				return Token{}, false, s.fail("not-well-formed", "got bytes that are not XML where a stream header was expected", 0)
			}
			return Token{}, false, s.fail("bad-format", "got text between top-level elements", 0)
		}
		s.st, s.tagStart, s.j = stLT, 0, 1
	}
	for j := s.j; j < len(b); j++ {
		c := b[j]
		if c < 0x20 && !isXMLSpace(c) {
			return Token{}, false, s.fail("not-well-formed", fmt.Sprintf("got the control character %#02x, which XML forbids", c), j)
		}
		switch s.st {
		case stText:
			// Fast path: skip ordinary character data.
			for c != '<' && c != '&' && c != '>' && c != ']' && (c >= 0x20 || isXMLSpace(c)) {
				s.brackets = 0
				j++
				if j == len(b) {
					s.j = j
					return Token{}, false, nil
				}
				c = b[j]
			}
			switch c {
			case '<':
				s.st, s.tagStart = stLT, j
			case '&':
				s.st, s.refStart, s.refRet = stRef, j, stText
			case ']':
				s.brackets++
			case '>':
				if s.brackets >= 2 {
					return Token{}, false, s.fail("not-well-formed", "got ]]> outside a CDATA section", j)
				}
				s.brackets = 0
			default:
				j-- // a control character: refused at the top of the loop
			}
		case stLT:
			switch {
			case c == '/':
				s.st, s.nameStart = stEndName, j+1
			case c == '!':
				s.st = stBang
			case c == '?':
				if s.depth > 0 || s.decl || s.mode == modeWS || (s.mode == modeBOSH && s.scope != nil) {
					return Token{}, false, s.fail("restricted-xml", "got a processing instruction, which XMPP forbids", s.tagStart)
				}
				s.st = stPI
			case isNameDelim(c):
				return Token{}, false, s.fail("not-well-formed", "got '<' not followed by a name", s.tagStart)
			default:
				s.st, s.nameStart = stStartName, j
				s.attrs, s.tagDecls = s.attrs[:0], 0
			}
		case stBang:
			cur := b[s.tagStart : j+1]
			switch {
			case bytes.HasPrefix([]byte("<!--"), cur):
				if len(cur) == 4 {
					return Token{}, false, s.fail("restricted-xml", "got an XML comment, which XMPP forbids", s.tagStart)
				}
			case bytes.HasPrefix([]byte("<![CDATA["), cur):
				if len(cur) == 9 {
					if s.depth == 0 {
						return Token{}, false, s.fail("bad-format", "got a CDATA section between top-level elements", s.tagStart)
					}
					s.st, s.brackets = stCDATA, 0
				}
			case bytes.HasPrefix(cur, []byte("<![")):
				return Token{}, false, s.fail("not-well-formed", "got a marked section that is not CDATA", s.tagStart)
			default:
				return Token{}, false, s.fail("restricted-xml", "got a <!…> declaration (DOCTYPE and entities are forbidden)", s.tagStart)
			}
		case stCDATA:
			switch {
			case c == ']':
				s.brackets++
			case c == '>' && s.brackets >= 2:
				s.st, s.brackets = stText, 0
			default:
				s.brackets = 0
			}
		case stPI:
			if c == '>' && b[j-1] == '?' && j-1 > s.tagStart+1 {
				if err := s.checkDecl(b[s.tagStart : j+1]); err != nil {
					return Token{}, false, err
				}
				s.st, s.decl = stAfterDecl, true
			}
		case stAfterDecl:
			switch {
			case isXMLSpace(c):
			case c == '<':
				s.st, s.tagStart = stLT, j
			default:
				return Token{}, false, s.fail("not-well-formed", "got text after the XML declaration", j)
			}
		case stStartName:
			if !isNameDelim(c) {
				continue
			}
			s.nameEnd = j
			if !isQName(b[s.nameStart:s.nameEnd]) {
				return Token{}, false, s.fail("not-well-formed", fmt.Sprintf("got an invalid element name %q", b[s.nameStart:s.nameEnd]), s.tagStart)
			}
			s.st, s.sawSpace = stInTag, false
			j-- // the delimiter is handled in stInTag
		case stInTag:
			switch {
			case isXMLSpace(c):
				s.sawSpace = true
			case c == '>':
				if t, done, err := s.startTag(b, j, false); done || err != nil {
					return t, done, err
				}
			case c == '/':
				s.st = stEmptyEnd
			case !isNameDelim(c) && s.sawSpace:
				s.st, s.attrStart = stAttrName, j
			default:
				return Token{}, false, s.fail("not-well-formed", fmt.Sprintf("got %q in a start tag", c), s.tagStart)
			}
		case stAttrName:
			if !isNameDelim(c) {
				continue
			}
			s.attrEnd = j
			switch {
			case c == '=':
				s.st = stAttrValStart
			case isXMLSpace(c):
				s.st = stAttrEq
			default:
				return Token{}, false, s.fail("not-well-formed", "got an attribute without a value", s.tagStart)
			}
		case stAttrEq:
			switch {
			case c == '=':
				s.st = stAttrValStart
			case !isXMLSpace(c):
				return Token{}, false, s.fail("not-well-formed", "got an attribute without a value", s.tagStart)
			}
		case stAttrValStart:
			switch {
			case c == '\'' || c == '"':
				s.st, s.quote, s.valStart = stAttrVal, c, j+1
			case !isXMLSpace(c):
				return Token{}, false, s.fail("not-well-formed", "got an attribute value without quotes", s.tagStart)
			}
		case stAttrVal:
			switch c {
			case s.quote:
				if err := s.attr(b, j); err != nil {
					return Token{}, false, err
				}
				s.st, s.sawSpace = stInTag, false
			case '<':
				return Token{}, false, s.fail("not-well-formed", "got '<' in an attribute value", s.tagStart)
			case '&':
				s.st, s.refStart, s.refRet = stRef, j, stAttrVal
			}
		case stRef:
			if c == ';' {
				if !validRef(b[s.refStart+1 : j]) {
					return Token{}, false, s.fail("not-well-formed", fmt.Sprintf("got an unknown or invalid reference %q", b[s.refStart:j+1]), s.refStart)
				}
				s.st = s.refRet
			} else if j-s.refStart >= maxRefLen {
				return Token{}, false, s.fail("not-well-formed", "got '&' that starts no valid reference", s.refStart)
			}
		case stEmptyEnd:
			if c != '>' {
				return Token{}, false, s.fail("not-well-formed", "got '/' not followed by '>' in a start tag", s.tagStart)
			}
			if t, done, err := s.startTag(b, j, true); done || err != nil {
				return t, done, err
			}
		case stEndName:
			if !isNameDelim(c) {
				continue
			}
			s.nameEnd = j
			s.st = stEndSpace
			j--
		case stEndSpace:
			switch {
			case c == '>':
				if t, done, err := s.endTag(b, j); done || err != nil {
					return t, done, err
				}
			case !isXMLSpace(c):
				return Token{}, false, s.fail("not-well-formed", fmt.Sprintf("got %q in an end tag", c), s.tagStart)
			}
		}
	}
	s.j = len(b)
	return Token{}, false, nil
}

// checkDecl accepts the XML declaration (RFC 6120 section 11.5 allows it
// before a stream header) and refuses every other processing instruction
// (section 11.1) and encodings other than UTF-8 (section 11.6).
func (s *Splitter) checkDecl(pi []byte) error {
	if len(pi) < 5 { // "<?" and "?>" around at least one byte
		return s.fail("not-well-formed", "got an empty processing instruction", s.tagStart)
	}
	body := pi[2 : len(pi)-2]
	if !bytes.HasPrefix(body, []byte("xml")) || len(body) == 3 || !isXMLSpace(body[3]) {
		if len(body) >= 3 && bytes.EqualFold(body[:3], []byte("xml")) && (len(body) == 3 || isXMLSpace(body[3])) {
			return s.fail("not-well-formed", "got a malformed XML declaration", s.tagStart)
		}
		return s.fail("restricted-xml", "got a processing instruction, which XMPP forbids", s.tagStart)
	}
	if !bytes.Contains(body, []byte("version")) {
		return s.fail("not-well-formed", "got an XML declaration without version", s.tagStart)
	}
	if i := bytes.Index(body, []byte("encoding")); i >= 0 {
		v := body[i+len("encoding"):]
		v = bytes.TrimLeft(v, " \t\r\n=")
		if len(v) > 0 && (v[0] == '\'' || v[0] == '"') {
			if k := bytes.IndexByte(v[1:], v[0]); k >= 0 {
				v = v[1 : 1+k]
			}
		}
		if !bytes.EqualFold(v, []byte("utf-8")) {
			return s.fail("unsupported-encoding", fmt.Sprintf("got encoding %q; XMPP is UTF-8", v), s.tagStart)
		}
	}
	return nil
}

// attr records the attribute whose value closes at offset j.
func (s *Splitter) attr(b []byte, j int) error {
	a := attrOff{s.attrStart, s.attrEnd, s.valStart, j}
	name := b[a.ns:a.ne]
	if !isQName(name) {
		return s.fail("not-well-formed", fmt.Sprintf("got an invalid attribute name %q", name), s.tagStart)
	}
	if len(s.attrs) >= maxAttrs {
		return s.fail("policy-violation", fmt.Sprintf("got a start tag with more than %d attributes", maxAttrs), s.tagStart)
	}
	for _, o := range s.attrs {
		if bytes.Equal(b[o.ns:o.ne], name) {
			return s.fail("not-well-formed", fmt.Sprintf("got the attribute %q twice", name), s.tagStart)
		}
	}
	if p, ok := bytes.CutPrefix(name, []byte("xmlns:")); ok {
		v := b[a.vs:a.ve]
		switch {
		case string(p) == "xmlns":
			return s.fail("bad-namespace-prefix", "got a declaration of the xmlns prefix", s.tagStart)
		case string(p) == "xml" && string(v) != nsXML:
			return s.fail("bad-namespace-prefix", "got the xml prefix bound to another namespace", s.tagStart)
		case len(v) == 0:
			return s.fail("bad-namespace-prefix", fmt.Sprintf("got prefix %q bound to the empty namespace", p), s.tagStart)
		}
		s.tagDecls++
	}
	s.attrs = append(s.attrs, a)
	return nil
}

// prefixOf returns the prefix of a qualified name, nil when there is none.
func prefixOf(qname []byte) []byte {
	if i := bytes.IndexByte(qname, ':'); i > 0 {
		return qname[:i]
	}
	return nil
}

// declared reports whether prefix is in scope for the start tag being
// scanned: declared on it, on an open ancestor, or by the stream header.
func (s *Splitter) declared(b, prefix []byte) bool {
	if string(prefix) == "xml" {
		return true
	}
	if s.tagDecls > 0 {
		for _, a := range s.attrs {
			if p, ok := bytes.CutPrefix(b[a.ns:a.ne], []byte("xmlns:")); ok && bytes.Equal(p, prefix) {
				return true
			}
		}
	}
	if s.inScope[string(prefix)] > 0 {
		return true
	}
	_, ok := s.scope.lookup(prefix)
	return ok
}

// resolve returns the namespace of the start tag's element name from its
// own declarations and the stream header's (not from ancestors: it is for
// top-level tags).
func (s *Splitter) resolve(b []byte, scope *nsScope) (xml.Name, bool) {
	qname := b[s.nameStart:s.nameEnd]
	prefix := prefixOf(qname)
	local := qname
	want := []byte("xmlns")
	if prefix != nil {
		local = qname[len(prefix)+1:]
		want = append(want, ':')
		want = append(want, prefix...)
	}
	for _, a := range s.attrs {
		if bytes.Equal(b[a.ns:a.ne], want) {
			return xml.Name{Space: decodeAttr(b[a.vs:a.ve]), Local: string(local)}, true
		}
	}
	if string(prefix) == "xml" {
		return xml.Name{Space: nsXML, Local: string(local)}, true
	}
	ns, ok := scope.lookup(prefix)
	return xml.Name{Space: ns, Local: string(local)}, ok || prefix == nil
}

// startTag handles the end of a start tag at offset j ('>').
func (s *Splitter) startTag(b []byte, j int, empty bool) (Token, bool, error) {
	qname := b[s.nameStart:s.nameEnd]
	if s.depth == 0 {
		if t, done, handled, err := s.topTag(b, j, empty); handled {
			return t, done, err
		}
	}
	if p := prefixOf(qname); p != nil && (string(p) == "xmlns" || !s.declared(b, p)) {
		return Token{}, false, s.fail("bad-namespace-prefix", fmt.Sprintf("got the undeclared prefix %q", p), s.tagStart)
	}
	for _, a := range s.attrs {
		name := b[a.ns:a.ne]
		if p := prefixOf(name); p != nil && string(p) != "xmlns" && !s.declared(b, p) {
			return Token{}, false, s.fail("bad-namespace-prefix", fmt.Sprintf("got the undeclared prefix %q", p), s.tagStart)
		}
	}
	if empty {
		if s.depth == 0 {
			return s.emit(Token{Kind: TokenElement, Name: s.topName}, j+1)
		}
		s.st = stText
		return Token{}, false, nil
	}
	if s.depth >= maxSplitDepth {
		return Token{}, false, s.fail("policy-violation", fmt.Sprintf("got elements nested deeper than %d", maxSplitDepth), s.tagStart)
	}
	if s.tagDecls > 0 {
		if s.inScope == nil {
			s.inScope = make(map[string]int)
		}
		for _, a := range s.attrs {
			if p, ok := bytes.CutPrefix(b[a.ns:a.ne], []byte("xmlns:")); ok {
				ps := string(p)
				s.prefixes = append(s.prefixes, ps)
				s.inScope[ps]++
			}
		}
	}
	s.pcounts = append(s.pcounts, s.tagDecls)
	s.names = append(s.names, s.nameStart, s.nameEnd)
	s.depth++
	s.st, s.brackets = stText, 0
	return Token{}, false, nil
}

// topTag handles a start tag at top level: the stream header (first or
// restarted) becomes a TokenOpen, anything else gets its name resolved
// and is scanned as an element (handled false).
func (s *Splitter) topTag(b []byte, j int, empty bool) (t Token, done, handled bool, err error) {
	if s.mode == modeWS {
		name, ok := s.resolve(b, nil)
		if !ok {
			return Token{}, false, true, s.fail("bad-namespace-prefix", fmt.Sprintf("got the undeclared prefix %q", prefixOf(b[s.nameStart:s.nameEnd])), s.tagStart)
		}
		s.topName = name
		s.openAttrs = s.decodeAttrs(b)
		return Token{}, false, false, nil
	}
	root := xml.Name{Space: NSStream, Local: "stream"}
	if s.mode == modeBOSH {
		root = xml.Name{Space: NSHTTPBind, Local: "body"}
	}
	// Whether the tag is a stream header is decided by its own
	// declarations alone: a restart begins a new stream (RFC 6120 section
	// 4.3.3) and inherits nothing from the header it replaces. Any other
	// top-level element is resolved against that header.
	own, ownOK := s.resolve(b, nil)
	name, ok := own, ownOK
	if s.scope != nil {
		name, ok = s.resolve(b, s.scope)
	}
	isRoot := ownOK && own == root && (s.scope == nil || s.mode == modeStream)
	switch {
	case s.mode == modeStream && s.scope != nil && !isRoot && ok && name == root:
		// A restart leaning on the old header's declarations.
		if !ownOK {
			return Token{}, false, true, s.fail("bad-namespace-prefix", fmt.Sprintf("got a stream header that does not declare its prefix %q", prefixOf(b[s.nameStart:s.nameEnd])), s.tagStart)
		}
		return Token{}, false, true, s.fail("invalid-namespace", fmt.Sprintf("got <%s> in namespace %q, not %q: a restarted stream header declares its namespace itself", own.Local, own.Space, root.Space), s.tagStart)
	case isRoot && j+1-s.tagStart > MaxHeaderBytes:
		return Token{}, false, true, s.fail("policy-violation", fmt.Sprintf("got a stream header of %d bytes, more than %d", j+1-s.tagStart, MaxHeaderBytes), s.tagStart)
	case isRoot:
		s.openAttrs = s.decodeAttrs(b)
		s.scope = s.newScope(b)
		if n := s.scope.size(); n > maxHeaderDecls {
			// Complete copies these into every element relayed: a header
			// full of declarations would turn each tiny stanza into a
			// huge WebSocket message or BOSH body upstream.
			return Token{}, false, true, s.fail("policy-violation", fmt.Sprintf("got a stream header declaring %d bytes of namespaces, more than %d", n, maxHeaderDecls), s.tagStart)
		}
		s.rootQName = bytes.Clone(b[s.nameStart:s.nameEnd])
		s.pendingClose = empty
		h := headerOf(s.openAttrs)
		t, done, err := s.emit(Token{Kind: TokenOpen, Header: h}, j+1)
		return t, done, true, err
	case s.scope == nil && ok && name.Local == root.Local:
		return Token{}, false, true, s.fail("invalid-namespace", fmt.Sprintf("got <%s> in namespace %q, not %q", name.Local, name.Space, root.Space), s.tagStart)
	case s.scope == nil:
		return Token{}, false, true, s.fail("not-well-formed", fmt.Sprintf("got <%s> where a stream header was expected", b[s.nameStart:s.nameEnd]), s.tagStart)
	case s.decl:
		return Token{}, false, true, s.fail("not-well-formed", "got an XML declaration that is not before a stream header", 0)
	case !ok:
		return Token{}, false, true, s.fail("bad-namespace-prefix", fmt.Sprintf("got the undeclared prefix %q", prefixOf(b[s.nameStart:s.nameEnd])), s.tagStart)
	}
	s.topName = name
	return Token{}, false, false, nil
}

// endTag handles the end of an end tag at offset j ('>').
func (s *Splitter) endTag(b []byte, j int) (Token, bool, error) {
	qname := b[s.nameStart:s.nameEnd]
	if s.depth == 0 {
		if s.scope == nil || s.mode == modeWS || s.decl {
			return Token{}, false, s.fail("not-well-formed", fmt.Sprintf("got </%s> without a start tag", qname), s.tagStart)
		}
		if !bytes.Equal(qname, s.rootQName) {
			return Token{}, false, s.fail("not-well-formed", fmt.Sprintf("got </%s> where </%s> closes the stream", qname, s.rootQName), s.tagStart)
		}
		s.closed = true
		return s.emit(Token{Kind: TokenClose}, j+1)
	}
	k := len(s.names) - 2
	if open := b[s.names[k]:s.names[k+1]]; !bytes.Equal(open, qname) {
		return Token{}, false, s.fail("not-well-formed", fmt.Sprintf("got </%s> closing <%s>", qname, open), s.tagStart)
	}
	s.names = s.names[:k]
	s.unscope(len(s.prefixes) - s.pcounts[len(s.pcounts)-1])
	s.pcounts = s.pcounts[:len(s.pcounts)-1]
	s.depth--
	if s.depth == 0 {
		return s.emit(Token{Kind: TokenElement, Name: s.topName}, j+1)
	}
	s.st, s.brackets = stText, 0
	return Token{}, false, nil
}

// decodeAttrs returns the attributes of the start tag just scanned, with
// Name.Space holding the prefix as written (not resolved).
func (s *Splitter) decodeAttrs(b []byte) []xml.Attr {
	out := make([]xml.Attr, 0, len(s.attrs))
	for _, a := range s.attrs {
		name := b[a.ns:a.ne]
		var n xml.Name
		if p := prefixOf(name); p != nil {
			n = xml.Name{Space: string(p), Local: string(name[len(p)+1:])}
		} else {
			n = xml.Name{Local: string(name)}
		}
		out = append(out, xml.Attr{Name: n, Value: decodeAttr(b[a.vs:a.ve])})
	}
	return out
}

// newScope collects the declarations of the header just scanned. Inside
// a BOSH body the default namespace of stanzas is jabber:client (XEP-0206),
// never httpbind, and declarations of the BOSH namespaces
// (httpbind, xbosh) are dropped: they mean nothing to the stanzas.
func (s *Splitter) newScope(b []byte) *nsScope {
	sc := &nsScope{}
	if s.mode == modeBOSH {
		sc.decls = append(sc.decls, nsDecl{prefix: "", value: "jabber:client", raw: []byte(" xmlns='jabber:client'")})
	}
	for _, a := range s.attrs {
		name := b[a.ns:a.ne]
		var prefix string
		switch {
		case string(name) == "xmlns":
		case bytes.HasPrefix(name, []byte("xmlns:")):
			prefix = string(name[len("xmlns:"):])
		default:
			continue
		}
		value := decodeAttr(b[a.vs:a.ve])
		if s.mode == modeBOSH && (prefix == "" || value == NSHTTPBind || value == NSXBOSH) {
			continue
		}
		q := b[a.vs-1]
		raw := make([]byte, 0, 4+len(name)+a.ve-a.vs)
		raw = append(raw, ' ')
		raw = append(raw, name...)
		raw = append(raw, '=', q)
		raw = append(raw, b[a.vs:a.ve]...)
		raw = append(raw, q)
		sc.decls = append(sc.decls, nsDecl{prefix: prefix, value: value, raw: raw})
	}
	sc.index()
	return sc
}

// headerOf reads a Header from the attributes of a stream header or
// <open/>.
func headerOf(attrs []xml.Attr) *Header {
	h := &Header{}
	for _, a := range attrs {
		switch {
		case a.Name.Space == "" && a.Name.Local == "to":
			h.To = a.Value
		case a.Name.Space == "" && a.Name.Local == "from":
			h.From = a.Value
		case a.Name.Space == "" && a.Name.Local == "id":
			h.ID = a.Value
		case a.Name.Space == "" && a.Name.Local == "version":
			h.Version = a.Value
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			h.NS = a.Value
		case (a.Name.Space == "xml" || a.Name.Space == nsXML) && a.Name.Local == "lang":
			// encoding/xml names the xml prefix by its namespace.
			h.Lang = a.Value
		}
	}
	return h
}

func attrValue(attrs []xml.Attr, space, local string) string {
	for _, a := range attrs {
		if a.Name.Space == space && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
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

// Complete returns t.Raw with every namespace declaration of the stream
// header in effect for t (the default namespace, xmlns:stream, any other)
// that the element's own start tag does not declare inserted into that
// start tag: a standalone, namespace-complete element as RFC 7395 messages
// (section 3.3.3) and BOSH bodies need. It is idempotent, and returns
// t.Raw itself when nothing is missing or t is not an element.
func (s *Splitter) Complete(t Token) []byte {
	return complete(t.Raw, t.scope)
}

func complete(raw []byte, sc *nsScope) []byte {
	if sc == nil || len(sc.decls) == 0 {
		return raw
	}
	nameEnd, own, ok := ownDecls(raw)
	if !ok {
		return raw
	}
	var add []byte
	for _, d := range sc.decls {
		if !own(d.prefix) {
			add = append(add, d.raw...)
		}
	}
	if len(add) == 0 {
		return raw
	}
	out := make([]byte, 0, len(raw)+len(add))
	out = append(out, raw[:nameEnd]...)
	out = append(out, add...)
	return append(out, raw[nameEnd:]...)
}

// ownDecls reads the start tag at the beginning of raw: where its name
// ends, and which prefixes ("" for the default namespace) it declares.
func ownDecls(raw []byte) (nameEnd int, has func(prefix string) bool, ok bool) {
	if len(raw) < 2 || raw[0] != '<' {
		return 0, nil, false
	}
	i := 1
	for i < len(raw) && !isNameDelim(raw[i]) {
		i++
	}
	nameEnd = i
	var decls [][]byte
	for {
		for i < len(raw) && isXMLSpace(raw[i]) {
			i++
		}
		if i >= len(raw) {
			return 0, nil, false
		}
		if raw[i] == '>' || raw[i] == '/' {
			break
		}
		ns := i
		for i < len(raw) && !isNameDelim(raw[i]) {
			i++
		}
		name := raw[ns:i]
		for i < len(raw) && (isXMLSpace(raw[i]) || raw[i] == '=') {
			i++
		}
		if i >= len(raw) || raw[i] != '\'' && raw[i] != '"' {
			return 0, nil, false
		}
		k := bytes.IndexByte(raw[i+1:], raw[i])
		if k < 0 {
			return 0, nil, false
		}
		i += k + 2
		if string(name) == "xmlns" {
			decls = append(decls, nil)
		} else if p, ok := bytes.CutPrefix(name, []byte("xmlns:")); ok {
			decls = append(decls, p)
		}
	}
	return nameEnd, func(prefix string) bool {
		for _, d := range decls {
			if string(d) == prefix {
				return true
			}
		}
		return false
	}, true
}

// OpenFromHeader returns the RFC 7395 <open/> saying what h says: to,
// from, id, version (1.0 when empty) and xml:lang, in the framing
// namespace. Use it to carry a client's stream header (or restart) over
// WebSocket.
func OpenFromHeader(h *Header) []byte {
	var b bytes.Buffer
	b.WriteString("<open xmlns='" + NSFraming + "'")
	headerAttrs(&b, h)
	b.WriteString("/>")
	return b.Bytes()
}

// HeaderFromOpen returns an RFC 6120 stream header saying what the
// RFC 7395 <open/> h says, with an XML declaration, in the content
// namespace of kind: what a plain XMPP client expects to read where the
// WebSocket server sent <open/>.
func HeaderFromOpen(h *Header, kind hacx.Kind) []byte {
	var b bytes.Buffer
	b.WriteString("<?xml version='1.0'?><stream:stream xmlns='" + kind.Namespace() + "' xmlns:stream='" + NSStream + "'")
	headerAttrs(&b, h)
	b.WriteString(">")
	return b.Bytes()
}

func headerAttrs(b *bytes.Buffer, h *Header) {
	if h == nil {
		h = &Header{}
	}
	for _, a := range []struct{ name, v string }{{"to", h.To}, {"from", h.From}, {"id", h.ID}} {
		if a.v != "" {
			xmlAttr(b, a.name, a.v)
		}
	}
	v := h.Version
	if v == "" {
		v = "1.0"
	}
	xmlAttr(b, "version", v)
	if h.Lang != "" {
		xmlAttr(b, "xml:lang", h.Lang)
	}
}

// ParseWSMessage classifies one WebSocket message from the peer: an
// RFC 7395 <open/> (TokenOpen, with Header), a <close/> (TokenClose, with
// SeeOtherURI), or one element (TokenElement, Raw the element, which RFC
// 7395 section 3.3.3 makes namespace-complete). The message must hold
// exactly one element, checked like Splitter checks a stream, and at most
// DefaultMaxElement bytes. It does not check <open/>'s version or from:
// CheckWSOpen does, for a dialer.
func ParseWSMessage(msg []byte) (Token, error) {
	if len(msg) > DefaultMaxElement+readChunk {
		return Token{}, &Error{Phase: PhaseStream, Reason: fmt.Sprintf("got a message of %d bytes, more than %d", len(msg), DefaultMaxElement), Got: excerpt(msg), Err: &StreamError{Condition: "policy-violation"}}
	}
	body := bytes.TrimLeft(msg, " \t\r\n")
	if bytes.HasPrefix(body, []byte("<?")) {
		end := bytes.Index(body[2:], []byte("?>")) + 2
		if end < 2 {
			return Token{}, &Error{Phase: PhaseStream, Reason: "got an unterminated XML declaration", Got: excerpt(body), Err: &StreamError{Condition: "not-well-formed"}}
		}
		d := &Splitter{buf: body, end: len(body)}
		if err := d.checkDecl(body[:end+2]); err != nil {
			return Token{}, err
		}
		body = body[end+2:]
	}
	s := newByteSplitter(body, DefaultMaxElement, modeWS)
	var tok Token
	for {
		t, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Token{}, err
		}
		if t.Kind == TokenSpace {
			continue
		}
		if tok.Kind != 0 {
			return Token{}, &Error{Phase: PhaseStream, Reason: "got more than one element in one message", Got: excerpt(t.Raw), Err: &StreamError{Condition: "not-well-formed"}}
		}
		tok = t
	}
	if tok.Kind == 0 {
		return Token{}, &Error{Phase: PhaseStream, Reason: "got a message without an element", Got: excerpt(msg), Err: &StreamError{Condition: "not-well-formed"}}
	}
	tok.scope = nil
	switch tok.Name {
	case xml.Name{Space: NSFraming, Local: "open"}:
		tok.Kind, tok.Header = TokenOpen, headerOf(s.openAttrs)
		tok.Header.NS = "" // the framing namespace, not a content namespace
	case xml.Name{Space: NSFraming, Local: "close"}:
		tok.Kind, tok.SeeOtherURI = TokenClose, attrValue(s.openAttrs, "", "see-other-uri")
	}
	return tok, nil
}

// BOSHChildren returns the children of a BOSH <body/> (XEP-0124), each
// namespace-complete: the body's own declarations other than the BOSH
// ones, httpbind and xbosh, (xmlns:stream, say) are added where a child lacks them, and jabber:client
// is the default namespace of a child that declares none (XEP-0206
// stanzas are jabber:client), never httpbind. terminate is empty unless the body ends the
// session (type='terminate', or the legacy type='error'): then it is the
// condition attribute, or the type when there is none. body is bounded by
// MaxBOSHBody and each child by DefaultMaxElement.
func BOSHChildren(body []byte) (children [][]byte, terminate string, err error) {
	if len(body) > MaxBOSHBody {
		return nil, "", &Error{Phase: PhaseBOSH, Reason: fmt.Sprintf("got a body of %d bytes, more than %d", len(body), MaxBOSHBody), Got: excerpt(body), Err: &StreamError{Condition: "policy-violation"}}
	}
	s := newByteSplitter(body, DefaultMaxElement, modeBOSH)
	opened := false
	for {
		t, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if e := (*Error)(nil); errors.As(err, &e) {
				e.Phase = PhaseBOSH
			}
			return nil, "", err
		}
		switch t.Kind {
		case TokenOpen:
			opened = true
			if typ := attrValue(s.openAttrs, "", "type"); typ == "terminate" || typ == "error" {
				terminate = attrValue(s.openAttrs, "", "condition")
				if terminate == "" {
					terminate = typ
				}
			}
		case TokenElement:
			children = append(children, complete(t.Raw, t.scope))
		}
	}
	if !opened || !s.closed || len(bytes.TrimLeft(s.Buffered(), " \t\r\n")) > 0 {
		return nil, "", &Error{Phase: PhaseBOSH, Reason: "got a body that is not a complete " + NSHTTPBind + " <body/>", Got: excerpt(body), Err: &StreamError{Condition: "not-well-formed"}}
	}
	return children, terminate, nil
}

// BOSHWrap returns a request body for session sid with request ID rid
// carrying elems, which should be namespace-complete (Splitter.Complete):
// inside <body/> the default namespace is httpbind.
func BOSHWrap(sid string, rid uint64, elems ...[]byte) []byte {
	return boshWrap(sid, rid, "", elems)
}

// BOSHWrapTerminate is BOSHWrap for the last request of a session: the
// body has type='terminate' (XEP-0124 section 12), and may still carry
// elements such as a final unavailable presence.
func BOSHWrapTerminate(sid string, rid uint64, elems ...[]byte) []byte {
	return boshWrap(sid, rid, " type='terminate'", elems)
}

func boshWrap(sid string, rid uint64, extra string, elems [][]byte) []byte {
	var b bytes.Buffer
	b.WriteString("<body rid='" + strconv.FormatUint(rid, 10) + "'")
	xmlAttr(&b, "sid", sid)
	b.WriteString(extra + " xmlns='" + NSHTTPBind + "'")
	if len(elems) == 0 {
		b.WriteString("/>")
		return b.Bytes()
	}
	b.WriteByte('>')
	for _, e := range elems {
		b.Write(e)
	}
	b.WriteString("</body>")
	return b.Bytes()
}

// BOSHRestart returns the request body that restarts the stream of
// session sid after SASL (XEP-0206): xmpp:restart='true' in the
// urn:xmpp:xbosh namespace, to the domain to. It is what a client's new
// <stream:stream> header becomes on BOSH.
func BOSHRestart(sid string, rid uint64, to string) []byte {
	var b bytes.Buffer
	b.WriteString("<body rid='" + strconv.FormatUint(rid, 10) + "'")
	xmlAttr(&b, "sid", sid)
	xmlAttr(&b, "to", to)
	b.WriteString(" xml:lang='en' xmpp:restart='true' xmlns='" + NSHTTPBind + "' xmlns:xmpp='" + NSXBOSH + "'/>")
	return b.Bytes()
}

package xmppstream

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
)

// This file is the streaming side of the package: Splitter cuts an RFC
// 6120 byte stream into top-level elements (scanner.go holds its state
// machine), which framing.go converts to and from the message framings of
// RFC 7395 (WebSocket) and XEP-0206 (BOSH).

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

// splitMode says what the outermost element of the input is.
type splitMode uint8

const (
	modeStream splitMode = iota // RFC 6120: <stream:stream> around everything, restarts allowed
	modeBOSH                    // one XEP-0124 <body/> around the elements
	modeWS                      // RFC 7395 message: one element, no wrapper
)

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

	scope     *nsScope // of the header in effect; nil before the first one
	rootQName []byte   // the header's qualified name as written, to match the end tag
	openAttrs []xml.Attr
	// maxDepth bounds element nesting; 0 means maxSplitDepth. The
	// opening and message readers use the tighter maxDepth of H6.
	maxDepth int
	// first is the first top-level start tag when it is not the stream
	// header the Splitter was waiting for: the reader of a stream opening
	// names what the peer sent instead (C3).
	first        *foreignTag
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

// foreignTag is a top-level start tag where a stream header was
// expected: its name (resolved by its own declarations; with an
// undeclared prefix, the prefix as the space, as encoding/xml names it)
// and its bytes.
type foreignTag struct {
	name xml.Name
	raw  []byte
}

// depthBound is maxDepth with its default.
func (s *Splitter) depthBound() int {
	if s.maxDepth > 0 {
		return s.maxDepth
	}
	return maxSplitDepth
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

// Complete returns t.Raw with every namespace declaration of the stream
// header in effect for t (the default namespace, xmlns:stream, any other)
// that the element's own start tag does not declare inserted into that
// start tag: a standalone, namespace-complete element as RFC 7395 messages
// (section 3.3.3) and BOSH bodies need. It is idempotent, and returns
// t.Raw itself when nothing is missing or t is not an element.
func (s *Splitter) Complete(t Token) []byte {
	return complete(t.Raw, t.scope)
}

package xmppstream

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"hacx.dev/hacx"
)

// XML namespaces of the framings this package reads and writes.
const (
	NSStream    = "http://etherx.jabber.org/streams"     // RFC 6120 stream header
	NSStreamErr = "urn:ietf:params:xml:ns:xmpp-streams"  // stream error conditions
	NSFraming   = "urn:ietf:params:xml:ns:xmpp-framing"  // RFC 7395 <open/>, <close/>
	NSHTTPBind  = "http://jabber.org/protocol/httpbind"  // XEP-0124 <body/>
	NSXBOSH     = "urn:xmpp:xbosh"                       // XEP-0206 xmpp:version
	nsXML       = "http://www.w3.org/XML/1998/namespace" // xml:lang
)

// Bounds on what readers accept, so that a hostile peer can never make them
// read or buffer without limit (H6 applied to streams).
const (
	// MaxHeaderBytes is how many bytes ReadOpen reads, whitespace
	// keepalives included, before the stream header must be complete.
	MaxHeaderBytes = 4 << 10
	// MaxOpenBytes is how many bytes ReadOpen reads in all, header and
	// features together.
	MaxOpenBytes = 32 << 10
	// MaxMessageBytes bounds a WebSocket message or BOSH body given to
	// CheckWSOpen, ParseBOSHSession and the other message parsers.
	MaxMessageBytes = 64 << 10
)

// Header is what a stream opening says about its sender: a <stream:stream>
// header, an RFC 7395 <open/>, or the attributes of a BOSH session
// creation body. Empty fields were absent.
type Header struct {
	From    string // the domain the server speaks for; C4 requires the one asked
	To      string
	ID      string // stream ID
	Version string // "1.0"
	Lang    string // xml:lang
	NS      string // content namespace: jabber:client or jabber:server (TLS only)
}

// WriteOpen writes the client's XML declaration and stream header for a
// stream to domain to, in the content namespace of kind (RFC 6120 section
// 4.7), followed by a newline: what a client sends first on a direct TLS
// connection.
func WriteOpen(w io.Writer, to string, kind hacx.Kind) error {
	return WriteOpenFrom(w, "", to, kind)
}

// WriteOpenFrom is WriteOpen with a from attribute, as an initiating
// server sends it to name its own domain (RFC 6120 section 4.7.1); from
// "" sends none.
func WriteOpenFrom(w io.Writer, from, to string, kind hacx.Kind) error {
	var b bytes.Buffer
	b.WriteString("<?xml version='1.0'?><stream:stream")
	if from != "" {
		xmlAttr(&b, "from", from)
	}
	xmlAttr(&b, "to", to)
	b.WriteString(" version='1.0' xml:lang='en' xmlns='" + kind.Namespace() + "' xmlns:stream='" + NSStream + "'>")
	// The newline is a whitespace keepalive, legal after the header (RFC
	// 6120 section 4.6.1). It ends the "request line" for a web server on
	// the port, which then answers "HTTP/1.1 400 Bad Request" at once
	// instead of waiting for more: C3 names that promptly as ErrHTTP.
	b.WriteByte('\n')
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("xmppstream: write stream header: %w", err)
	}
	return nil
}

// ReadOpen reads the server's answer to WriteOpen from r: the stream header
// and then the <stream:features/> element, whose raw bytes it returns.
//
// It checks the stream namespace, the content namespace of kind, version
// 1.x and that from equals domain (ASCII case-insensitively, a trailing
// dot ignored): together with an authenticated TLS connection that is the
// success condition of rule C4. It reads at most MaxHeaderBytes before the
// header is complete and MaxOpenBytes in all, and never reads past the end
// of the features element, so r can go on being used for the stream.
// Wrong answers come back as an *Error naming what arrived instead: an
// HTTP response (ErrHTTP), a banner (ErrBanner), TLS bytes (ErrTLSRecord),
// a <stream:error/> (*StreamError), another domain (ErrWrongDomain).
//
// ReadOpen succeeds only when err is nil. When the header was valid but
// what follows is not features (a stream error, EOF, a timeout), it
// returns the header, for the attempt log, along with an *Error whose
// Phase is PhaseFeatures. r should carry a deadline (a net.Conn with
// SetReadDeadline): a silent peer makes ReadOpen wait.
func ReadOpen(r io.Reader, domain string, kind hacx.Kind) (*Header, []byte, error) {
	_, hdr, feats, err := readOpen(r, domain, kind)
	if feats == nil {
		return hdr, nil, err
	}
	return hdr, feats.Raw, err
}

// readOpen is ReadOpen returning the reader, positioned just after the
// features element, and the parsed features, for exchanges that go on
// reading elements (STARTTLS).
func readOpen(r io.Reader, domain string, kind hacx.Kind) (*openReader, *Header, *elem, error) {
	s := newOpenReader(r)
	hdr, err := s.header()
	if err != nil {
		return nil, nil, nil, err
	}
	bad := checkHeader(hdr, kind, PhaseHeader)
	if bad == nil && !sameDomain(hdr.From, domain) {
		reason := fmt.Sprintf("got a stream from %q, not from %q", hdr.From, domain)
		if hdr.From == "" {
			reason = fmt.Sprintf("got a stream header without from; %q was expected", domain)
		}
		bad = &Error{Phase: PhaseHeader, Reason: reason, Err: ErrWrongDomain}
	}
	s.br.limit = MaxOpenBytes
	// A server that refuses the stream sends its own header first and
	// the stream error right after it (RFC 6120 section 4.9.1.2), and one
	// that accepts it must send features at once (section 4.3.2): reading
	// one more element therefore costs no time, and lets a refusal be
	// named by its condition rather than by the header it came with.
	next, nerr := s.next(PhaseFeatures, "stream features")
	if next != nil && next.Name == (xml.Name{Space: NSStream, Local: "error"}) {
		se := streamError(next)
		e := &Error{Phase: PhaseFeatures, Reason: "the server sent a stream error after its header", Got: excerpt(next.Raw), Err: se}
		if bad != nil {
			e.Phase = PhaseHeader
			return nil, nil, nil, e
		}
		return nil, hdr, nil, e
	}
	if bad != nil {
		return nil, nil, nil, bad
	}
	if nerr != nil {
		return nil, hdr, nil, nerr
	}
	if next.Name != (xml.Name{Space: NSStream, Local: "features"}) {
		return nil, hdr, nil, &Error{Phase: PhaseFeatures, Reason: fmt.Sprintf("got <%s/> where <stream:features/> was expected", next.Name.Local), Got: excerpt(next.Raw), Err: ErrNotXMPP}
	}
	return s, hdr, next, nil
}

// ReadClientOpen is the server side of WriteOpen: it reads a client's
// stream header from r (bounded like ReadOpen) and checks the namespaces
// for kind and the version. The caller decides whether Header.To is a
// domain it serves.
func ReadClientOpen(r io.Reader, kind hacx.Kind) (*Header, error) {
	s := newOpenReader(r)
	hdr, err := s.header()
	if err != nil {
		return nil, err
	}
	if bad := checkHeader(hdr, kind, PhaseHeader); bad != nil {
		return nil, bad
	}
	return hdr, nil
}

// checkHeader checks what every stream header must carry: the content
// namespace of kind and version 1.x.
func checkHeader(h *Header, kind hacx.Kind, phase string) *Error {
	if h.NS != kind.Namespace() {
		reason := fmt.Sprintf("got content namespace %q, not %q", h.NS, kind.Namespace())
		if h.NS == "" {
			reason = fmt.Sprintf("got a stream header without content namespace (%q expected)", kind.Namespace())
		}
		return &Error{Phase: phase, Reason: reason, Err: ErrNotXMPP}
	}
	if !checkVersion(h.Version) {
		reason := fmt.Sprintf("got version %q, not 1.0", h.Version)
		if h.Version == "" {
			reason = "got a stream header without version (a pre-RFC 3920 server)"
		}
		return &Error{Phase: phase, Reason: reason, Err: ErrVersion}
	}
	return nil
}

// openReader reads a TLS-framed XMPP stream opening with the Splitter,
// fed one byte at a time so that nothing past the element of interest is
// ever consumed from the connection.
type openReader struct {
	br   *boundedReader
	sp   *Splitter
	base int // index in br.rec of the Splitter's first byte
}

func newOpenReader(r io.Reader) *openReader {
	return &openReader{br: newBoundedReader(r, MaxHeaderBytes)}
}

// readErr turns a failed read into an *Error when the reader itself
// failed (EOF, the bound, a deadline), which is a better reason than what
// the Splitter made of it; nil otherwise.
func (s *openReader) readErr(phase, what string) *Error {
	got := excerpt(s.br.rec[max(0, len(s.br.rec)-64):])
	switch {
	case s.br.err == errLimit:
		return &Error{Phase: phase, Reason: fmt.Sprintf("no complete %s within %d bytes", what, s.br.limit), Got: got, Err: ErrTooLarge}
	case s.br.err == io.EOF || errors.Is(s.br.err, io.ErrUnexpectedEOF):
		return &Error{Phase: phase, Reason: "the connection closed before the " + what + " was complete", Got: got, Err: ErrClosed}
	case s.br.err != nil:
		return &Error{Phase: phase, Reason: "reading the " + what + " failed", Got: got, Err: s.br.err}
	}
	return nil
}

// fail is the *Error of a failed Splitter.Next while reading what.
func (s *openReader) fail(phase, what string, err error, textWhere string) *Error {
	if e := s.readErr(phase, what); e != nil {
		return e
	}
	var e *Error
	var se *StreamError
	if !errors.As(err, &e) || !errors.As(err, &se) {
		return &Error{Phase: phase, Reason: "reading the " + what + " failed", Err: err}
	}
	return splitterError(phase, e, se, textWhere)
}

// header reads up to and including the stream header's start tag.
func (s *openReader) header() (*Header, error) {
	c, err := s.br.ReadByte()
	for err == nil && isXMLSpace(c) { // whitespace keepalives (RFC 6120 section 4.6.1)
		c, err = s.br.ReadByte()
	}
	if err != nil {
		return nil, s.readErr(PhaseHeader, "stream header")
	}
	if c != '<' {
		return nil, sniff(s.br, c)
	}
	s.br.unread(1)
	s.base = len(s.br.rec) - 1
	s.sp = &Splitter{r: s.br, max: MaxOpenBytes + MaxHeaderBytes, maxDepth: maxDepth}
	tok, err := s.sp.Next()
	switch {
	case err == nil && tok.Kind == TokenOpen:
		return tok.Header, nil
	case err == nil: // the Splitter gives nothing else before a header
		return nil, &Error{Phase: PhaseHeader, Reason: "got " + tok.Kind.String() + " where a stream header was expected", Got: excerpt(tok.Raw), Err: ErrNotXMPP}
	case s.sp.first != nil && s.br.err == nil:
		return nil, s.start(s.sp.first)
	}
	e := s.fail(PhaseHeader, "stream header", err, "where a stream header was expected")
	if at := s.base + s.sp.pos + s.sp.tagStart; errors.Is(e, ErrRestrictedXML) && at < len(s.br.rec) && bytes.HasPrefix(s.br.rec[at:], []byte("<!")) {
		// The Splitter stops at "<!D"; a web server's page is named
		// as such, not as a forbidden declaration.
		for len(s.br.rec) < at+15 {
			if _, err := s.br.ReadByte(); err != nil {
				break
			}
		}
		if looksHTML(s.br.rec[at:]) {
			return nil, &Error{Phase: PhaseHeader, Reason: "got an HTML document where XMPP was expected", Got: excerpt(s.br.rec[at:]), Err: ErrNotXMPP}
		}
	}
	return nil, e
}

// start names the first element of the stream when it is not the stream
// header.
func (s *openReader) start(t *foreignTag) *Error {
	got := excerpt(t.raw)
	switch {
	case t.name == xml.Name{Space: NSStream, Local: "error"}:
		// Not allowed before a header, but some servers do it: read the
		// rest of it, to name its condition.
		s.br.limit = MaxOpenBytes
		es := &Splitter{r: io.MultiReader(bytes.NewReader(t.raw), s.br), max: MaxOpenBytes, maxDepth: maxDepth, mode: modeWS, scope: &nsScope{}}
		tok, err := es.Next()
		if err != nil {
			return s.fail(PhaseHeader, "stream error", err, "in the stream error")
		}
		e := tree(tok.Raw, nil)
		if e == nil {
			return &Error{Phase: PhaseHeader, Reason: "got ill-formed XML", Got: excerpt(tok.Raw), Err: ErrNotXMPP}
		}
		return &Error{Phase: PhaseHeader, Reason: "got a stream error instead of a stream header", Got: excerpt(e.Raw), Err: streamError(e)}
	case t.name.Local == "stream":
		return &Error{Phase: PhaseHeader, Reason: fmt.Sprintf("got a stream header in namespace %q, not %q", t.name.Space, NSStream), Got: got, Err: ErrNotXMPP}
	case t.name.Space == NSFraming:
		return &Error{Phase: PhaseHeader, Reason: "got RFC 7395 WebSocket framing on a TLS stream", Got: got, Err: ErrNotXMPP}
	case strings.EqualFold(t.name.Local, "html"):
		return &Error{Phase: PhaseHeader, Reason: "got an HTML document where XMPP was expected", Got: got, Err: ErrNotXMPP}
	}
	return &Error{Phase: PhaseHeader, Reason: fmt.Sprintf("got <%s> where a stream header was expected", t.name.Local), Got: got, Err: ErrNotXMPP}
}

// next reads the next top-level element after the header, skipping
// whitespace keepalives; what names the expected element in errors.
func (s *openReader) next(phase, what string) (*elem, error) {
	for {
		tok, err := s.sp.Next()
		if err != nil {
			return nil, s.fail(phase, what, err, "where "+what+" should be")
		}
		switch tok.Kind {
		case TokenElement:
			e := tree(tok.Raw, tok.scope)
			if e == nil {
				return nil, &Error{Phase: phase, Reason: "got ill-formed XML", Got: excerpt(tok.Raw), Err: ErrNotXMPP}
			}
			return e, nil
		case TokenClose:
			return nil, &Error{Phase: phase, Reason: "the server closed the stream right after its header", Got: excerpt(tok.Raw), Err: ErrClosed}
		case TokenOpen:
			return nil, &Error{Phase: phase, Reason: "got a second stream header where " + what + " should be", Got: excerpt(tok.Raw), Err: ErrNotXMPP}
		}
	}
}

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

// sniff reads the first line (or TLS record header) of an answer that
// does not start with '<' and names what it is (C3: "an HTTP or SMTP
// banner where XMPP was expected").
func sniff(br *boundedReader, first byte) *Error {
	buf := []byte{first}
	for len(buf) < 80 && buf[len(buf)-1] != '\n' {
		if isTLSRecord(buf) && len(buf) >= 7 {
			break
		}
		c, err := br.ReadByte()
		if err != nil {
			break
		}
		buf = append(buf, c)
	}
	s := string(buf)
	switch {
	case isTLSRecord(buf):
		what := "a TLS record"
		switch buf[0] {
		case 21:
			what = "a TLS alert"
		case 22:
			what = "a TLS handshake"
		}
		return &Error{Phase: PhaseHeader, Reason: "got " + what + " where plaintext XMPP was expected", Got: s, Err: ErrTLSRecord}
	case strings.HasPrefix(s, "HTTP/"):
		return &Error{Phase: PhaseHeader, Reason: "got an HTTP response where XMPP was expected", Got: excerpt(buf), Err: ErrHTTP}
	case len(s) >= 4 && isDigit(s[0]) && isDigit(s[1]) && isDigit(s[2]) && (s[3] == ' ' || s[3] == '-' || s[3] == '\r'):
		return &Error{Phase: PhaseHeader, Reason: "got a " + s[:3] + " banner (SMTP/FTP style) where XMPP was expected", Got: excerpt(buf), Err: ErrBanner}
	case strings.HasPrefix(s, "SSH-"):
		return &Error{Phase: PhaseHeader, Reason: "got an SSH banner where XMPP was expected", Got: excerpt(buf), Err: ErrBanner}
	case strings.HasPrefix(s, "* OK") || strings.HasPrefix(s, "+OK"):
		return &Error{Phase: PhaseHeader, Reason: "got an IMAP/POP3 banner where XMPP was expected", Got: excerpt(buf), Err: ErrBanner}
	}
	return &Error{Phase: PhaseHeader, Reason: "got bytes that are not XML where a stream header was expected", Got: excerpt(buf), Err: ErrNotXMPP}
}

// isTLSRecord reports whether b starts like a TLS record: content type
// change_cipher_spec..application_data (20-23), then major version 3.
func isTLSRecord(b []byte) bool {
	return len(b) >= 2 && b[0] >= 20 && b[0] <= 23 && b[1] == 3
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// WriteServerOpen writes the server's XML declaration and stream header,
// from domain from with stream ID id, in the content namespace of kind.
// Follow it with WriteFeatures (or WriteStreamError).
func WriteServerOpen(w io.Writer, from, id string, kind hacx.Kind) error {
	var b bytes.Buffer
	b.WriteString("<?xml version='1.0'?><stream:stream xmlns='" + kind.Namespace() + "' xmlns:stream='" + NSStream + "'")
	xmlAttr(&b, "id", id)
	xmlAttr(&b, "from", from)
	b.WriteString(" version='1.0' xml:lang='en'>")
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("xmppstream: write server stream header: %w", err)
	}
	return nil
}

// WriteFeatures writes a <stream:features/> element holding inner, which
// must be well-formed XML (nil or empty writes an empty element), after
// WriteServerOpen.
func WriteFeatures(w io.Writer, inner []byte) error {
	b := make([]byte, 0, 40+len(inner))
	b = append(b, "<stream:features>"...)
	b = append(b, inner...)
	b = append(b, "</stream:features>"...)
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("xmppstream: write features: %w", err)
	}
	return nil
}

// WriteStreamError writes <stream:error/> with condition (an RFC 6120
// section 4.9.3 name such as "host-unknown") and optional text, and closes
// the stream with </stream:stream>.
func WriteStreamError(w io.Writer, condition, text string) error {
	b := append([]byte("<stream:error>"), errorBody(condition, text)...)
	b = append(b, "</stream:error></stream:stream>"...)
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("xmppstream: write stream error: %w", err)
	}
	return nil
}

// errorBody renders the condition and text children of a stream error. A
// condition that is not a plain name becomes undefined-condition, so
// callers cannot inject markup.
func errorBody(condition, text string) []byte {
	if !isName(condition) {
		condition = "undefined-condition"
	}
	var b bytes.Buffer
	b.WriteString("<" + condition + " xmlns='" + NSStreamErr + "'/>")
	if text != "" {
		b.WriteString("<text xmlns='" + NSStreamErr + "'>")
		xml.EscapeText(&b, []byte(text)) //nolint:errcheck // bytes.Buffer never fails
		b.WriteString("</text>")
	}
	return b.Bytes()
}

func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || i > 0 && isDigit(c)) {
			return false
		}
	}
	return true
}

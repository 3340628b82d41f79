package hacx

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// MaxSize is the largest document Parse accepts (H6).
const MaxSize = 64 << 10

// maxDepth bounds element nesting (H6): <hacx>, a record and a pin need
// three levels; extensions get a few more.
const maxDepth = 8

// Parse reads a HACX document. A document that is not well-formed, unsafe
// (DOCTYPE, entity declarations, processing instructions, too deep, over
// MaxSize) or not rooted at <hacx> gives a *SyntaxError. Invalid records are
// dropped and reported in Document.Warnings (E2), so a nil error means the
// document is usable, possibly with no records.
func Parse(data []byte) (*Document, error) {
	if len(data) > MaxSize {
		return nil, &SyntaxError{Rule: "H6", Msg: fmt.Sprintf("document is larger than %d bytes", MaxSize)}
	}
	p := &parser{data: bytes.TrimPrefix(data, []byte("\uFEFF"))}
	p.dec = xml.NewDecoder(bytes.NewReader(p.data))
	p.dec.Strict = true
	// The decoder reads UTF-8 itself and asks only for other charsets.
	p.dec.CharsetReader = func(charset string, _ io.Reader) (io.Reader, error) {
		return nil, fmt.Errorf("encoding %q: only UTF-8 documents are supported", charset)
	}
	return p.document()
}

// ParseReader is Parse on at most MaxSize bytes read from r; a longer input
// is an error, never silently truncated.
func ParseReader(r io.Reader) (*Document, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

type parser struct {
	data []byte
	dec  *xml.Decoder
	// open elements, for "never closed" messages (E3)
	stack []openElem
	warns []Problem
}

type openElem struct {
	name      string
	line, col int
}

// pos is the decoder's current position, 1-based.
func (p *parser) pos() (int, int) { return p.dec.InputPos() }

// next returns the next token, enforcing the safe subset (H6) and turning
// decoder errors into located, explained SyntaxErrors (E3).
func (p *parser) next() (xml.Token, int, int, error) {
	line, col := p.pos()
	tok, err := p.dec.Token()
	if err == io.EOF {
		return nil, line, col, io.EOF // clean end; callers decide if that is fine
	}
	if err != nil {
		return nil, line, col, p.syntaxError(err)
	}
	switch t := tok.(type) {
	case xml.Directive:
		msg := "DOCTYPE and other <!...> declarations are not allowed"
		if bytes.Contains(t, []byte("ENTITY")) {
			msg = "entity declarations are not allowed"
		}
		return nil, line, col, &SyntaxError{Line: line, Col: col, Rule: "H6", Msg: msg}
	case xml.ProcInst:
		if t.Target != "xml" {
			return nil, line, col, &SyntaxError{Line: line, Col: col, Rule: "H6", Msg: fmt.Sprintf("processing instruction <?%s?> is not allowed", t.Target)}
		}
		if !p.atStart(line, col) {
			return nil, line, col, &SyntaxError{Line: line, Col: col, Rule: "E3", Msg: "the XML declaration <?xml ...?> must be the very first thing in the document"}
		}
	case xml.StartElement:
		if len(p.stack) >= maxDepth {
			return nil, line, col, &SyntaxError{Line: line, Col: col, Rule: "H6", Msg: fmt.Sprintf("elements nested deeper than %d levels", maxDepth)}
		}
		if dup := duplicateAttr(t.Attr); dup != "" {
			return nil, line, col, &SyntaxError{Line: line, Col: col, Rule: "E3", Msg: fmt.Sprintf("attribute %q given twice on <%s>", dup, t.Name.Local)}
		}
		p.stack = append(p.stack, openElem{t.Name.Local, line, col})
	case xml.EndElement:
		p.stack = p.stack[:len(p.stack)-1]
	}
	return tok, line, col, nil
}

// atStart reports whether a token at line:col is the first thing in the
// input: only there is the XML declaration allowed.
func (p *parser) atStart(line, col int) bool { return line == 1 && col == 1 }

var closedBy = regexp.MustCompile(`element <([^>]*)> closed by </([^>]*)>`)

func (p *parser) syntaxError(err error) error {
	line, col := p.pos()
	var se *xml.SyntaxError
	if !errors.As(err, &se) {
		if i := strings.Index(err.Error(), "encoding "); i >= 0 && strings.Contains(err.Error(), "only UTF-8") {
			return &SyntaxError{Line: line, Col: col, Msg: err.Error()[i:]}
		}
		return &SyntaxError{Line: line, Col: col, Msg: err.Error()}
	}
	msg := se.Msg
	switch {
	case closedBy.MatchString(msg):
		m := closedBy.FindStringSubmatch(msg)
		open := p.findOpen(m[1])
		msg = fmt.Sprintf("found </%s> but <%s> (opened at %d:%d) is still open: close it with </%s> or write it as <%s .../>",
			m[2], m[1], open.line, open.col, m[1], m[1])
		return &SyntaxError{Line: line, Col: col, Rule: "E3", Msg: msg}
	case msg == "unexpected EOF" && len(p.stack) > 0:
		top := p.stack[len(p.stack)-1]
		msg = fmt.Sprintf("document ends but <%s> (opened at %d:%d) is never closed: expected </%s>", top.name, top.line, top.col, top.name)
		return &SyntaxError{Line: line, Col: col, Rule: "E3", Msg: msg}
	case strings.HasPrefix(msg, "invalid character entity"):
		msg += " (only &lt; &gt; &amp; &apos; &quot; and character references are allowed)"
		return &SyntaxError{Line: line, Col: col, Rule: "H6", Msg: msg}
	}
	return &SyntaxError{Line: line, Col: col, Rule: "E3", Msg: "not well-formed XML: " + msg}
}

func (p *parser) findOpen(name string) openElem {
	for i := len(p.stack) - 1; i >= 0; i-- {
		if p.stack[i].name == name {
			return p.stack[i]
		}
	}
	return openElem{name: name}
}

func duplicateAttr(attrs []xml.Attr) string {
	for i := range attrs {
		for j := i + 1; j < len(attrs); j++ {
			if attrs[i].Name == attrs[j].Name {
				return attrs[i].Name.Local
			}
		}
	}
	return ""
}

// warn records a problem whose content the Document does not keep.
func (p *parser) warn(pr Problem) {
	pr.Lost = true
	p.warns = append(p.warns, pr)
}

// note records a problem about something the Document keeps as written.
func (p *parser) note(pr Problem) { p.warns = append(p.warns, pr) }

// document parses prolog, root and epilogue.
func (p *parser) document() (*Document, error) {
	var doc *Document
	for {
		tok, line, col, err := p.next()
		if err == io.EOF {
			if doc == nil {
				return nil, &SyntaxError{Line: line, Col: col, Msg: "no <hacx> element: the document is empty"}
			}
			doc.Warnings = p.warns
			return doc, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if doc != nil {
				return nil, &SyntaxError{Line: line, Col: col, Rule: "E3", Msg: fmt.Sprintf("<%s> after the end of <hacx>: a document has one root element", t.Name.Local)}
			}
			if t.Name.Local != "hacx" {
				return nil, &SyntaxError{Line: line, Col: col, Msg: fmt.Sprintf("root element is <%s>, expected <hacx>", t.Name.Local)}
			}
			if doc, err = p.root(t, line, col); err != nil {
				return nil, err
			}
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				where := "before <hacx>"
				if doc != nil {
					where = "after </hacx>"
				}
				return nil, &SyntaxError{Line: line, Col: col, Rule: "E3", Msg: "text " + where + " is not allowed"}
			}
		}
	}
}

// root parses <hacx> and its children; start has been read.
func (p *parser) root(start xml.StartElement, line, col int) (*Document, error) {
	doc := &Document{TTL: DefaultTTL}
	for _, a := range start.Attr {
		switch {
		case a.Name.Space == "" && a.Name.Local == "ttl":
			ttl, err := strconv.ParseUint(a.Value, 10, 32)
			if err != nil {
				p.warn(Problem{Line: line, Col: col, Severity: Error, Rule: "H5",
					Msg: fmt.Sprintf("ttl %q is not a non-negative integer of at most %d seconds; using the default %d", a.Value, uint32(1<<32-1), DefaultTTL)})
				continue
			}
			doc.TTL = uint32(ttl)
		case isNamespaceDecl(a.Name):
		default:
			p.warn(Problem{Line: line, Col: col, Rule: "E1", Msg: fmt.Sprintf("unknown attribute %q on <hacx> ignored", attrName(a.Name))})
		}
	}
	index := 0
	for {
		startOff := p.dec.InputOffset()
		tok, tline, tcol, err := p.next()
		if err == io.EOF {
			return nil, p.syntaxError(io.ErrUnexpectedEOF)
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return doc, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				p.warn(Problem{Line: tline, Col: tcol, Msg: "text inside <hacx> ignored"})
			}
		case xml.StartElement:
			index++
			at := Problem{Line: tline, Col: tcol, Record: index, Method: t.Name.Local}
			switch Method(t.Name.Local) {
			case MethodTLS, MethodWebSocket, MethodBOSH:
				if t.Name.Space != start.Name.Space {
					break
				}
				rec, ok, err := p.record(t, at)
				if err != nil {
					return nil, err
				}
				if ok {
					doc.Records = append(doc.Records, rec)
				}
				continue
			}
			// E1: a future method; keep it byte for byte.
			if err := p.skip(); err != nil {
				return nil, err
			}
			raw := bytes.Clone(p.data[startOff:p.dec.InputOffset()])
			doc.Extensions = append(doc.Extensions, raw)
			at.Rule, at.Msg = "E1", fmt.Sprintf("unknown element <%s> skipped (kept when rewriting)", t.Name.Local)
			p.note(at)
		}
	}
}

// skip consumes the rest of the element just started, with the safety
// checks of next.
func (p *parser) skip() error {
	for depth := 1; depth > 0; {
		tok, _, _, err := p.next()
		if err == io.EOF {
			return p.syntaxError(io.ErrUnexpectedEOF)
		}
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
	return nil
}

func isNamespaceDecl(n xml.Name) bool {
	return n.Space == "xmlns" || n.Space == "" && n.Local == "xmlns"
}

func attrName(n xml.Name) string {
	if n.Space != "" {
		return n.Space + ":" + n.Local
	}
	return n.Local
}

// record parses one method element. ok is false when the record is invalid
// and dropped (E2); the reasons are in p.warns.
func (p *parser) record(start xml.StartElement, at Problem) (Record, bool, error) {
	rec := Record{Method: Method(start.Name.Local)}
	bad := false
	fail := func(rule, format string, a ...any) {
		pr := at
		pr.Severity, pr.Rule, pr.Msg = Error, rule, fmt.Sprintf(format, a...)
		p.warn(pr)
		bad = true
	}
	seen := map[string]bool{}
	for _, a := range start.Attr {
		if a.Name.Space != "" || a.Name.Local == "xmlns" {
			if !isNamespaceDecl(a.Name) {
				w := at
				w.Msg = fmt.Sprintf("unknown attribute %q ignored", attrName(a.Name))
				p.warn(w)
			}
			continue
		}
		seen[a.Name.Local] = true
		switch a.Name.Local {
		case "ip":
			ip, err := netip.ParseAddr(a.Value)
			switch {
			case err != nil:
				fail("A1", "ip %q is not an IPv4 or IPv6 address (host names are not allowed)", a.Value)
			case ip.Zone() != "":
				fail("A1", "ip %q has a zone, which means nothing outside one host", a.Value)
			default:
				rec.IP = ip
			}
		case "port":
			n, ok := parseUint16(a.Value)
			if !ok || n == 0 {
				fail("A2", "port %q is not a number from 1 to 65535", a.Value)
			}
			rec.Port = n
		case "priority":
			n, ok := parseUint16(a.Value)
			if !ok {
				fail("A3", "priority %q is not a number from 0 to 65535", a.Value)
			}
			rec.Priority = n
		case "weight":
			n, ok := parseUint16(a.Value)
			if !ok {
				fail("A4", "weight %q is not a number from 0 to 65535", a.Value)
			}
			rec.Weight = n
		case "sni":
			rec.SNI, rec.HasSNI = a.Value, true
		case "alpn":
			b, err := decodeBase64(a.Value)
			if err != nil {
				msg := fmt.Sprintf("alpn %q is not valid base64", a.Value)
				if isToken(a.Value) {
					msg += fmt.Sprintf(" (for the protocol %q write alpn=%q)", a.Value, base64.StdEncoding.EncodeToString([]byte(a.Value)))
				}
				fail("A6", "%s", msg)
				continue
			}
			if b == nil {
				b = []byte{}
			}
			rec.ALPN = b
		case "url":
			rec.URL = a.Value
		default:
			w := at
			w.Msg = fmt.Sprintf("unknown attribute %q ignored", a.Name.Local)
			p.warn(w)
		}
	}
	for _, req := range []struct{ name, rule string }{{"ip", "A1"}, {"port", "A2"}, {"priority", "A3"}} {
		if !seen[req.name] {
			fail(req.rule, "missing required attribute %s", req.name)
		}
	}
	// Children: pins; anything else is ignored.
	for {
		tok, line, col, err := p.next()
		if err == io.EOF {
			return rec, false, p.syntaxError(io.ErrUnexpectedEOF)
		}
		if err != nil {
			return rec, false, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if !bad {
				for _, pr := range rec.check() {
					fail(pr.rule, "%s", pr.msg)
				}
			}
			if bad {
				return rec, false, nil
			}
			for i, pin := range rec.Pins {
				for _, d := range pin.Digests {
					if h := LookupHash(d.Hash); h == nil || h.Weak {
						w := at
						w.Rule, w.Msg = "A9", fmt.Sprintf("pin %d: %s", i+1, digestNote(d.Hash))
						p.note(w)
					}
				}
			}
			return rec, true, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				w := at
				w.Line, w.Col, w.Msg = line, col, "text inside the record ignored"
				p.warn(w)
			}
		case xml.StartElement:
			if t.Name.Local != "public-key-pin" || t.Name.Space != start.Name.Space {
				w := at
				w.Line, w.Col, w.Rule, w.Msg = line, col, "E1", fmt.Sprintf("unknown element <%s> inside the record ignored", t.Name.Local)
				p.warn(w)
				if err := p.skip(); err != nil {
					return rec, false, err
				}
				continue
			}
			pin, msgs := parsePin(t)
			for _, m := range msgs {
				pr := at
				pr.Line, pr.Col, pr.Severity, pr.Rule, pr.Msg = line, col, Error, "A9", fmt.Sprintf("pin %d: %s", len(rec.Pins)+1, m)
				p.warn(pr)
				bad = true
			}
			rec.Pins = append(rec.Pins, pin)
			if err := p.skip(); err != nil {
				return rec, false, err
			}
		}
	}
}

func digestNote(hash string) string {
	if h := LookupHash(hash); h != nil && h.Weak {
		return hash + " is too weak and is ignored"
	}
	return "unknown hash " + strconv.Quote(hash) + " is ignored (not in the IANA registry)"
}

// parsePin reads the attributes of a <public-key-pin>. Problems make the
// record invalid: a malformed pin must fail closed, never vanish (A9).
func parsePin(start xml.StartElement) (Pin, []string) {
	var pin Pin
	var msgs []string
	for _, a := range start.Attr {
		if isNamespaceDecl(a.Name) {
			continue
		}
		if a.Name.Space != "" {
			msgs = append(msgs, fmt.Sprintf("attribute %q is not a hash name", attrName(a.Name)))
			continue
		}
		name := strings.ToLower(a.Name.Local)
		v, err := decodeBase64(a.Value)
		if err != nil {
			msgs = append(msgs, fmt.Sprintf("%s value is not valid base64", name))
			continue
		}
		if h := LookupHash(name); h != nil && len(v) != h.Size {
			msgs = append(msgs, fmt.Sprintf("%s value is %d bytes, a %s digest is %d", name, len(v), name, h.Size))
			continue
		}
		pin.Digests = append(pin.Digests, Digest{Hash: name, Value: v})
	}
	if len(pin.Digests) == 0 && len(msgs) == 0 {
		msgs = append(msgs, "no digest: a pin needs at least one attribute like sha-256=\"...\"")
	}
	return pin, msgs
}

// decodeBase64 is strict padded standard base64: unlike the encoding
// package, it also refuses CR and LF, so that one value has one spelling.
func decodeBase64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("line breaks in base64")
	}
	return base64.StdEncoding.Strict().DecodeString(s)
}

func parseUint16(s string) (uint16, bool) {
	n, err := strconv.ParseUint(s, 10, 16)
	return uint16(n), err == nil
}

// isToken reports whether s looks like a plain protocol name that someone
// forgot to base64-encode, for a helpful hint.
func isToken(s string) bool { return s != "" && printableASCII(s) }

// printableASCII reports whether every byte of s is visible ASCII ('!' to
// '~'): no space, control byte or non-ASCII byte. Non-ASCII UTF-8 bytes are
// all above '~', so no separate UTF-8 check is needed.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

type ruleMsg struct{ rule, msg string }

// check applies the rules that need the whole record; Parse and Marshal
// share it so that nothing invalid is ever written.
func (r Record) check() []ruleMsg {
	var out []ruleMsg
	add := func(rule, format string, a ...any) { out = append(out, ruleMsg{rule, fmt.Sprintf(format, a...)}) }
	switch r.Method {
	case MethodTLS, MethodWebSocket, MethodBOSH:
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
	switch r.Method {
	case MethodTLS:
		if r.URL != "" {
			add("A8", "url is not allowed on tls")
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
	if _, err := netip.ParseAddr(sni); err == nil {
		return fmt.Sprintf("sni %q is an IP address, which SNI cannot carry (RFC 6066): omit it to send none", sni)
	}
	for _, label := range strings.Split(sni, ".") {
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

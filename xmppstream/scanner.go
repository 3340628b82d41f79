package xmppstream

import (
	"bytes"
	"encoding/xml"
	"fmt"
)

// This file is the Splitter's scanner: a hand-written state machine over
// the bytes read so far, which keeps its state between reads so that the
// cost is linear in the input however it is cut (RFC 6120 section 11's
// restricted XML, XML 1.0 well-formedness, namespace well-formedness).

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
	if s.depth >= s.depthBound() {
		return Token{}, false, s.fail("policy-violation", fmt.Sprintf("got elements nested deeper than %d", s.depthBound()), s.tagStart)
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
	case s.scope == nil:
		s.first = &foreignTag{name: name, raw: bytes.Clone(b[s.tagStart : j+1])}
		if !ok {
			qname := b[s.nameStart:s.nameEnd]
			p := prefixOf(qname)
			s.first.name = xml.Name{Space: string(p), Local: string(qname[len(p)+1:])}
		}
		if ok && name.Local == root.Local {
			return Token{}, false, true, s.fail("invalid-namespace", fmt.Sprintf("got <%s> in namespace %q, not %q", name.Local, name.Space, root.Space), s.tagStart)
		}
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

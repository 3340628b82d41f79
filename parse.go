package hacx

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
)

// MaxSize is the largest document Parse accepts (H6).
const MaxSize = 64 << 10

// Parse reads a HACX document. A document that is not well-formed, unsafe
// (DOCTYPE, entity declarations, processing instructions, too deep, over
// MaxSize) or not rooted at <hacx> gives a *SyntaxError. Invalid records are
// dropped and reported in Document.Warnings (E2), so a nil error means the
// document is usable, possibly with no records.
func Parse(data []byte) (*Document, error) {
	if len(data) > MaxSize {
		return nil, &SyntaxError{Rule: "H6", Msg: fmt.Sprintf("document is larger than %d bytes", MaxSize)}
	}
	// One string copy of the input: the names and values the reader hands
	// out, and the strings the Document keeps, are substrings of it, so
	// reading costs no allocation per token and the Document never aliases
	// the caller's slice.
	p := &parser{x: newXMLReader(string(bytes.TrimPrefix(data, []byte("\uFEFF"))))}
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

// parser walks the document structure: prolog, the <hacx> root and its
// children (E1, E3); records are decoded in parse_record.go.
type parser struct {
	x     *xmlReader
	warns []Problem
}

// warn records a problem whose content the Document does not keep.
func (p *parser) warn(pr Problem) {
	pr.Lost = true
	p.warns = append(p.warns, pr)
}

// note records a problem about something the Document keeps as written.
func (p *parser) note(pr Problem) { p.warns = append(p.warns, pr) }

// errorAt is a *SyntaxError at the input offset off.
func (p *parser) errorAt(off int, rule, msg string) *SyntaxError {
	line, col := p.x.lineCol(off)
	return &SyntaxError{Line: line, Col: col, Rule: rule, Msg: msg}
}

// document parses prolog, root and epilogue.
func (p *parser) document() (*Document, error) {
	var doc *Document
	for {
		t, err := p.x.next()
		if err != nil {
			return nil, err
		}
		switch t.kind {
		case tokEOF:
			if doc == nil {
				return nil, p.errorAt(t.off, "", "no <hacx> element: the document is empty")
			}
			doc.Warnings = p.warns
			return doc, nil
		case tokStart:
			if doc != nil {
				return nil, p.errorAt(t.off, "E3", fmt.Sprintf("<%s> after the end of <hacx>: a document has one root element", t.name.local))
			}
			if t.name.local != "hacx" {
				return nil, p.errorAt(t.off, "", fmt.Sprintf("root element is <%s>, expected <hacx>", t.name.local))
			}
			if doc, err = p.root(t); err != nil {
				return nil, err
			}
		case tokText:
			if !t.blank() {
				where := "before <hacx>"
				if doc != nil {
					where = "after </hacx>"
				}
				return nil, p.errorAt(t.off, "E3", "text "+where+" is not allowed")
			}
		}
	}
}

// root parses <hacx> and its children; start has been read.
func (p *parser) root(start token) (*Document, error) {
	doc := &Document{TTL: DefaultTTL}
	line, col := p.x.lineCol(start.off)
	for _, a := range start.attrs {
		switch {
		case a.name.space == "" && a.name.local == "ttl":
			ttl, err := strconv.ParseUint(a.value, 10, 32)
			if err != nil {
				p.warn(Problem{Line: line, Col: col, Severity: Error, Rule: "H5",
					Msg: fmt.Sprintf("ttl %q is not a non-negative integer of at most %d seconds; using the default %d", a.value, uint32(1<<32-1), DefaultTTL)})
				continue
			}
			doc.TTL = uint32(ttl)
		case isNamespaceDecl(a.name):
		default:
			p.warn(Problem{Line: line, Col: col, Rule: "E1", Msg: fmt.Sprintf("unknown attribute %q on <hacx> ignored", attrName(a.name))})
		}
	}
	index := 0
	for {
		t, err := p.x.next()
		if err != nil {
			return nil, err
		}
		switch t.kind {
		case tokEOF:
			// The reader reports the end of input inside an element as
			// an error; this is only a safety net.
			return nil, p.x.unexpectedEOF()
		case tokEnd:
			return doc, nil
		case tokText:
			if !t.blank() {
				tline, tcol := p.x.lineCol(t.off)
				p.warn(Problem{Line: tline, Col: tcol, Msg: "text inside <hacx> ignored"})
			}
		case tokStart:
			index++
			tline, tcol := p.x.lineCol(t.off)
			at := Problem{Line: tline, Col: tcol, Record: index, Method: t.name.local}
			switch Method(t.name.local) {
			case MethodTLS, MethodWebSocket, MethodBOSH:
				if t.name.space != start.name.space {
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
			doc.Extensions = append(doc.Extensions, []byte(p.x.s[t.off:p.x.i]))
			at.Rule, at.Msg = "E1", fmt.Sprintf("unknown element <%s> skipped (kept when rewriting)", t.name.local)
			p.note(at)
		}
	}
}

// skip consumes the rest of the element just started; the reader applies
// its safety checks (H6) to what is skipped too.
func (p *parser) skip() error {
	for depth := 1; depth > 0; {
		t, err := p.x.next()
		if err != nil {
			return err
		}
		switch t.kind {
		case tokEOF:
			return p.x.unexpectedEOF()
		case tokStart:
			depth++
		case tokEnd:
			depth--
		}
	}
	return nil
}

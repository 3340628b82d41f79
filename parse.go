package hacx

import (
	"bytes"
	"fmt"
	"io"
	"strconv"

	"hacx.dev/hacx/internal/safexml"
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
	// One string copy of the input: the names and values the reader hands
	// out, and the strings the Document keeps, are substrings of it, so
	// reading costs no allocation per token and the Document never aliases
	// the caller's slice.
	s := string(bytes.TrimPrefix(data, []byte("\uFEFF")))
	p := &parser{s: s, x: safexml.NewReader(s, maxDepth)}
	doc, err := p.document()
	if se, ok := err.(*safexml.SyntaxError); ok {
		// The reader's position, rule and words as they are: those
		// `hacx lint` has always printed.
		return nil, &SyntaxError{Line: se.Line, Col: se.Col, Rule: se.Rule, Msg: se.Msg}
	}
	return doc, err
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
// children (E1, E3); records are decoded in parse_record.go. The strict,
// safe reading of the XML itself (H6, E3) is package safexml's; its errors
// go up to Parse as they are.
type parser struct {
	s     string // the input, which token offsets index
	x     *safexml.Reader
	warns []Problem
}

// eofInside is the error for an EOF token inside an element. The reader
// never returns one (it reports such input itself, naming the element
// left open); this keeps the loops that wait for an end tag finite
// whatever happens.
func (p *parser) eofInside(t safexml.Token) *SyntaxError {
	return p.errorAt(t.Offset, "E3", "not well-formed XML: unexpected EOF")
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
	line, col := p.x.LineCol(off)
	return &SyntaxError{Line: line, Col: col, Rule: rule, Msg: msg}
}

// document parses prolog, root and epilogue.
func (p *parser) document() (*Document, error) {
	var doc *Document
	for {
		t, err := p.x.Next()
		if err != nil {
			return nil, err
		}
		switch t.Kind {
		case safexml.EOF:
			if doc == nil {
				return nil, p.errorAt(t.Offset, "", "no <hacx> element: the document is empty")
			}
			doc.Warnings = p.warns
			return doc, nil
		case safexml.StartElement:
			if doc != nil {
				return nil, p.errorAt(t.Offset, "E3", fmt.Sprintf("<%s> after the end of <hacx>: a document has one root element", t.Name.Local))
			}
			if t.Name.Local != "hacx" {
				return nil, p.errorAt(t.Offset, "", fmt.Sprintf("root element is <%s>, expected <hacx>", t.Name.Local))
			}
			if doc, err = p.root(t); err != nil {
				return nil, err
			}
		case safexml.CharData:
			if !t.Blank() {
				where := "before <hacx>"
				if doc != nil {
					where = "after </hacx>"
				}
				return nil, p.errorAt(t.Offset, "E3", "text "+where+" is not allowed")
			}
		}
	}
}

// root parses <hacx> and its children; start has been read.
func (p *parser) root(start safexml.Token) (*Document, error) {
	doc := &Document{TTL: DefaultTTL}
	line, col := p.x.LineCol(start.Offset)
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
		t, err := p.x.Next()
		if err != nil {
			return nil, err
		}
		switch t.Kind {
		case safexml.EOF:
			// The reader reports the end of input inside an element as
			// an error; this is only a safety net.
			return nil, p.eofInside(t)
		case safexml.EndElement:
			return doc, nil
		case safexml.CharData:
			if !t.Blank() {
				tline, tcol := p.x.LineCol(t.Offset)
				p.warn(Problem{Line: tline, Col: tcol, Msg: "text inside <hacx> ignored"})
			}
		case safexml.StartElement:
			index++
			tline, tcol := p.x.LineCol(t.Offset)
			at := Problem{Line: tline, Col: tcol, Record: index, Method: t.Name.Local}
			switch Method(t.Name.Local) {
			case MethodTLS, MethodWebSocket, MethodBOSH, MethodQUIC:
				if t.Name.Space != start.Name.Space {
					break
				}
				rec, ok, err := p.record(t, at)
				if err != nil {
					return nil, err
				}
				if ok {
					doc.Records = append(doc.Records, rec)
					if rec.Method == MethodQUIC {
						// Q1: kept and used by hacx, but a client of the
						// draft skips it as a future method (E1), which a
						// publisher should know.
						at.Rule, at.Msg = "E1", "<quic> is a hacx extension (Q1): clients that know only the draft skip it and use the other records"
						p.note(at)
					}
				}
				continue
			}
			// E1: a future method; keep it byte for byte.
			if err := p.skip(); err != nil {
				return nil, err
			}
			doc.Extensions = append(doc.Extensions, []byte(p.s[t.Offset:p.x.Offset()]))
			at.Rule, at.Msg = "E1", fmt.Sprintf("unknown element <%s> skipped (kept when rewriting)", t.Name.Local)
			p.note(at)
		}
	}
}

// skip consumes the rest of the element just started; the reader applies
// its safety checks (H6) to what is skipped too.
func (p *parser) skip() error {
	for depth := 1; depth > 0; {
		t, err := p.x.Next()
		if err != nil {
			return err
		}
		switch t.Kind {
		case safexml.EOF:
			return p.eofInside(t)
		case safexml.StartElement:
			depth++
		case safexml.EndElement:
			depth--
		}
	}
	return nil
}

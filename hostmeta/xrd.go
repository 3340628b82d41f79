package hostmeta

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// NamespaceXRD is the XRD 1.0 namespace of host-meta (RFC 6415).
const NamespaceXRD = "http://docs.oasis-open.org/ns/xri/xrd-1.0"

// maxDepth bounds element nesting (H6); XRD needs three levels.
const maxDepth = 32

// Parse reads an XEP-0156 host-meta XRD document (X2). It refuses input
// over MaxSize, any DOCTYPE or other directive, processing instructions
// other than the XML declaration, nesting deeper than 32 and a root other
// than <XRD> (H6), with a *SyntaxError. Unknown elements are skipped.
func Parse(data []byte) (*Document, error) {
	if len(data) > MaxSize {
		return nil, &SyntaxError{Format: "xml", Offset: -1, Msg: "larger than 64 KiB (H6)"}
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	// No custom entities and no charset conversion: only UTF-8 input,
	// and the five predefined entities, are accepted (H6).
	dec.Entity = nil
	dec.CharsetReader = nil

	line := func() int { l, _ := dec.InputPos(); return l }
	fail := func(msg string, err error) (*Document, error) {
		return nil, &SyntaxError{Format: "xml", Line: line(), Offset: dec.InputOffset(), Msg: msg, Err: err}
	}

	doc := &Document{}
	depth := 0
	sawRoot := false
	var text *strings.Builder // collecting <Subject> text
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, &SyntaxError{Format: "xml", Line: se.Line, Offset: -1, Msg: se.Msg}
			}
			return fail("not well-formed", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return fail("DOCTYPE and other declarations are not allowed (H6)", nil)
		case xml.ProcInst:
			if t.Target != "xml" || sawRoot || depth > 0 {
				return fail("processing instruction <?"+t.Target+"?> not allowed (H6)", nil)
			}
		case xml.StartElement:
			depth++
			if depth > maxDepth {
				return fail("elements nested too deeply (H6)", nil)
			}
			if depth == 1 {
				if sawRoot {
					return fail("more than one root element", nil)
				}
				sawRoot = true
				if t.Name.Local != "XRD" || (t.Name.Space != NamespaceXRD && t.Name.Space != "") {
					return fail("root element is <"+t.Name.Local+">, want <XRD> in "+NamespaceXRD, nil)
				}
				continue
			}
			if depth != 2 || !xrdChild(t.Name) {
				continue
			}
			switch t.Name.Local {
			case "Subject":
				text = &strings.Builder{}
			case "Link":
				var l Link
				for _, a := range t.Attr {
					if a.Name.Space != "" {
						continue
					}
					switch a.Name.Local {
					case "rel":
						l.Rel = a.Value
					case "href":
						l.Href = a.Value
					case "type":
						l.Type = a.Value
					}
				}
				doc.Links = append(doc.Links, l)
			}
		case xml.EndElement:
			if depth == 2 && text != nil && t.Name.Local == "Subject" {
				doc.Subject = strings.TrimSpace(text.String())
				text = nil
			}
			depth--
		case xml.CharData:
			if text != nil && depth == 2 {
				text.Write(t)
			}
		}
	}
	if !sawRoot {
		return fail("no <XRD> element", nil)
	}
	return doc, nil
}

func xrdChild(n xml.Name) bool { return n.Space == NamespaceXRD || n.Space == "" }

// Marshal writes d as an XRD document (X2). Host Meta 2 parameters and the
// xmpp object have no XRD form and are left out: publish them with
// MarshalJSON.
func Marshal(d *Document) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<XRD xmlns="` + NamespaceXRD + `">` + "\n")
	if d.Subject != "" {
		b.WriteString("  <Subject>")
		if err := xml.EscapeText(&b, []byte(d.Subject)); err != nil {
			return nil, err
		}
		b.WriteString("</Subject>\n")
	}
	for _, l := range d.Links {
		b.WriteString("  <Link")
		for _, a := range [][2]string{{"rel", l.Rel}, {"type", l.Type}, {"href", l.Href}} {
			if a[1] == "" {
				continue
			}
			b.WriteString(" " + a[0] + `="`)
			if err := xml.EscapeText(&b, []byte(a[1])); err != nil {
				return nil, err
			}
			b.WriteString(`"`)
		}
		b.WriteString("/>\n")
	}
	b.WriteString("</XRD>\n")
	return b.Bytes(), nil
}

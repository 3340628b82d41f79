package hostmeta

import (
	"bytes"
	"encoding/xml"
	"strings"

	"hacx.dev/hacx/internal/safexml"
)

// NamespaceXRD is the XRD 1.0 namespace of host-meta (RFC 6415).
const NamespaceXRD = "http://docs.oasis-open.org/ns/xri/xrd-1.0"

// maxDepth bounds element nesting (H6), in XRD and in host-meta.json;
// XRD needs three levels.
const maxDepth = 32

// Parse reads an XEP-0156 host-meta XRD document (X2) with the reader
// every document of the project is read with (internal/safexml), so the
// same policy applies (H6): it refuses input over MaxSize, any DOCTYPE or
// other declaration, processing instructions other than the XML
// declaration, references other than the predefined entities and
// character references, nesting deeper than 32, XML that is not
// well-formed, text outside the root and a root other than <XRD>, with a
// *SyntaxError. Unknown elements are skipped.
func Parse(data []byte) (*Document, error) {
	if len(data) > MaxSize {
		return nil, &SyntaxError{Format: "xml", Offset: -1, Msg: "larger than 64 KiB (H6)"}
	}
	// A byte order mark is allowed, as encoding/xml allowed it; the reader
	// starts after it, and offsets in errors count from the start of data.
	bom := 0
	if bytes.HasPrefix(data, []byte("\uFEFF")) {
		bom = len("\uFEFF")
	}
	r := safexml.NewReader(string(data[bom:]), maxDepth)
	fail := func(off int, msg string) (*Document, error) {
		line, _ := r.LineCol(off)
		return nil, &SyntaxError{Format: "xml", Line: line, Offset: int64(bom + off), Msg: msg}
	}

	doc := &Document{}
	sawRoot := false
	var text *strings.Builder // collecting <Subject> text
	for {
		t, err := r.Next()
		if err != nil {
			se := err.(*safexml.SyntaxError)
			msg := se.Msg
			if se.Rule == "H6" {
				msg += " (H6)"
			}
			return nil, &SyntaxError{Format: "xml", Line: se.Line, Offset: int64(bom + se.Offset), Msg: msg}
		}
		// depth is that of the element a start tag opens, or of the one
		// around an end tag or text: 0 is outside the root.
		depth := len(r.Stack())
		switch t.Kind {
		case safexml.EOF:
			if !sawRoot {
				return fail(t.Offset, "no <XRD> element")
			}
			return doc, nil
		case safexml.StartElement:
			if depth == 1 {
				if sawRoot {
					return fail(t.Offset, "more than one root element")
				}
				sawRoot = true
				if t.Name.Local != "XRD" || !xrdChild(t.Name) {
					return fail(t.Offset, "root element is <"+t.Name.Local+">, want <XRD> in "+NamespaceXRD)
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
		case safexml.EndElement:
			if depth == 1 && text != nil && t.Name.Local == "Subject" {
				doc.Subject = strings.TrimSpace(text.String())
				text = nil
			}
		case safexml.CharData:
			switch {
			case depth == 0 && !t.Blank():
				// XML allows only white space around the root; the
				// reader leaves that check to its caller (H6).
				return fail(t.Offset, "text outside <XRD>")
			case depth == 2 && text != nil:
				text.WriteString(t.Text())
			}
		}
	}
}

// xrdChild reports whether an element is in the XRD namespace, or in none
// (as publishers who forget the xmlns write it).
func xrdChild(n safexml.Name) bool { return n.Space == NamespaceXRD || n.Space == "" }

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

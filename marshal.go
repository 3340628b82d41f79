package hacx

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
)

// Marshal writes d in canonical form: an XML declaration, <hacx ttl=...>,
// one record per line in document order with attributes in a fixed order,
// pins as child elements, then extensions verbatim. Parse(Marshal(d))
// yields the same TTL, Records and Extensions.
//
// Marshal refuses a document with an invalid record or an extension that is
// not one well-formed element, so that nothing it writes is rejected by a
// client.
func Marshal(d *Document) ([]byte, error) {
	var errs []error
	for i, r := range d.Records {
		for _, pr := range r.check() {
			errs = append(errs, fmt.Errorf("hacx: record %d (%s): %s [%s]", i+1, r.Method, pr.msg, pr.rule))
		}
		for j, p := range r.Pins {
			for _, dg := range p.Digests {
				if h := LookupHash(dg.Hash); h != nil && len(dg.Value) != h.Size {
					errs = append(errs, fmt.Errorf("hacx: record %d (%s): pin %d: %s value is %d bytes, want %d [A9]", i+1, r.Method, j+1, dg.Hash, len(dg.Value), h.Size))
				}
				if !isXMLName(dg.Hash) {
					errs = append(errs, fmt.Errorf("hacx: record %d (%s): pin %d: %q is not a hash name [A9]", i+1, r.Method, j+1, dg.Hash))
				}
			}
		}
	}
	for i, ext := range d.Extensions {
		if err := checkExtension(ext); err != nil {
			errs = append(errs, fmt.Errorf("hacx: extension %d: %w", i+1, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	fmt.Fprintf(&b, "<hacx ttl=\"%d\">\n", d.TTL)
	for _, r := range d.Records {
		fmt.Fprintf(&b, `  <%s ip="%s" port="%d" priority="%d" weight="%d"`, r.Method, r.IP, r.Port, r.Priority, r.Weight)
		if r.HasSNI {
			attr(&b, "sni", r.SNI)
		}
		if r.ALPN != nil {
			attr(&b, "alpn", base64.StdEncoding.EncodeToString(r.ALPN))
		}
		if r.URL != "" {
			attr(&b, "url", r.URL)
		}
		if r.ECH != nil {
			attr(&b, "ech", base64.StdEncoding.EncodeToString(r.ECH))
		}
		if len(r.Pins) == 0 {
			b.WriteString("/>\n")
			continue
		}
		b.WriteString(">\n")
		for _, p := range r.Pins {
			b.WriteString("    ")
			p.writeElement(&b)
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "  </%s>\n", r.Method)
	}
	for _, ext := range d.Extensions {
		b.WriteString("  ")
		b.Write(ext)
		b.WriteString("\n")
	}
	b.WriteString("</hacx>\n")
	return b.Bytes(), nil
}

func attr(b *bytes.Buffer, name, value string) {
	b.WriteString(" " + name + `="`)
	xml.EscapeText(b, []byte(value)) // also escapes quotes, tabs and newlines
	b.WriteString(`"`)
}

func isXMLName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '.')
		if !ok {
			return false
		}
	}
	return true
}

// checkExtension verifies that ext is exactly one safe, well-formed element,
// so that writing it verbatim keeps the document parseable.
func checkExtension(ext []byte) error {
	wrapped := append(append([]byte("<hacx>"), ext...), "</hacx>"...)
	d, err := Parse(wrapped)
	if err != nil {
		return err
	}
	if len(d.Records) != 0 || len(d.Extensions) != 1 || !bytes.Equal(d.Extensions[0], ext) {
		return errors.New("not exactly one unknown element: " + strconv.Quote(string(ext)))
	}
	return nil
}

package safexml_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	"hacx.dev/hacx/internal/safexml"
)

// fuzzDepth is deep enough that the bound rarely decides, shallow enough
// that the fuzzer meets it.
const fuzzDepth = 8

// FuzzReader_SameAsEncodingXML: whatever a Reader accepts, encoding/xml in
// Strict mode (with no charset but UTF-8) reads to the end without an
// error too, with the same start and end elements, namespace-resolved
// names, attributes and character data, so the Reader is never less strict
// than the standard library nor reads the same input differently (E3, H6).
// Whatever it refuses is a *SyntaxError with a position inside the input.
func FuzzReader_SameAsEncodingXML(f *testing.F) {
	// The documents of the project's testdata/ are seeds of hacx's
	// FuzzParse_NoLaxerThanEncodingXML, which reads through a Reader too;
	// these are the shapes of XML itself.
	for _, s := range []string{
		"<a>&#xD800;</a>", "<a\r\n b='\r\n'/>", "<a><![CDATA[]]]]></a>", "\uFEFF<a/>",
		"<!DOCTYPE a [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><a>&x;</a>", "<a>&x;&#0;&#x110000;&amp</a>",
		"<?xml version='1.0' encoding='latin1'?><a/>", "<a><?php x?><b></a>", "<a><b><c><d><e><f><g><h><i/></h></g></f></e></d></c></b></a>",
		"<a b='1' b='2'/>", "<p:a xmlns:p='u'></a>", "<a>]]></a><!-- x -- y -->",
		"<a xmlns='u' xmlns:p='v'><p:b p:c='1' c='2' xml:lang='en'/><c xmlns=''/></a>",
		"<?xml version='1.0' encoding='UTF-8'?><a>x<!-- c -->y&amp;&#x41;</a>",
		"<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'><Subject>a</Subject><Link rel='r' href='h'/></XRD>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := safexml.NewReader(string(data), fuzzDepth)
		var got []string
		for {
			tok, err := r.Next()
			if err != nil {
				var se *safexml.SyntaxError
				if !errors.As(err, &se) || se.Line < 1 || se.Offset < 0 || se.Offset > len(data) {
					t.Fatalf("error without a position in the input: %#v", err)
				}
				if _, again := r.Next(); again != err {
					t.Fatalf("Next after %v returned %v", err, again)
				}
				return
			}
			if tok.Kind == safexml.EOF {
				break
			}
			got = append(got, describe(tok))
		}
		want, err := encodingXMLTokens(data)
		if err != nil {
			t.Fatalf("Reader accepted what encoding/xml refuses (%v): %q", err, data)
		}
		if g, w := strings.Join(mergeText(got), "\n"), strings.Join(mergeText(want), "\n"); g != w {
			t.Fatalf("Reader and encoding/xml read %q differently:\n%s\n--- encoding/xml:\n%s", data, g, w)
		}
	})
}

// describe renders a token the way encodingXMLTokens renders encoding/xml's.
func describe(t safexml.Token) string {
	switch t.Kind {
	case safexml.StartElement:
		var b strings.Builder
		b.WriteString("start {" + t.Name.Space + "}" + t.Name.Local)
		for _, a := range t.Attr {
			b.WriteString(" {" + a.Name.Space + "}" + a.Name.Local + "=" + a.Value)
		}
		return b.String()
	case safexml.EndElement:
		return "end {" + t.Name.Space + "}" + t.Name.Local
	case safexml.CharData:
		return "text " + t.Text()
	}
	return "kind " + string(rune('0'+t.Kind))
}

func encodingXMLTokens(data []byte) ([]string, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	dec.CharsetReader = func(string, io.Reader) (io.Reader, error) { return nil, errors.New("not UTF-8") }
	var out []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			var b strings.Builder
			b.WriteString("start {" + t.Name.Space + "}" + t.Name.Local)
			for _, a := range t.Attr {
				b.WriteString(" {" + a.Name.Space + "}" + a.Name.Local + "=" + a.Value)
			}
			out = append(out, b.String())
		case xml.EndElement:
			out = append(out, "end {"+t.Name.Space+"}"+t.Name.Local)
		case xml.CharData:
			out = append(out, "text "+string(t))
		}
	}
}

// mergeText joins adjacent text: where one reader splits character data
// (around a comment, at a CDATA section) is not part of what it means.
func mergeText(toks []string) []string {
	var out []string
	for _, s := range toks {
		if n := len(out); n > 0 && strings.HasPrefix(s, "text ") && strings.HasPrefix(out[n-1], "text ") {
			out[n-1] += strings.TrimPrefix(s, "text ")
			continue
		}
		out = append(out, s)
	}
	return out
}

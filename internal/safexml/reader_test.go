package safexml_test

import (
	"errors"
	"strings"
	"testing"

	"hacx.dev/hacx/internal/safexml"
)

// readAll returns every token up to EOF, rendered by describe, or the
// first error.
func readAll(s string, depth int) ([]string, error) {
	r := safexml.NewReader(s, depth)
	var out []string
	for {
		t, err := r.Next()
		if err != nil {
			return out, err
		}
		if t.Kind == safexml.EOF {
			return out, nil
		}
		out = append(out, describe(t))
	}
}

// TestReader_NamesAttributesText: names resolve to their namespaces as
// encoding/xml resolves them, values and text are decoded (references,
// line ends), and <x/> is a start and an end.
func TestReader_NamesAttributesText(t *testing.T) {
	in := "<?xml version='1.0'?>\n<a xmlns='urn:d' xmlns:p='urn:p' b='1&amp;2'>\r\n" +
		"<p:c p:x='&#x41;' xml:lang='en' q:y='3'/><!-- c --><d xmlns=''>t&lt;<![CDATA[&amp;]]></d></a>"
	got, err := readAll(in, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"text \n",
		"start {urn:d}a {}xmlns=urn:d {xmlns}p=urn:p {}b=1&2",
		"text \n", // "\r\n" is one line end
		"start {urn:p}c {urn:p}x=A {http://www.w3.org/XML/1998/namespace}lang=en {q}y=3",
		"end {urn:p}c",
		"start {}d {}xmlns=",
		"text t<",
		"text &amp;",
		"end {}d",
		"end {urn:d}a",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tokens:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestReader_OffsetsStackBlank: token offsets, the stack of open elements
// that messages are made from, Offset after an element (what a caller
// needs to keep an element byte for byte, E1) and Blank.
func TestReader_OffsetsStackBlank(t *testing.T) {
	in := "<a>\n <b><c/></b> x</a>"
	r := safexml.NewReader(in, 3)
	next := func(kind safexml.Kind, off int) safexml.Token {
		t.Helper()
		tok, err := r.Next()
		if err != nil || tok.Kind != kind || tok.Offset != off {
			t.Fatalf("got %+v, %v; want kind %d at %d", tok, err, kind, off)
		}
		return tok
	}
	next(safexml.StartElement, 0)
	if tok := next(safexml.CharData, 3); !tok.Blank() || tok.Text() != "\n " {
		t.Errorf("text %q: Blank %v", tok.Text(), tok.Blank())
	}
	next(safexml.StartElement, 5)
	next(safexml.StartElement, 8)
	st := r.Stack()
	if len(st) != 3 || st[0].Name.Local != "a" || st[1].Offset != 5 || st[2].Name.Local != "c" || st[2].Offset != 8 {
		t.Errorf("stack = %+v", st)
	}
	next(safexml.EndElement, 12) // the end of <c/> is where the tag ends
	next(safexml.EndElement, 12)
	if r.Offset() != len("<a>\n <b><c/></b>") {
		t.Errorf("Offset after </b> = %d", r.Offset())
	}
	if tok := next(safexml.CharData, 16); tok.Blank() {
		t.Error("\" x\" is not blank")
	}
	next(safexml.EndElement, 18)
	next(safexml.EOF, len(in))
	if len(r.Stack()) != 0 {
		t.Errorf("stack at EOF = %+v", r.Stack())
	}
}

// TestReader_DepthBound_H6: the bound is the caller's, the root element
// being level 1, and the refusal points at the tag that goes too deep.
func TestReader_DepthBound_H6(t *testing.T) {
	in := "<a><b>\n<c/></b></a>"
	if _, err := readAll(in, 3); err != nil {
		t.Fatalf("three levels with a bound of 3: %v", err)
	}
	_, err := readAll(in, 2)
	var se *safexml.SyntaxError
	if !errors.As(err, &se) || *se != (safexml.SyntaxError{Offset: 7, Line: 2, Col: 1, Rule: "H6", Msg: "elements nested deeper than 2 levels"}) {
		t.Fatalf("got %#v", err)
	}
}

// TestReader_Errors_H6_E3: what the policy refuses, and what is not
// well-formed, is a *SyntaxError with its offset, line, column, rule and
// message; the message names the open element and where it was opened.
func TestReader_Errors_H6_E3(t *testing.T) {
	tests := []struct {
		in   string
		want safexml.SyntaxError
	}{
		{`<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>`,
			safexml.SyntaxError{Offset: 0, Line: 1, Col: 1, Rule: "H6", Msg: "entity declarations are not allowed"}},
		{"<a>&x;</a>",
			safexml.SyntaxError{Offset: 6, Line: 1, Col: 7, Rule: "H6", Msg: "invalid character entity &x; (only &lt; &gt; &amp; &apos; &quot; and character references are allowed)"}},
		{"<a><?php x?></a>",
			safexml.SyntaxError{Offset: 3, Line: 1, Col: 4, Rule: "H6", Msg: "processing instruction <?php?> is not allowed"}},
		{"<?xml version='1.0' encoding='UTF-16'?><a/>",
			safexml.SyntaxError{Offset: 39, Line: 1, Col: 40, Msg: `encoding "UTF-16": only UTF-8 documents are supported`}},
		{"<a>\n<b>\n</a>",
			safexml.SyntaxError{Offset: 12, Line: 3, Col: 5, Rule: "E3", Msg: "found </a> but <b> (opened at 2:1) is still open: close it with </b> or write it as <b .../>"}},
		{"<a>\n<b>",
			safexml.SyntaxError{Offset: 7, Line: 2, Col: 4, Rule: "E3", Msg: "document ends but <b> (opened at 2:1) is never closed: expected </b>"}},
		{"<1a\n/>",
			safexml.SyntaxError{Offset: 3, Line: 1, Col: 0, Rule: "E3", Msg: "not well-formed XML: invalid XML name: 1a"}},
	}
	for _, tt := range tests {
		_, err := readAll(tt.in, 8)
		var se *safexml.SyntaxError
		if !errors.As(err, &se) || *se != tt.want {
			t.Errorf("%q:\n got %#v\nwant %#v", tt.in, err, tt.want)
		}
	}
	err := &safexml.SyntaxError{Line: 2, Col: 3, Rule: "H6", Msg: "m"}
	if got := err.Error(); got != "xml: line 2:3: m [H6]" {
		t.Errorf("Error() = %q", got)
	}
}

// TestReader_ErrorIsSticky: after an error, Next never reads on from
// wherever the error left the reader.
func TestReader_ErrorIsSticky(t *testing.T) {
	r := safexml.NewReader("<a><!DOCTYPE x><b/></a>", 8)
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	_, first := r.Next()
	if first == nil {
		t.Fatal("DOCTYPE accepted")
	}
	for range 3 {
		if tok, err := r.Next(); err != first {
			t.Fatalf("after %v: %+v, %v", first, tok, err)
		}
	}
}

// TestReader_Declare: declarations made before the first Next name the
// elements of an input cut out of a larger document (a child of an XMPP
// stream, whose header declared the prefixes); the input's own
// declarations override them for their element and its content only; the
// reserved xml prefix keeps its namespace; a prefix neither declared
// nor bound stays the prefix, as in encoding/xml.
func TestReader_Declare(t *testing.T) {
	in := "<stream:features><x xml:lang='en' stream:a='1'/><y xmlns='urn:own'><z/></y><w/><q:v/></stream:features>"
	r := safexml.NewReader(in, 3)
	r.Declare("", "jabber:client")
	r.Declare("stream", "http://etherx.jabber.org/streams")
	r.Declare("xml", "urn:not-xml")
	var got []string
	for {
		tok, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if tok.Kind == safexml.EOF {
			break
		}
		got = append(got, describe(tok))
	}
	want := []string{
		"start {http://etherx.jabber.org/streams}features",
		"start {jabber:client}x {http://www.w3.org/XML/1998/namespace}lang=en {http://etherx.jabber.org/streams}a=1",
		"end {jabber:client}x",
		"start {urn:own}y {}xmlns=urn:own",
		"start {urn:own}z",
		"end {urn:own}z",
		"end {urn:own}y",
		"start {jabber:client}w",
		"end {jabber:client}w",
		"start {q}v",
		"end {q}v",
		"end {http://etherx.jabber.org/streams}features",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tokens:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestReader_DeclareAfterNext: a declaration after the first token would
// rename what was already returned, so it is refused loudly.
func TestReader_DeclareAfterNext(t *testing.T) {
	r := safexml.NewReader("<a><b/></a>", 3)
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Error("Declare after Next did not panic")
		}
	}()
	r.Declare("p", "urn:p")
}

package xmppstream

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

// TestTree_NamesFromHeaderScope: an element cut out of a stream is named
// by the declarations of the header around it (the default namespace,
// stream:) unless it declares its own; attributes, text and each
// element's own bytes are kept.
func TestTree_NamesFromHeaderScope(t *testing.T) {
	sp := NewSplitter(strings.NewReader(prosodyHeader+"<stream:features><x a='1&amp;2' xml:lang='en'>t<![CDATA[<c>]]><y/>u</x>"+saslInner+"</stream:features>"), 0)
	if tok, err := sp.Next(); err != nil || tok.Kind != TokenOpen {
		t.Fatalf("header: %+v, %v", tok, err)
	}
	tok, err := sp.Next()
	if err != nil || tok.Kind != TokenElement {
		t.Fatalf("features: %+v, %v", tok, err)
	}
	e := tree(tok.Raw, tok.scope)
	if e == nil {
		t.Fatal("tree refused what the Splitter accepted")
	}
	if e.Name != (xml.Name{Space: NSStream, Local: "features"}) || len(e.Children) != 2 || string(e.Raw) != string(tok.Raw) {
		t.Fatalf("root %+v, %d children, raw %q", e.Name, len(e.Children), e.Raw)
	}
	x := e.Children[0]
	if x.Name != (xml.Name{Space: "jabber:client", Local: "x"}) || x.get("", "a") != "1&2" || x.get(nsXML, "lang") != "en" || x.Text != "t<c>u" {
		t.Errorf("x = %+v", x)
	}
	if y := x.child("jabber:client", "y"); y == nil || string(y.Raw) != "<y/>" {
		t.Errorf("y = %+v", y)
	}
	m := e.child("urn:ietf:params:xml:ns:xmpp-sasl", "mechanisms")
	if m == nil || len(m.Children) != 2 || m.Children[1].Text != "PLAIN" || m.Children[1].Name.Space != "urn:ietf:params:xml:ns:xmpp-sasl" {
		t.Errorf("mechanisms = %+v", m)
	}
	// Without the header's scope, stream: is not bound: named by its
	// prefix, as encoding/xml names it.
	if e := tree(tok.Raw, nil); e == nil || e.Name.Space != "stream" || e.Children[0].Name.Space != "" {
		t.Errorf("without scope: %+v", e)
	}
}

// TestTree_RefusesWhatIsNotOneElement_H6: bytes that are not exactly one
// element of the H6 subset give nil, which callers report as ill-formed
// XML: the Splitter let through something safexml refuses.
func TestTree_RefusesWhatIsNotOneElement_H6(t *testing.T) {
	deep := strings.Repeat("<a>", maxDepth+1) + strings.Repeat("</a>", maxDepth+1)
	for _, raw := range []string{
		"", "<", "a", "<a><b></a>", "<a>", "<a/><b/>", "<a/>x", " <a/>",
		"<!-- c --><a/>", "<?xml version='1.0'?><a/>", "<a>&x;</a>", "<a><!DOCTYPE a></a>",
		"<a b='1' b='2'/>", deep,
	} {
		if e := tree([]byte(raw), nil); e != nil {
			t.Errorf("tree(%q) = %+v, want nil", raw, e)
		}
	}
	if e := tree([]byte(deep[len("<a>"):len(deep)-len("</a>")]), nil); e == nil {
		t.Errorf("%d levels refused", maxDepth)
	}
}

// FuzzTree_SafexmlReadsWhatSplitterAccepts: every element the Splitter
// accepts, from a stream (named by its header's declarations) or as a
// message standing alone, safexml reads to its end: tree never refuses
// it, the root has the name the Splitter gave it, and every element has
// the names, attributes and text encoding/xml finds in the element with
// the header's declarations copied in (Complete). So a stream is never
// refused nor read differently for having two readers (H6, C3).
func FuzzTree_SafexmlReadsWhatSplitterAccepts(f *testing.F) {
	for _, s := range []string{
		prosodyHeader + saslFeatures, ejabberdHeader + "<stream:features/>",
		prosodyHeader + "<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>a&amp;b\r\nc</text></stream:error>",
		prosodyHeader + "<message xmlns:p='urn:p' p:x='&#x41;' to='a@b'><body>x<![CDATA[<y>]]>z</body><p:e xmlns=''/></message>",
		wsFeatures, prosodyBOSH, string(WSServerOpen("example.com", "1")), string(WSClose()),
		"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='example.com' version='1.0'/>",
		"<?xml version='1.0'?>\n<a xmlns='urn:a'>\r\n<b xml:lang='en'>\u00e9</b></a>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sp := NewSplitter(bytes.NewReader(data), 0)
		sp.maxDepth = maxDepth // the bound of the readers that call tree
		for {
			tok, err := sp.Next()
			if err != nil {
				break
			}
			if tok.Kind == TokenElement {
				checkTree(t, tok)
			}
		}
		if tok, _, err := oneElement(bytes.TrimLeft(data, " \t\r\n"), MaxMessageBytes, maxDepth); err == nil {
			checkTree(t, tok)
		}
	})
}

// checkTree is the property of FuzzTree_SafexmlReadsWhatSplitterAccepts
// for one element.
func checkTree(t *testing.T, tok Token) {
	t.Helper()
	e := tree(tok.Raw, tok.scope)
	if e == nil {
		t.Fatalf("the Splitter accepted %q (scope %+v) but safexml refuses it", tok.Raw, tok.scope)
	}
	if e.Name != tok.Name || string(e.Raw) != string(tok.Raw) {
		t.Fatalf("tree gives %+v over %q; the Splitter %+v over %q", e.Name, e.Raw, tok.Name, tok.Raw)
	}
	var got []string
	var walk func(*elem)
	walk = func(e *elem) {
		got = append(got, describeElem(e.Name, e.Attr, e.Text))
		for _, c := range e.Children {
			walk(c)
		}
	}
	walk(e)
	want, err := encodingXMLElems(complete(tok.Raw, tok.scope))
	if err != nil {
		t.Fatalf("encoding/xml refuses %q: %v", complete(tok.Raw, tok.scope), err)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%q:\ntree:\n%s\nencoding/xml:\n%s", tok.Raw, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// describeElem renders an element's name, attributes other than
// namespace declarations (Complete adds some), and text.
func describeElem(n xml.Name, attrs []xml.Attr, text string) string {
	var b strings.Builder
	b.WriteString("{" + n.Space + "}" + n.Local)
	for _, a := range attrs {
		if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
			continue
		}
		b.WriteString(" {" + a.Name.Space + "}" + a.Name.Local + "=" + a.Value)
	}
	if len(text) < MaxMessageBytes { // tree keeps no more
		b.WriteString(" text " + text)
	}
	return b.String()
}

// encodingXMLElems reads one element with encoding/xml in document order.
func encodingXMLElems(raw []byte) ([]string, error) {
	dec := xml.NewDecoder(bytes.NewReader(raw))
	dec.Strict = true
	type open struct {
		se   xml.StartElement
		text []byte
		at   int
	}
	var out []string
	var stack []*open
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			stack = append(stack, &open{se: tok.Copy(), at: len(out)})
			out = append(out, "")
		case xml.CharData:
			if len(stack) > 0 {
				top := stack[len(stack)-1]
				top.text = append(top.text, tok...)
			}
		case xml.EndElement:
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			out[top.at] = describeElem(top.se.Name, top.se.Attr, string(top.text))
		}
	}
}

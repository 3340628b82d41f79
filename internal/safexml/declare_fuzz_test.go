package safexml_test

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"hacx.dev/hacx/internal/safexml"
)

// FuzzReader_DeclareIsAnEnclosingDeclaration: a Reader given
// Declare(prefix, uri) reads an input as the same Reader reads it inside
// an element that declares prefix as uri: the same tokens with the same
// names, attributes and text, and it accepts whatever the enclosed form
// accepts. That is what lets package xmppstream read an element cut out
// of a stream with the namespaces of the stream header (H6).
func FuzzReader_DeclareIsAnEnclosingDeclaration(f *testing.F) {
	for _, s := range [][3]string{
		{"stream", "http://etherx.jabber.org/streams", "<stream:features><x/></stream:features>"},
		{"", "jabber:client", "<message to='a'><body>x</body><y xmlns=''/></message>"},
		{"p", "u&<'\"\r\n\t", "<p:a p:b='1'><p:c xmlns:p='v' p:d='2'/></p:a>"},
		{"xml", "urn:x", "<a xml:lang='en'/>"},
		{"p", "", "<p:a/>"},
	} {
		f.Add(s[0], s[1], []byte(s[2]))
	}
	f.Fuzz(func(t *testing.T, prefix, uri string, data []byte) {
		if bytes.HasPrefix(data, []byte("<?")) {
			return // an XML declaration is allowed first only: not inside an element
		}
		attr := "xmlns"
		if prefix != "" {
			attr += ":" + prefix
		}
		var esc strings.Builder
		xml.EscapeText(&esc, []byte(uri)) //nolint:errcheck // strings.Builder never fails
		open := "<w " + attr + "='" + strings.ReplaceAll(esc.String(), "'", "&apos;") + "'>"
		wrapped := safexml.NewReader(open+string(data)+"</w>", fuzzDepth+1)
		first, err := wrapped.Next()
		if err != nil || first.Kind != safexml.StartElement || len(first.Attr) != 1 || first.Attr[0].Value != uri {
			return // not a declaration XML can make (an invalid prefix, a character XML forbids)
		}
		want, wantErr := tokens(wrapped)

		r := safexml.NewReader(string(data), fuzzDepth)
		r.Declare(prefix, uri)
		got, err := tokens(r)
		if err != nil {
			return // refusing is allowed: at top level, the input may be no document
		}
		if wantErr != nil {
			t.Fatalf("accepted with Declare(%q, %q) but not inside %s: %v", prefix, uri, open, wantErr)
		}
		want = want[:len(want)-1] // </w>
		if g, w := strings.Join(mergeText(got), "\n"), strings.Join(mergeText(want), "\n"); g != w {
			t.Fatalf("Declare(%q, %q) and %s read %q differently:\n%s\n--- enclosed:\n%s", prefix, uri, open, data, g, w)
		}
	})
}

// tokens reads the rest of r, rendered by describe, up to EOF.
func tokens(r *safexml.Reader) ([]string, error) {
	var out []string
	for {
		tok, err := r.Next()
		if err != nil {
			return nil, err
		}
		if tok.Kind == safexml.EOF {
			return out, nil
		}
		out = append(out, describe(tok))
	}
}

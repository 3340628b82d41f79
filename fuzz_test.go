package hacx_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"hacx.dev/hacx"
)

// FuzzParse: Parse never panics, and whatever it accepts marshals and
// parses back to the same model, byte-identically on the second write (H6, E1).
func FuzzParse(f *testing.F) {
	addDocumentSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := hacx.Parse(data)
		if err != nil {
			if doc != nil {
				t.Fatal("document returned with an error")
			}
			return
		}
		out, err := hacx.Marshal(doc)
		if err != nil {
			t.Fatalf("accepted document does not marshal: %v\ninput: %q", err, data)
		}
		again, err := hacx.Parse(out)
		if err != nil {
			t.Fatalf("marshalled document does not parse: %v\n%s", err, out)
		}
		if !sameModel(doc, again) {
			t.Fatalf("round trip changed the model\ninput: %q\noutput: %s", data, out)
		}
		if len(again.Warnings) != countKept(doc) {
			t.Fatalf("re-parse warnings %v, want only those of kept parts", again.Warnings)
		}
		out2, err := hacx.Marshal(again)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("Marshal not canonical: %v\n%s\n---\n%s", err, out, out2)
		}
	})
}

// FuzzParse_NoLaxerThanEncodingXML: Parse reads XML with the project's own
// reader (internal/safexml); whatever it accepts, encoding/xml in Strict mode (with no charset but
// UTF-8) reads to the end without an error too, so the reader is never
// less strict than the standard library (E3, H6). Whatever it refuses is a
// *SyntaxError with a line, which `hacx lint` can show.
func FuzzParse_NoLaxerThanEncodingXML(f *testing.F) {
	addDocumentSeeds(f)
	for _, s := range []string{"<hacx>&#xD800;</hacx>", "<hacx\r\n a='\r\n'/>", "<hacx><![CDATA[]]]]></hacx>", "\uFEFF<hacx/>"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := hacx.Parse(data)
		if err != nil {
			var se *hacx.SyntaxError
			if !errors.As(err, &se) || se.Line < 1 && len(data) <= hacx.MaxSize {
				t.Fatalf("error without a position: %#v", err)
			}
			return
		}
		dec := xml.NewDecoder(bytes.NewReader(bytes.TrimPrefix(data, []byte("\uFEFF"))))
		dec.Strict = true
		dec.CharsetReader = func(string, io.Reader) (io.Reader, error) { return nil, errors.New("not UTF-8") }
		for {
			_, err := dec.Token()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatalf("Parse accepted what encoding/xml refuses (%v): %q", err, data)
			}
		}
	})
}

// addDocumentSeeds seeds a fuzz target with every document of testdata/.
func addDocumentSeeds(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.xml")
	files = append(files, "testdata/draft-example.xml")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// countKept is how many warnings a canonical document still earns: one per
// extension and one per weak or unknown digest.
func countKept(d *hacx.Document) int {
	n := len(d.Extensions)
	for _, r := range d.Records {
		if r.Method == hacx.MethodQUIC {
			n++ // the note that <quic> is an extension (Q1, E1)
		}
		for _, p := range r.Pins {
			for _, dg := range p.Digests {
				if h := hacx.LookupHash(dg.Hash); h == nil || h.Weak {
					n++
				}
			}
		}
	}
	return n
}

// bigDocument returns a valid document of just under MaxSize bytes.
func bigDocument() []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0"?>` + "\n<hacx ttl=\"300\">\n")
	for i := 0; b.Len() < hacx.MaxSize-400; i++ {
		fmt.Fprintf(&b, `  <websocket ip="2001:db8::%x" port="443" priority="%d" weight="%d" sni="front%d.example.net" url="wss://chat.example.org/ws%d">`+"\n"+
			`    <public-key-pin sha-256="47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="/>`+"\n  </websocket>\n", i, i%7, i%100, i, i)
	}
	b.WriteString("</hacx>\n")
	return b.Bytes()
}

func BenchmarkParse(b *testing.B) {
	data := bigDocument()
	if _, err := hacx.Parse(data); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := hacx.Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	doc, err := hacx.Parse(bigDocument())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := hacx.Marshal(doc); err != nil {
			b.Fatal(err)
		}
	}
}

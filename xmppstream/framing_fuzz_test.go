package xmppstream

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"testing"
	"time"
)

// chunkReader delivers at most n bytes per Read, as a network may.
type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), c.n, len(c.b))
	copy(p, c.b[:k])
	c.b = c.b[k:]
	return k, nil
}

// FuzzFraming: on any input and any cut into reads, nothing panics, the
// tokens' Raw bytes concatenate to a prefix of the input, every failure
// is an *Error (or io.EOF), and every element Complete, ParseWSMessage or
// BOSHChildren returns parses standalone with encoding/xml.
func FuzzFraming(f *testing.F) {
	f.Add([]byte(stream(clientHeader, clientStanzas, true)), uint8(0))
	f.Add([]byte(stream(serverHeader, serverStanzas, false)), uint8(7))
	f.Add([]byte("<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:server' xmlns:db='jabber:server:dialback'><db:result>k</db:result></s:stream>"), uint8(1))
	f.Add(WSServerOpen("example.com", "1"), uint8(3))
	f.Add([]byte(wsFeatures), uint8(3))
	f.Add([]byte("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing' see-other-uri='wss://x'/>"), uint8(3))
	f.Add([]byte(prosodyBOSH), uint8(2))
	f.Add(BOSHWrap("s", 1, []byte("<message xmlns='jabber:client'><body>&lt;&#x1F600;</body></message>")), uint8(5))
	f.Add([]byte(serverHeader+"<message><!-- c --></message>"), uint8(0))
	f.Add([]byte(serverHeader+"<message><body>\xe6\x97\xa5</body></message>"), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		s := NewSplitter(&chunkReader{b: data, n: int(chunk%16) + 1}, 1<<10)
		var all []byte
		for n := 0; ; n++ {
			tok, err := s.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("error %T %v is not an *Error", err, err)
				}
				break
			}
			all = append(all, tok.Raw...)
			if !bytes.HasPrefix(data, all) {
				t.Fatalf("Raw bytes %q are not a prefix of the input", all)
			}
			if tok.Kind == TokenElement {
				full := s.Complete(tok)
				if _, err := canonStandalone(full); err != nil {
					t.Fatalf("Complete output %q does not parse: %v", full, err)
				}
				if again := s.Complete(Token{Kind: TokenElement, Raw: full, scope: tok.scope}); !bytes.Equal(again, full) {
					t.Fatalf("Complete not idempotent: %q then %q", full, again)
				}
			}
			if n > len(data)+2 {
				t.Fatal("more tokens than bytes")
			}
		}
		if tok, err := ParseWSMessage(data); err == nil {
			if _, perr := canonStandalone(tok.Raw); perr != nil {
				t.Fatalf("ParseWSMessage accepted %q, which does not parse: %v", tok.Raw, perr)
			}
		} else if e := (*Error)(nil); !errors.As(err, &e) {
			t.Fatalf("ParseWSMessage error %T is not an *Error", err)
		}
		children, _, err := BOSHChildren(data)
		if e := (*Error)(nil); err != nil && !errors.As(err, &e) {
			t.Fatalf("BOSHChildren error %T is not an *Error", err)
		}
		for _, c := range children {
			if _, err := canonStandalone(c); err != nil {
				t.Fatalf("BOSHChildren returned %q, which does not parse: %v", c, err)
			}
		}
	})
}

// benchStream is a realistic client-to-server stream: the header, then
// the corpus (restart left out) over and over, about 1 MiB.
func benchStream() []byte {
	var b bytes.Buffer
	b.WriteString(serverHeader)
	for b.Len() < 1<<20 {
		for _, s := range append(clientStanzas[2:], serverStanzas[3:]...) {
			b.WriteString(s)
		}
		b.WriteString("\n")
	}
	b.WriteString("</stream:stream>")
	return b.Bytes()
}

// BenchmarkSplitter measures the Splitter against two baselines on the
// same bytes in the same run: io.Copy (the cost of moving the bytes) and
// encoding/xml RawToken (the cost of tokenizing them without any of the
// Splitter's checks), and logs the ratios.
func BenchmarkSplitter(b *testing.B) {
	in := benchStream()
	per := map[string]time.Duration{}
	run := func(name string, f func()) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				f()
			}
			per[name] = b.Elapsed() / time.Duration(b.N)
			// The ratios are on the benchmark's own line: the baselines ran
			// just before, on the same bytes.
			if base := per["xml.RawToken"]; base > 0 && name != "xml.RawToken" {
				b.ReportMetric(float64(base)/float64(per[name]), "x-RawToken")
			}
			if base := per["io.Copy"]; base > 0 && name != "io.Copy" {
				b.ReportMetric(float64(per[name])/float64(base), "x-slower-than-Copy")
			}
		})
	}
	run("io.Copy", func() {
		if _, err := io.Copy(io.Discard, struct{ io.Reader }{bytes.NewReader(in)}); err != nil {
			b.Fatal(err)
		}
	})
	run("xml.RawToken", func() {
		d := xml.NewDecoder(bytes.NewReader(in))
		for {
			if _, err := d.RawToken(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				return
			}
		}
	})
	run("Splitter", func() {
		s := NewSplitter(bytes.NewReader(in), 0)
		for {
			if _, err := s.Next(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				return
			}
		}
	})
	run("Splitter+Complete", func() {
		s := NewSplitter(bytes.NewReader(in), 0)
		for {
			tok, err := s.Next()
			if err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				return
			}
			if tok.Kind == TokenElement {
				s.Complete(tok)
			}
		}
	})
	if per["Splitter"] > 0 && per["xml.RawToken"] > 0 && per["io.Copy"] > 0 {
		mbps := func(d time.Duration) float64 { return float64(len(in)) / d.Seconds() / 1e6 }
		b.Logf("%d-byte stream: Splitter %.0f MB/s, Splitter+Complete %.0f MB/s, xml.RawToken %.0f MB/s, io.Copy %.0f MB/s; Splitter is %.1fx faster than RawToken and %.1fx slower than io.Copy",
			len(in), mbps(per["Splitter"]), mbps(per["Splitter+Complete"]), mbps(per["xml.RawToken"]), mbps(per["io.Copy"]),
			float64(per["xml.RawToken"])/float64(per["Splitter"]), float64(per["Splitter"])/float64(per["io.Copy"]))
	}
}

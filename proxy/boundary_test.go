package proxy

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"hacx.dev/hacx/xmppstream"
)

// boundaryPieces is a client's stream after the opening: each piece is
// a top-level element, whitespace or a restart header; only the offsets
// between pieces (and inside whitespace) are boundaries.
var boundaryPieces = []string{
	"<message to='a@b' id='x>y/'><body>1 &lt; 2</body></message>",
	" \n",
	"<presence/>",
	"<iq type=\"get\" id='q'><query xmlns='jabber:iq:roster' ver=\"a'b\"/></iq>",
	"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>",
	"<?xml version='1.0'?>",
	"<stream:stream to='relay.test' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
	"<message><body><![CDATA[<not-a-tag> ]] ]> </still>]]></body></message>",
	"<a:b xmlns:a='urn:x'><a:c/><a:d></a:d></a:b>",
	"\t",
	"<r><s><t/></s></r>",
}

// TestBoundary: atBoundary is true exactly between top-level elements,
// whatever the chunking of the bytes.
func TestBoundary(t *testing.T) {
	in := strings.Join(boundaryPieces, "")
	want := make([]bool, len(in)+1)
	off := 0
	want[0] = true
	for _, p := range boundaryPieces {
		if strings.TrimSpace(p) == "" {
			for i := range len(p) {
				want[off+i+1] = true
			}
		}
		off += len(p)
		want[off] = true
	}
	for _, chunk := range []int{1, 2, 3, 7, 64, len(in)} {
		var b boundary
		for i := 0; i < len(in); i += chunk {
			end := min(i+chunk, len(in))
			b.feed([]byte(in[i:end]))
			if got := b.atBoundary(); got != want[end] {
				t.Fatalf("chunk %d: after %q: atBoundary %v, want %v", chunk, in[:end], got, want[end])
			}
		}
	}
	var b boundary
	b.feed([]byte("<presence/></stream:stream>"))
	if b.atBoundary() {
		t.Error("after the client's own </stream:stream>: still a boundary")
	}
}

// TestBoundary_ForeignStreamElement: only the client's own stream header
// is a restart; a top-level element merely named stream (another
// namespace, or another prefix) nests like any element, so there is no
// boundary inside it.
func TestBoundary_ForeignStreamElement(t *testing.T) {
	for _, tc := range []struct{ stream, open, close string }{
		{"", "<x:stream xmlns:x='urn:a'>", "</x:stream>"},
		{"", "<stream xmlns='urn:a'>", "</stream>"},
		{"stream:stream", "<stream xmlns='urn:a'>", "</stream>"},
		{"s:stream", "<stream:stream xmlns:stream='urn:a'>", "</stream:stream>"},
	} {
		b := boundary{stream: []byte(tc.stream)}
		b.feed([]byte(tc.open + "<body/>"))
		if b.atBoundary() {
			t.Errorf("header %q: inside %s: at a boundary", tc.stream, tc.open)
		}
		b.feed([]byte(tc.close))
		if !b.atBoundary() {
			t.Errorf("header %q: after %s%s: not at a boundary", tc.stream, tc.open, tc.close)
		}
	}
	// The header's own name, whatever its prefix, is a restart.
	b := boundary{stream: []byte("s:stream")}
	b.feed([]byte("<s:stream xmlns:s='" + xmppstream.NSStream + "' xmlns='jabber:client' to='x' version='1.0'>"))
	if !b.atBoundary() {
		t.Error("a restart with the header's own name s:stream: not a boundary")
	}
}

// FuzzBoundary: client bytes are network input: never a panic, and a
// run of whole elements (as the stream splitter reads them) ends at a
// boundary.
func FuzzBoundary(f *testing.F) {
	for _, p := range boundaryPieces {
		f.Add([]byte(p), 3)
	}
	f.Add([]byte("<a b='"), 1)
	f.Add([]byte("<![CDATA[]]"), 2)
	f.Fuzz(func(t *testing.T, in []byte, chunk int) {
		chunk = max(1, chunk%97)
		var b boundary
		for i := 0; i < len(in); i += chunk {
			b.feed(in[i:min(i+chunk, len(in))])
		}
		hdr := "<stream:stream xmlns='jabber:client' xmlns:stream='" + xmppstream.NSStream + "' to='x' version='1.0'>"
		sp := xmppstream.NewSplitter(io.MultiReader(strings.NewReader(hdr), bytes.NewReader(in)), 0)
		if tok, err := sp.Next(); err != nil || tok.Kind != xmppstream.TokenOpen {
			t.Fatalf("header: %v", err)
		}
		for {
			tok, err := sp.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil || (tok.Kind != xmppstream.TokenElement && tok.Kind != xmppstream.TokenSpace) {
				return // not a run of whole elements
			}
		}
		if !b.atBoundary() {
			t.Fatalf("%q: whole elements, but not at a boundary (%+v)", in, b)
		}
	})
}

// BenchmarkBoundary: following the client's bytes against sealing them
// in a TLS record (AES-128-GCM, what the relay does with them anyway), on
// the same stanzas; x-seal is the cost of following relative to that.
func BenchmarkBoundary(b *testing.B) {
	var buf bytes.Buffer
	for buf.Len() < relayBuffer {
		buf.WriteString(boundaryPieces[0] + boundaryPieces[3] + "<message to='juliet@example.org' type='chat' id='m1'><body>" + strings.Repeat("lorem ipsum ", 20) + "</body></message>")
	}
	data := buf.Bytes()[:relayBuffer]
	block, err := aes.NewCipher(make([]byte, 16))
	if err != nil {
		b.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	nonce := make([]byte, gcm.NonceSize())
	out := make([]byte, 0, len(data)+gcm.Overhead())
	var bd boundary
	var sealT, followT time.Duration
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		t0 := time.Now()
		gcm.Seal(out[:0], nonce, data, nil)
		t1 := time.Now()
		bd.feed(data)
		followT += time.Since(t1)
		sealT += t1.Sub(t0)
	}
	b.ReportMetric(float64(followT)/float64(sealT), "x-seal")
	b.ReportMetric(float64(len(data))*float64(b.N)/followT.Seconds()/1e6, "MB/s-followed")
	b.ReportMetric(float64(len(data))*float64(b.N)/sealT.Seconds()/1e6, "MB/s-sealed")
}

package xmppstream

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The namespace prefixes in scope of a start tag are a peer's to choose:
// a few thousand declared on open ancestors, or dozens on the stream
// header, must not make each prefixed name that follows cost in
// proportion to them (RFC 6120 section 13.12: a peer must not be able to
// make us work without limit).

// prefixElement returns a stream header declaring headerDecls prefixes
// and one top-level element of about size bytes: depth nested elements
// each declaring perLevel prefixes, filled with prefixed names that are
// looked up last (a prefix of the header, or the last declared one).
// With no declarations at all it is an element of the same size and
// shape for a baseline.
func prefixElement(size, headerDecls, depth, perLevel int) []byte {
	var b bytes.Buffer
	b.WriteString("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'")
	for i := range headerDecls {
		b.WriteString(" xmlns:h" + strconv.Itoa(i) + "='u'")
	}
	b.WriteString(">")
	headerLen := b.Len()
	for d := range depth {
		b.WriteString("<e")
		for i := range perLevel {
			b.WriteString(" xmlns:p" + strconv.Itoa(d*perLevel+i) + "='u'")
		}
		b.WriteString(">")
	}
	name := "<stream:x/>"
	if headerDecls > 0 {
		name = "<h" + strconv.Itoa(headerDecls-1) + ":x/>"
	}
	closing := strings.Repeat("</e>", depth)
	for b.Len()-headerLen+len(name)+len(closing) <= size {
		b.WriteString(name)
	}
	b.WriteString(closing)
	return b.Bytes()
}

// splitOnce splits in and fails unless it is a header and one element.
func splitOnce(tb testing.TB, in []byte) {
	s := NewSplitter(bytes.NewReader(in), 0)
	for n := 0; ; n++ {
		_, err := s.Next()
		if err == io.EOF {
			if n != 2 {
				tb.Fatalf("%d tokens, want a header and one element", n)
			}
			return
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// prefixCases are the crafted elements and the plain one of the same
// size they are measured against.
func prefixCases() (plain []byte, crafted map[string][]byte) {
	const size = DefaultMaxElement - 1<<10
	return prefixElement(size, 0, 64, 0), map[string][]byte{
		// 64 levels of 128 declarations: 8192 prefixes on the ancestors.
		"ancestors": prefixElement(size, 0, 64, 128),
		// 60 declarations on the header, about as many as its bound on
		// declared bytes (maxHeaderDecls) allows, the last used by every
		// name.
		"header": prefixElement(size, 60, 64, 0),
	}
}

// BenchmarkSplitterPrefixes measures elements full of prefixed names
// under many declared prefixes against a plain element of the same size
// in the same run, and reports the ratio (x-plain).
func BenchmarkSplitterPrefixes(b *testing.B) {
	plain, crafted := prefixCases()
	var base time.Duration
	b.Run("plain", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			splitOnce(b, plain)
		}
		base = b.Elapsed() / time.Duration(b.N)
	})
	for _, name := range []string{"ancestors", "header"} {
		in := crafted[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				splitOnce(b, in)
			}
			if base > 0 {
				b.ReportMetric(float64(b.Elapsed()/time.Duration(b.N))/float64(base), "x-plain")
			}
		})
	}
}

// TestSplitter_ManyPrefixesCostLinear: an element full of prefixed
// names under thousands of declared prefixes takes at most a few times
// as long as a plain element of the same size (each lookup is a map
// access, not a walk over every declaration). The two are timed in
// turns in the same run and the fastest of several runs compared, so the
// bound holds on a loaded machine; a per-name scan made it over 20x.
func TestSplitter_ManyPrefixesCostLinear(t *testing.T) {
	const maxRatio = 8
	plain, crafted := prefixCases()
	timed := func(in []byte) time.Duration {
		start := time.Now()
		splitOnce(t, in)
		return time.Since(start)
	}
	for _, name := range []string{"ancestors", "header"} {
		in := crafted[name]
		var p, c time.Duration = 1<<63 - 1, 1<<63 - 1
		for range 5 {
			p, c = min(p, timed(plain)), min(c, timed(in))
		}
		if ratio := float64(c) / float64(p); ratio > maxRatio {
			t.Errorf("%s: %v for %d bytes, plain %v for %d bytes: %.1fx, want at most %dx", name, c, len(in), p, len(plain), ratio, maxRatio)
		} else {
			t.Logf("%s: %v, plain %v: %.1fx", name, c, p, ratio)
		}
	}
}

// TestSplitter_PrefixScope: a prefix is in scope from the start tag
// that declares it to the matching end tag, also when an inner element
// declares it again, and never in the next top-level element.
func TestSplitter_PrefixScope(t *testing.T) {
	h := serverHeader
	tests := []struct {
		name, in, cond string // cond "" when the input is acceptable
	}{
		{"redeclared inside", h + "<a xmlns:p='u'><b xmlns:p='v'/><c xmlns:p='w'><p:x/></c><p:d/></a>", ""},
		{"on the tag itself", h + "<p:a xmlns:p='u' p:at='1'/>", ""},
		{"attribute of a child", h + "<a xmlns:p='u'><b p:at='1'/></a>", ""},
		{"out of scope after redeclaration", h + "<a><b xmlns:p='u'><c xmlns:p='v'></c></b><p:x/></a>", "bad-namespace-prefix"},
		{"out of scope after empty tag", h + "<a><b xmlns:p='u'/><p:x/></a>", "bad-namespace-prefix"},
		{"next top-level element", h + "<a xmlns:p='u'><p:x/></a><p:y/>", "bad-namespace-prefix"},
		{"next top-level element attribute", h + "<a xmlns:p='u'><p:x/></a><b p:at='1'/>", "bad-namespace-prefix"},
	}
	for _, tc := range tests {
		for _, rd := range readers[:2] {
			t.Run(tc.name+"/"+rd.name, func(t *testing.T) {
				_, _, err := splitAll(t, rd.wrap(strings.NewReader(tc.in)), 0)
				var se *StreamError
				switch {
				case tc.cond == "" && err != nil:
					t.Errorf("err = %v, want none", err)
				case tc.cond != "" && (!errors.As(err, &se) || se.Condition != tc.cond):
					t.Errorf("err = %v, want %s", err, tc.cond)
				}
			})
		}
	}
}

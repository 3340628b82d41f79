package dial

import (
	"bytes"
	"testing"

	"hacx.dev/hacx"
	"hacx.dev/hacx/xmppstream"
)

// FuzzStreamConnHeader feeds the caller-header absorber any bytes cut into
// two writes: nothing panics, it never holds more than MaxHeaderBytes, the
// cut never turns a refusal into an acceptance, and once the header is complete the
// bytes passed on are exactly the input after the header.
func FuzzStreamConnHeader(f *testing.F) {
	const hdr = "<?xml version='1.0'?><stream:stream to='example.test' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
	f.Add([]byte(hdr+"<auth/>"), uint16(10))
	f.Add([]byte(hdr), uint16(0))
	f.Add([]byte("  \n"+hdr[21:]), uint16(30))
	f.Add([]byte("<s:stream to='EXAMPLE.test.' xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams' version='1.1'/>"), uint16(5))
	f.Add([]byte("<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><!DOCTYPE x>"), uint16(3))
	f.Add([]byte("HTTP/1.1 200 OK\r\n"), uint16(1))
	f.Add([]byte("<?xml ?>00\xc30"), uint16(10)) // refused whole, merely incomplete when cut
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		at := int(cut) % (len(in) + 1)
		whole := headerAbsorber{domain: "example.test", kind: hacx.Client}
		rest1, done1, err1 := whole.write(in)
		if len(whole.buf) > xmppstream.MaxHeaderBytes {
			t.Fatalf("holds %d bytes", len(whole.buf))
		}

		split := headerAbsorber{domain: "example.test", kind: hacx.Client}
		var passed []byte
		rest, done, err := split.write(in[:at])
		passed = append(passed, rest...)
		if err == nil {
			rest, done, err = split.write(in[at:])
			passed = append(passed, rest...)
		}
		if len(split.buf) > xmppstream.MaxHeaderBytes {
			t.Fatalf("holds %d bytes", len(split.buf))
		}
		// A truncated header can look merely incomplete where the longer
		// input is already refused (the decoder reports the end of input
		// first); that only delays the refusal. Accepting in one case and
		// refusing in the other would be a bug.
		if done && err1 != nil || done1 && err != nil || err == nil && err1 == nil && done != done1 {
			t.Fatalf("cut at %d changed the outcome: whole (%v, %v), cut (%v, %v)", at, done1, err1, done, err)
		}
		if !done {
			return
		}
		if !bytes.Equal(passed, rest1) || !bytes.HasSuffix(in, rest1) {
			t.Fatalf("passed on %q (cut) / %q (whole), not the input after the header", passed, rest1)
		}
		if !sameDomain(whole.hdr.To, "example.test") || whole.hdr.NS != "jabber:client" {
			t.Fatalf("accepted header %+v", whole.hdr)
		}
	})
}

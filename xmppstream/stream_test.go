package xmppstream

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"hacx.dev/hacx"
)

const (
	prosodyHeader  = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xml:lang='en' version='1.0' id='6a0d9b5c-2e4f' from='example.com' xmlns:stream='http://etherx.jabber.org/streams'>"
	ejabberdHeader = `<?xml version="1.0"?><stream:stream id="1482378765347617" version="1.0" xml:lang="en" xmlns:stream="http://etherx.jabber.org/streams" xmlns="jabber:client" from="example.com">`
	saslFeatures   = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
)

// TestReadOpen_GoodServers_C4: headers as real servers write them must be
// accepted, and the features returned byte for byte.
func TestReadOpen_GoodServers_C4(t *testing.T) {
	tests := []struct {
		name, in, domain string
		kind             hacx.Kind
		want             Header
		features         string
	}{
		{"prosody single quotes", prosodyHeader + saslFeatures, "example.com", hacx.Client,
			Header{From: "example.com", ID: "6a0d9b5c-2e4f", Version: "1.0", Lang: "en", NS: "jabber:client"}, saslFeatures},
		{"ejabberd double quotes", ejabberdHeader + "<stream:features/>", "example.com", hacx.Client,
			Header{From: "example.com", ID: "1482378765347617", Version: "1.0", Lang: "en", NS: "jabber:client"}, "<stream:features/>"},
		{"whitespace keepalives before and between", "\r\n \n" + prosodyHeader + "\n  " + saslFeatures, "example.com", hacx.Client,
			Header{From: "example.com", ID: "6a0d9b5c-2e4f", Version: "1.0", Lang: "en", NS: "jabber:client"}, saslFeatures},
		{"other prefix, no declaration", "<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client' from='example.com' to='user@example.com' version='1.0'><s:features></s:features>", "example.com", hacx.Client,
			Header{From: "example.com", To: "user@example.com", Version: "1.0", NS: "jabber:client"}, "<s:features></s:features>"},
		{"domain case and trailing dot", strings.Replace(prosodyHeader, "from='example.com'", "from='Example.COM.'", 1) + "<stream:features/>", "example.com", hacx.Client,
			Header{From: "Example.COM.", ID: "6a0d9b5c-2e4f", Version: "1.0", Lang: "en", NS: "jabber:client"}, "<stream:features/>"},
		{"server to server", "<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='example.net' id='x' version='1.0'><stream:features><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>", "example.net", hacx.Server,
			Header{From: "example.net", ID: "x", Version: "1.0", NS: "jabber:server"}, "<stream:features><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>"},
		{"minor version 1.1", strings.Replace(prosodyHeader, "version='1.0' id", "version='1.1' id", 1) + "<stream:features/>", "example.com", hacx.Client,
			Header{From: "example.com", ID: "6a0d9b5c-2e4f", Version: "1.1", Lang: "en", NS: "jabber:client"}, "<stream:features/>"},
		{"escaped attribute", "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='example.com' id='a&amp;b&#x27;c' version='1.0'><stream:features/>", "example.com", hacx.Client,
			Header{From: "example.com", ID: "a&b'c", Version: "1.0", NS: "jabber:client"}, "<stream:features/>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// One byte per Read, as a slow network delivers it.
			h, f, err := ReadOpen(iotest.OneByteReader(strings.NewReader(tc.in)), tc.domain, tc.kind)
			if err != nil {
				t.Fatalf("ReadOpen: %v", err)
			}
			if *h != tc.want {
				t.Errorf("header = %+v, want %+v", *h, tc.want)
			}
			if string(f) != tc.features {
				t.Errorf("features = %q, want %q", f, tc.features)
			}
		})
	}
}

// TestReadOpen_WrongAnswers_C3: everything that is not the right XMPP
// server must fail with a cause the attempt log can name.
func TestReadOpen_WrongAnswers_C3(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		cause   error  // sentinel, or nil when cond is set
		cond    string // *StreamError condition
		phase   string
		inMsg   string // substring of the message
		hdrBack bool   // the header is returned along with the error
	}{
		{"http response", "HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n\r\n<html>", ErrHTTP, "", PhaseHeader, `("HTTP/1.1 400 Bad Request")`, false},
		{"http/2-less http/1.0", "HTTP/1.0 200 OK\n", ErrHTTP, "", PhaseHeader, "HTTP/1.0 200 OK", false},
		{"smtp banner", "220 mail.example.net ESMTP Postfix (Debian/GNU)\r\n", ErrBanner, "", PhaseHeader, "220 banner", false},
		{"smtp multiline banner", "220-mail.example.net ESMTP\r\n220 ok\r\n", ErrBanner, "", PhaseHeader, "220-mail.example.net", false},
		{"ssh banner", "SSH-2.0-OpenSSH_9.6\r\n", ErrBanner, "", PhaseHeader, "SSH banner", false},
		{"imap banner", "* OK [CAPABILITY IMAP4rev1] ready\r\n", ErrBanner, "", PhaseHeader, "IMAP", false},
		{"tls alert", "\x15\x03\x01\x00\x02\x02\x46", ErrTLSRecord, "", PhaseHeader, "TLS alert", false},
		{"tls handshake", "\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03", ErrTLSRecord, "", PhaseHeader, "TLS handshake", false},
		{"binary garbage", "\x00\x01\x02garbage", ErrNotXMPP, "", PhaseHeader, "not XML", false},
		{"closed at once", "", ErrClosed, "", PhaseHeader, "closed before", false},
		{"closed mid header", "<?xml version='1.0'?><stream:stream xmlns='jabb", ErrClosed, "", PhaseHeader, "closed before", false},
		{"html page", "<!DOCTYPE html><html><body>It works!</body></html>", ErrNotXMPP, "", PhaseHeader, "HTML", false},
		{"html without doctype", "<html><head><title>400</title></head></html>", ErrNotXMPP, "", PhaseHeader, "HTML", false},
		{"doctype with entities H6", "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>]><stream:stream>", ErrRestrictedXML, "", PhaseHeader, "DOCTYPE", false},
		{"processing instruction", "<?php echo 1; ?><stream:stream>", ErrRestrictedXML, "", PhaseHeader, "processing instruction", false},
		{"comment", "<!-- hi --><stream:stream>", ErrRestrictedXML, "", PhaseHeader, "comment", false},
		{"websocket framing on tls", "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='example.com' version='1.0'/>", ErrNotXMPP, "", PhaseHeader, "RFC 7395", false},
		{"wrong stream namespace", "<stream:stream xmlns:stream='http://example.org/streams' xmlns='jabber:client' from='example.com' version='1.0'>", ErrNotXMPP, "", PhaseHeader, "namespace", false},
		{"unbound stream prefix", "<stream:stream xmlns='jabber:client' from='example.com' version='1.0'>", ErrNotXMPP, "", PhaseHeader, "namespace", false},
		{"other element", "<greeting>hello</greeting>", ErrNotXMPP, "", PhaseHeader, "<greeting>", false},
		{"text before header", "hello <stream:stream>", ErrNotXMPP, "", PhaseHeader, "not XML", false},
		{"server namespace for client", strings.Replace(prosodyHeader, "'jabber:client'", "'jabber:server'", 1) + "<stream:features/>", ErrNotXMPP, "", PhaseHeader, `"jabber:server"`, false},
		{"no content namespace", "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' from='example.com' version='1.0'><stream:features/>", ErrNotXMPP, "", PhaseHeader, "without content namespace", false},
		{"no version", strings.Replace(prosodyHeader, "version='1.0' ", "", 1) + "<stream:features/>", ErrVersion, "", PhaseHeader, "without version", false},
		{"version 2.0", strings.Replace(prosodyHeader, "version='1.0' id", "version='2.0' id", 1) + "<stream:features/>", ErrVersion, "", PhaseHeader, `"2.0"`, false},
		{"wrong domain", strings.Replace(prosodyHeader, "example.com", "other.example", 1) + saslFeatures, ErrWrongDomain, "", PhaseHeader, `from "other.example", not from "example.com"`, false},
		{"suffix domain is not the domain", strings.Replace(prosodyHeader, "example.com", "mail.example.com", 1) + saslFeatures, ErrWrongDomain, "", PhaseHeader, "mail.example.com", false},
		{"no from", strings.Replace(prosodyHeader, "from='example.com' ", "", 1) + saslFeatures, ErrWrongDomain, "", PhaseHeader, "without from", false},
		// Prosody refusing an unknown host: a header without from, then the error (RFC 6120 4.9.1.2).
		{"prosody host-unknown", "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client' id='' version='1.0'><stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>This server does not serve example.com</text></stream:error></stream:stream>", nil, "host-unknown", PhaseHeader, "does not serve", false},
		{"see-other-host after foreign header", strings.Replace(prosodyHeader, "example.com", "old.example", 1) + "<stream:error><see-other-host xmlns='urn:ietf:params:xml:ns:xmpp-streams'>new.example:5223</see-other-host></stream:error>", nil, "see-other-host", PhaseHeader, "new.example:5223", false},
		{"stream error instead of header", "<stream:error xmlns:stream='http://etherx.jabber.org/streams'><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>", nil, "policy-violation", PhaseHeader, "instead of a stream header", false},
		{"stream error after good header", prosodyHeader + "<stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>", nil, "system-shutdown", PhaseFeatures, "system-shutdown", true},
		{"eof after header", prosodyHeader, ErrClosed, "", PhaseFeatures, "closed before", true},
		{"closed after header", prosodyHeader + "</stream:stream>", ErrClosed, "", PhaseFeatures, "closed the stream", true},
		{"message instead of features", prosodyHeader + "<message/>", ErrNotXMPP, "", PhaseFeatures, "<message/>", true},
		{"text instead of features", prosodyHeader + "hello", ErrNotXMPP, "", PhaseFeatures, "text", true},
		{"comment in features", prosodyHeader + "<stream:features><!-- x --></stream:features>", ErrRestrictedXML, "", PhaseFeatures, "comment", true},
		{"endless keepalives", strings.Repeat(" ", MaxHeaderBytes+10) + prosodyHeader, ErrTooLarge, "", PhaseHeader, "4096 bytes", false},
		{"endless header", "<stream:stream a='" + strings.Repeat("x", MaxHeaderBytes) + "'>", ErrTooLarge, "", PhaseHeader, "4096 bytes", false},
		{"endless features", prosodyHeader + "<stream:features>" + strings.Repeat("<a/>", MaxOpenBytes/4), ErrTooLarge, "", PhaseFeatures, "32768 bytes", true},
		{"deep features", prosodyHeader + "<stream:features>" + strings.Repeat("<a>", 100), ErrTooLarge, "", PhaseFeatures, "nested", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, f, err := ReadOpen(strings.NewReader(tc.in), "example.com", hacx.Client)
			if err == nil {
				t.Fatalf("ReadOpen succeeded (header %+v, features %q)", h, f)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
			if e.Phase != tc.phase {
				t.Errorf("phase = %q, want %q (%v)", e.Phase, tc.phase, err)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("error %v is not %v", err, tc.cause)
			}
			if tc.cond != "" {
				var se *StreamError
				if !errors.As(err, &se) || se.Condition != tc.cond {
					t.Errorf("error %v: want stream error <%s/>", err, tc.cond)
				}
			}
			if !strings.Contains(err.Error(), tc.inMsg) {
				t.Errorf("message %q does not contain %q", err, tc.inMsg)
			}
			if (h != nil) != tc.hdrBack {
				t.Errorf("header returned = %v, want %v", h != nil, tc.hdrBack)
			}
			if f != nil {
				t.Errorf("features returned with an error: %q", f)
			}
		})
	}
}

// The exact message, as the attempt log shows it.
func TestError_Message(t *testing.T) {
	_, _, err := ReadOpen(strings.NewReader("HTTP/1.1 400 Bad Request\r\n\r\n"), "example.com", hacx.Client)
	want := `xmppstream: stream header: got an HTTP response where XMPP was expected ("HTTP/1.1 400 Bad Request")`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

// The deep-features case above must fail because of depth, not size.
func TestReadOpen_DepthBound_H6(t *testing.T) {
	in := prosodyHeader + "<stream:features>" + strings.Repeat("<a>", maxDepth+2) + strings.Repeat("</a>", maxDepth+2) + "</stream:features>"
	_, _, err := ReadOpen(strings.NewReader(in), "example.com", hacx.Client)
	if err == nil || !strings.Contains(err.Error(), "nested deeper than 32") {
		t.Fatalf("got %v, want a nesting error", err)
	}
}

// ReadOpen must not consume the stream past the features, whether the
// reader buffers (io.ByteReader) or not.
func TestReadOpen_ReadsNothingPastFeatures(t *testing.T) {
	const rest = "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
	for _, r := range []struct {
		name string
		r    io.Reader
		left func() int
	}{
		func() (s struct {
			name string
			r    io.Reader
			left func() int
		}) {
			br := strings.NewReader(prosodyHeader + saslFeatures + rest)
			s.name, s.r, s.left = "byte reader", br, br.Len
			return
		}(),
		func() (s struct {
			name string
			r    io.Reader
			left func() int
		}) {
			br := strings.NewReader(prosodyHeader + saslFeatures + rest)
			s.name, s.r, s.left = "plain reader", struct{ io.Reader }{br}, br.Len
			return
		}(),
	} {
		t.Run(r.name, func(t *testing.T) {
			if _, _, err := ReadOpen(r.r, "example.com", hacx.Client); err != nil {
				t.Fatal(err)
			}
			if got := r.left(); got != len(rest) {
				t.Errorf("%d bytes left unread, want %d", got, len(rest))
			}
		})
	}
}

// A silent server: the read deadline's error must come through, so dial
// can tell a timeout from a refusal.
func TestReadOpen_DeadlineSurfaces(t *testing.T) {
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	go func() {
		c2.Write([]byte("  \n" + prosodyHeader)) // header, then silence
	}()
	c1.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	h, _, err := ReadOpen(c1, "example.com", hacx.Client)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Phase != PhaseFeatures || h == nil || h.From != "example.com" {
		t.Fatalf("got header %+v, %v; want the header and a features-phase error", h, err)
	}
}

// A reader error along with data must not lose the data.
func TestReadOpen_DataWithError(t *testing.T) {
	h, _, err := ReadOpen(iotest.DataErrReader(strings.NewReader(prosodyHeader+saslFeatures)), "example.com", hacx.Client)
	if err != nil || h.ID != "6a0d9b5c-2e4f" {
		t.Fatalf("got %+v, %v", h, err)
	}
}

// TestRoundTrip_ClientServer_C4: what this package writes, it accepts,
// on both sides, for both kinds.
func TestRoundTrip_ClientServer_C4(t *testing.T) {
	for _, kind := range []hacx.Kind{hacx.Client, hacx.Server} {
		t.Run(kind.String(), func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteOpen(&b, "example.com", kind); err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(b.String(), ">\n") {
				t.Errorf("client header %q does not end with a newline (C3: lets a web server answer at once)", b.String())
			}
			ch, err := ReadClientOpen(&b, kind)
			if err != nil {
				t.Fatalf("ReadClientOpen(%q): %v", b.String(), err)
			}
			if ch.To != "example.com" || ch.NS != kind.Namespace() || ch.Version != "1.0" {
				t.Errorf("client header = %+v", ch)
			}
			b.Reset()
			if err := WriteServerOpen(&b, "example.com", "id-1", kind); err != nil {
				t.Fatal(err)
			}
			b.WriteString("<stream:features>" + saslInner + "</stream:features>")
			h, f, err := ReadOpen(&b, "example.com", kind)
			if err != nil {
				t.Fatalf("ReadOpen: %v", err)
			}
			if h.ID != "id-1" || !bytes.Contains(f, []byte(saslInner)) {
				t.Errorf("header %+v features %q", h, f)
			}
		})
	}
}

// Attribute values are escaped: a hostile "to" cannot inject markup.
func TestWriteOpen_Escapes(t *testing.T) {
	var b bytes.Buffer
	WriteOpen(&b, `x'/><evil a="`, hacx.Client)
	h, err := ReadClientOpen(&b, hacx.Client)
	if err != nil || h.To != `x'/><evil a="` {
		t.Fatalf("got %+v, %v", h, err)
	}
}

func TestWriteStreamError_ReadBack(t *testing.T) {
	var b bytes.Buffer
	WriteServerOpen(&b, "example.com", "1", hacx.Client)
	WriteStreamError(&b, "host-unknown", "no <such> host")
	_, _, err := ReadOpen(&b, "example.com", hacx.Client)
	var se *StreamError
	if !errors.As(err, &se) || se.Condition != "host-unknown" || se.Text != "no <such> host" {
		t.Fatalf("got %v", err)
	}
	b.Reset()
	WriteStreamError(&b, "bad/><x", "")
	if !strings.Contains(b.String(), "<undefined-condition") {
		t.Errorf("unsafe condition written as is: %q", b.String())
	}
}

// ReadClientOpen checks namespaces and version like ReadOpen.
func TestReadClientOpen_Rejects(t *testing.T) {
	for _, in := range []string{
		"GET / HTTP/1.1\r\n",
		"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' to='example.com' version='1.0'>",
		"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client' to='example.com'>",
	} {
		if h, err := ReadClientOpen(strings.NewReader(in), hacx.Client); err == nil {
			t.Errorf("ReadClientOpen(%q) = %+v, want an error", in, h)
		}
	}
}

func TestSameDomain(t *testing.T) {
	for _, tc := range []struct {
		from, domain string
		want         bool
	}{
		{"example.com", "example.com", true},
		{"EXAMPLE.com.", "example.COM", true},
		{"", "", false},
		{"", "example.com", false},
		{"example.com.evil", "example.com", false},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", true},
	} {
		if got := sameDomain(tc.from, tc.domain); got != tc.want {
			t.Errorf("sameDomain(%q, %q) = %v", tc.from, tc.domain, got)
		}
	}
}

// BenchmarkReadOpen measures the byte-at-a-time reader on a typical
// Prosody answer, through a reader that is not an io.ByteReader (as a
// tls.Conn is not).
func BenchmarkReadOpen(b *testing.B) {
	in := prosodyHeader + saslFeatures
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, _, err := ReadOpen(struct{ io.Reader }{strings.NewReader(in)}, "example.com", hacx.Client); err != nil {
			b.Fatal(err)
		}
	}
}

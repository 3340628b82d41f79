package xmppstream

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"hacx.dev/hacx"
)

// The stanza corpus: a client's and a server's side of a session with
// SASL and a restart, as real clients and servers write them.
const (
	clientHeader  = "<?xml version='1.0'?>\n<stream:stream to='example.com' version='1.0' xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
	clientRestart = "<?xml version='1.0'?><stream:stream to='example.com' version='1.0' xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
	serverHeader  = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xml:lang='en' version='1.0' id='c2s-1' from='example.com' xmlns:stream='http://etherx.jabber.org/streams'>"
	serverRestart = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xml:lang='en' version='1.0' id='c2s-2' from='example.com' xmlns:stream='http://etherx.jabber.org/streams'>"
)

var clientStanzas = []string{
	"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldAByMG0zMCE=</auth>",
	// restart here (index 1 is the header)
	clientRestart,
	"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>balcony</resource></bind></iq>",
	"<message to='romeo@example.net' type='chat' id='m1'><body>1 &lt; 2 &amp;&amp; 3 &gt; 2 \u2014 \u201cquoted\u201d \u65e5\u672c\u8a9e &#x1F600; &#60;b&#62;</body><thread>t1</thread></message>",
	"<presence><show>away</show><status xml:lang='fr'>Partie</status><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://example.org' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/></presence>",
	"<iq type='get' id='p1' to='pubsub.example.com'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:microblog:0' max_items='10'/></pubsub></iq>",
	"<message id='c1'><body><![CDATA[<not markup> & ]] > ]]></body><x:data xmlns:x='urn:example:x' x:attr='a>b \"q\" &apos;' plain=\"it's > 1\"/></message>",
	"<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
	"<r xmlns='urn:xmpp:sm:3'/>",
	"<message\n  to='a@b'\n  ><body\n>x</body\n></message >",
}

var serverStanzas = []string{
	"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>",
	"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
	serverRestart,
	"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><sm xmlns='urn:xmpp:sm:3'/></stream:features>",
	"<iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>juliet@example.com/balcony</jid></bind></iq>",
	"<message from='romeo@example.net/orchard' to='juliet@example.com/balcony' type='chat'><body>Art thou not Romeo, and a Montague?</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>",
	"<iq from='example.com' type='result' id='v1'><query xmlns='jabber:iq:version'><name>Prosody</name><version>0.12.4</version></query></iq>",
	"<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>Replaced by new connection</text></stream:error>",
}

// stream joins a header, stanzas (headers among them are restarts) and
// whitespace keepalives into one stream, closed when closeIt.
func stream(header string, stanzas []string, closeIt bool) string {
	var b strings.Builder
	b.WriteString(header)
	for i, s := range stanzas {
		b.WriteString(s)
		if i%3 == 0 {
			b.WriteString("\n ")
		}
	}
	if closeIt {
		b.WriteString("</stream:stream>")
	}
	return b.String()
}

// readers cut the same input in the ways a network may deliver it.
var readers = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"whole", func(r io.Reader) io.Reader { return r }},
	{"one byte", iotest.OneByteReader},
	{"half", iotest.HalfReader},
	{"data with EOF", iotest.DataErrReader},
}

func splitAll(t *testing.T, r io.Reader, max int) ([]Token, *Splitter, error) {
	t.Helper()
	s := NewSplitter(r, max)
	var toks []Token
	for {
		tok, err := s.Next()
		if err == io.EOF {
			return toks, s, nil
		}
		if err != nil {
			return toks, s, err
		}
		toks = append(toks, tok)
		if len(toks) > 10000 {
			t.Fatal("no end")
		}
	}
}

// TestSplitter_Corpus: every stanza comes back whole and byte-exact,
// restarts come back as TokenOpen, however the input is cut.
func TestSplitter_Corpus(t *testing.T) {
	for _, side := range []struct {
		name, header string
		stanzas      []string
	}{{"client", clientHeader, clientStanzas}, {"server", serverHeader, serverStanzas}} {
		in := stream(side.header, side.stanzas, true)
		for _, rd := range readers {
			t.Run(side.name+"/"+rd.name, func(t *testing.T) {
				toks, _, err := splitAll(t, rd.wrap(strings.NewReader(in)), 0)
				if err != nil {
					t.Fatal(err)
				}
				var all []byte
				var got []string
				for _, tok := range toks {
					all = append(all, tok.Raw...)
					switch tok.Kind {
					case TokenElement:
						got = append(got, string(tok.Raw))
					case TokenOpen:
						got = append(got, string(tok.Raw))
						if tok.Header.NS != "jabber:client" || tok.Header.Version != "1.0" || tok.Header.Lang != "en" {
							t.Errorf("header %+v", *tok.Header)
						}
					case TokenSpace:
						if len(bytes.TrimSpace(tok.Raw)) != 0 {
							t.Errorf("space token %q", tok.Raw)
						}
					}
				}
				if string(all) != in {
					t.Errorf("Raw concatenation differs from input:\n%q\n%q", all, in)
				}
				want := append([]string{side.header}, side.stanzas...)
				if !slices.Equal(got, want) {
					t.Errorf("tokens:\n%q\nwant\n%q", got, want)
				}
				if last := toks[len(toks)-1]; last.Kind != TokenClose || string(last.Raw) != "</stream:stream>" {
					t.Errorf("last token %v %q", last.Kind, last.Raw)
				}
			})
		}
	}
}

// TestSplitter_Names: names are namespace-resolved from the header and
// the element's own declarations, whatever the prefix.
func TestSplitter_Names(t *testing.T) {
	in := "<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:server' xmlns:db='jabber:server:dialback' from='a.example' to='b.example' version='1.0'>" +
		"<s:features><dialback xmlns='urn:xmpp:features:dialback'/></s:features>" +
		"<db:result from='a.example' to='b.example'>b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3</db:result>" +
		"<iq type='get' id='1'/>" +
		"<x:y xmlns:x='urn:x'/>" +
		"<presence xmlns='jabber:client'/>" +
		"</s:stream>"
	toks, _, err := splitAll(t, iotest.OneByteReader(strings.NewReader(in)), 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []xml.Name
	for _, tok := range toks {
		if tok.Kind == TokenElement {
			names = append(names, tok.Name)
		}
	}
	want := []xml.Name{{Space: NSStream, Local: "features"}, {Space: "jabber:server:dialback", Local: "result"}, {Space: "jabber:server", Local: "iq"}, {Space: "urn:x", Local: "y"}, {Space: "jabber:client", Local: "presence"}}
	if !slices.Equal(names, want) {
		t.Errorf("names %v, want %v", names, want)
	}
	if h := toks[0].Header; h.NS != "jabber:server" || h.From != "a.example" || h.To != "b.example" {
		t.Errorf("header %+v", *h)
	}
}

// TestSplitter_StreamName: the header's qualified name as written, after
// an XML declaration and whatever whitespace ends the name; none without
// a header.
func TestSplitter_StreamName(t *testing.T) {
	const decls = " xmlns:stream='" + NSStream + "' xmlns='jabber:client'"
	for in, want := range map[string]string{
		"<?xml version='1.0'?><stream:stream" + decls + " to='x'>":                           "stream:stream",
		"<?xml version='1.0'?>\n<s:stream xmlns:s='" + NSStream + "' xmlns='jabber:client'>": "s:stream",
		"<stream:stream\tto='x'" + decls + ">":                                               "stream:stream",
		"<?xml version='1.0'?>":                                                              "",
		"<":                                                                                  "",
		"":                                                                                   "",
	} {
		s := NewSplitter(strings.NewReader(in), 0)
		if _, err := s.Next(); want != "" && err != nil {
			t.Errorf("%q: %v", in, err)
		}
		got := s.StreamName()
		if string(got) != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
		if len(got) > 0 {
			got[0] = 'X'
			if string(s.StreamName()) != want {
				t.Errorf("%q: changing the returned name changed the Splitter's", in)
			}
		}
	}
}

// TestSplitter_Errors_RFC6120Section11: what RFC 6120 forbids or XML
// does not allow is a stream error with the right condition, however the
// input is cut, and never a panic.
func TestSplitter_Errors_RFC6120Section11(t *testing.T) {
	h := serverHeader
	tests := []struct {
		name, in, cond string
	}{
		{"comment", h + "<!-- hi --><message/>", "restricted-xml"},
		{"comment inside", h + "<message><!-- hi --></message>", "restricted-xml"},
		{"processing instruction", h + "<message><?php x?></message>", "restricted-xml"},
		{"doctype", "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]>" + h, "restricted-xml"},
		{"entity declaration inside", h + "<!ENTITY a 'b'>", "restricted-xml"},
		{"undeclared entity", h + "<message><body>&nbsp;</body></message>", "not-well-formed"},
		{"bad char ref", h + "<message><body>&#0;</body></message>", "not-well-formed"},
		{"huge char ref", h + "<message><body>&#x110000;</body></message>", "not-well-formed"},
		{"bare ampersand", h + "<message><body>a & b</body></message>", "not-well-formed"},
		{"mismatched end tag", h + "<message><body></message></body>", "not-well-formed"},
		{"prefix mismatch in end tag", h + "<x:a xmlns:x='u' xmlns:y='u'></y:a>", "not-well-formed"},
		{"wrong stream end", h + "</stream:streamx>", "not-well-formed"},
		{"undeclared prefix", h + "<foo:bar/>", "bad-namespace-prefix"},
		{"undeclared prefix nested", h + "<message><foo:bar/></message>", "bad-namespace-prefix"},
		{"undeclared attribute prefix", h + "<message foo:bar='1'/>", "bad-namespace-prefix"},
		{"prefix out of scope", h + "<message><a xmlns:p='u'/><p:b/></message>", "bad-namespace-prefix"},
		{"text at top level", h + "hello", "bad-format"},
		{"cdata at top level", h + "<![CDATA[x]]>", "bad-format"},
		{"control character", h + "<message><body>\x01</body></message>", "not-well-formed"},
		{"invalid utf-8", h + "<message><body>\xff\xfe</body></message>", "not-well-formed"},
		{"surrogate", h + "<message><body>\xed\xa0\x80</body></message>", "not-well-formed"},
		{"U+FFFE", h + "<message><body>\xef\xbf\xbe</body></message>", "not-well-formed"},
		{"]]> in text", h + "<message><body>]]></body></message>", "not-well-formed"},
		{"< in attribute", h + "<message to='a<b'/>", "not-well-formed"},
		{"unquoted attribute", h + "<message to=a/>", "not-well-formed"},
		{"attribute without value", h + "<message checked/>", "not-well-formed"},
		{"duplicate attribute", h + "<message to='a' to='b'/>", "not-well-formed"},
		{"no space between attributes", h + "<message to='a'id='b'/>", "not-well-formed"},
		{"latin-1 declaration", "<?xml version='1.0' encoding='ISO-8859-1'?>" + h, "unsupported-encoding"},
		{"declaration in the middle", h + "<message/><?xml version='1.0'?><message/>", "not-well-formed"},
		{"not xml", "GET / HTTP/1.1\r\n\r\n", "not-well-formed"},
		{"element before header", "<message/>", "not-well-formed"},
		{"header in wrong namespace", "<stream:stream xmlns:stream='jabber:client'>", "invalid-namespace"},
		{"end tag before header", "</stream:stream>", "not-well-formed"},
		{"digit name", h + "<1a/>", "not-well-formed"},
		{"two colons", h + "<a:b:c xmlns:a='u'/>", "not-well-formed"},
		{"xmlns prefix element", h + "<xmlns:a/>", "bad-namespace-prefix"},
		{"empty prefix binding", h + "<a xmlns:p=''/>", "bad-namespace-prefix"},
	}
	for _, tc := range tests {
		for _, rd := range readers[:2] {
			t.Run(tc.name+"/"+rd.name, func(t *testing.T) {
				toks, s, err := splitAll(t, rd.wrap(strings.NewReader(tc.in)), 0)
				var se *StreamError
				if !errors.As(err, &se) {
					t.Fatalf("err = %v after %d tokens, want a *StreamError %s", err, len(toks), tc.cond)
				}
				if se.Condition != tc.cond {
					t.Errorf("condition %q, want %q (%v)", se.Condition, tc.cond, err)
				}
				if _, err2 := s.Next(); err2 != err {
					t.Errorf("error is not sticky: %v then %v", err, err2)
				}
			})
		}
	}
}

// countingReader counts what was read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// endless is an element that never ends: <message><body>xxxx…
type endless struct{ sent bool }

func (e *endless) Read(p []byte) (int, error) {
	if !e.sent {
		e.sent = true
		return copy(p, serverHeader+"<message><body>"), nil
	}
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// TestSplitter_TooLarge_PolicyViolation: an element beyond max is refused
// without being read whole; one just under max passes.
func TestSplitter_TooLarge_PolicyViolation(t *testing.T) {
	const max = 64 << 10
	cr := &countingReader{r: &endless{}}
	_, _, err := splitAll(t, cr, max)
	var se *StreamError
	if !errors.As(err, &se) || se.Condition != "policy-violation" {
		t.Fatalf("err = %v, want policy-violation", err)
	}
	if cr.n > max+2*readChunk+len(serverHeader) {
		t.Errorf("read %d bytes for a %d-byte bound", cr.n, max)
	}

	body := strings.Repeat("y", max-len("<message><body></body></message>"))
	fits := serverHeader + "<message><body>" + body + "</body></message>"
	toks, _, err := splitAll(t, iotest.HalfReader(strings.NewReader(fits)), max)
	if err != nil || len(toks) != 2 || len(toks[1].Raw) != max {
		t.Fatalf("element of exactly max bytes: %v, %d tokens", err, len(toks))
	}
	_, _, err = splitAll(t, strings.NewReader(serverHeader+"<message><body>"+body+"y</body></message>"), max)
	if !errors.As(err, &se) || se.Condition != "policy-violation" {
		t.Fatalf("element of max+1 bytes: err = %v, want policy-violation", err)
	}
}

// TestSplitter_UnexpectedEOF: the input ending inside an element is an
// error wrapping io.ErrUnexpectedEOF; between elements it is io.EOF.
func TestSplitter_UnexpectedEOF(t *testing.T) {
	_, _, err := splitAll(t, strings.NewReader(serverHeader+"<message><bo"), 0)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("err = %v, want io.ErrUnexpectedEOF", err)
	}
	toks, _, err := splitAll(t, strings.NewReader(serverHeader+"<message/>"), 0)
	if err != nil || len(toks) != 2 {
		t.Errorf("clean EOF: %v, %d tokens", err, len(toks))
	}
}

// TestSplitter_ReadErrorResumes: a read error (a deadline) is returned,
// and the next call goes on where the input stopped.
func TestSplitter_ReadErrorResumes(t *testing.T) {
	errTimeout := errors.New("i/o timeout")
	in := serverHeader + "<message><body>hello</body></message>"
	r := io.MultiReader(strings.NewReader(in[:len(in)-10]), iotest.ErrReader(errTimeout))
	rest := strings.NewReader(in[len(in)-10:])
	s := NewSplitter(readerFunc(func(p []byte) (int, error) {
		if r != nil {
			n, err := r.Read(p)
			if err == errTimeout {
				r = nil
			}
			return n, err
		}
		return rest.Read(p)
	}), 0)
	if tok, err := s.Next(); err != nil || tok.Kind != TokenOpen {
		t.Fatalf("first: %v %v", tok.Kind, err)
	}
	if _, err := s.Next(); !errors.Is(err, errTimeout) {
		t.Fatalf("err = %v, want the read error", err)
	}
	tok, err := s.Next()
	if err != nil || string(tok.Raw) != "<message><body>hello</body></message>" {
		t.Fatalf("after the read error: %q %v", tok.Raw, err)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestSplitter_EmptyHeaderAndAfterClose: <stream:stream/> is an open and a
// close; after a close, Next returns io.EOF without reading.
func TestSplitter_EmptyHeaderAndAfterClose(t *testing.T) {
	s := NewSplitter(strings.NewReader("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client'/>garbage"), 0)
	var kinds []TokenKind
	for {
		tok, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, tok.Kind)
	}
	if !slices.Equal(kinds, []TokenKind{TokenOpen, TokenClose}) {
		t.Errorf("kinds %v", kinds)
	}
	if string(s.Buffered()) != "garbage" {
		t.Errorf("Buffered = %q", s.Buffered())
	}
}

// canon renders an element parsed by encoding/xml with namespaces
// resolved, declarations left out and attributes sorted: two elements
// with the same canon mean the same to an XMPP entity.
func canon(d *xml.Decoder, start xml.StartElement) (string, error) {
	var b strings.Builder
	var attrs []string
	for _, a := range start.Attr {
		if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
			continue
		}
		attrs = append(attrs, fmt.Sprintf("{%s}%s=%q", a.Name.Space, a.Name.Local, a.Value))
	}
	slices.Sort(attrs)
	fmt.Fprintf(&b, "<{%s}%s %s>", start.Name.Space, start.Name.Local, strings.Join(attrs, " "))
	for {
		tok, err := d.Token()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			c, err := canon(d, t)
			if err != nil {
				return "", err
			}
			b.WriteString(c)
		case xml.CharData:
			fmt.Fprintf(&b, "%q", t)
		case xml.EndElement:
			b.WriteString("</>")
			return b.String(), nil
		}
	}
}

// canonStandalone parses b as one standalone element.
func canonStandalone(b []byte) (string, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	for {
		tok, err := d.Token()
		if err != nil {
			return "", err
		}
		if se, ok := tok.(xml.StartElement); ok {
			c, err := canon(d, se)
			if err != nil {
				return "", err
			}
			for {
				tok, err := d.Token()
				if err == io.EOF {
					return c, nil
				}
				if err != nil {
					return "", err
				}
				if cd, ok := tok.(xml.CharData); !ok || len(bytes.TrimSpace(cd)) > 0 {
					return "", fmt.Errorf("trailing %T after the element", tok)
				}
			}
		}
	}
}

// canonInStream returns the canons of the top-level elements of an XMPP
// stream (restarts cut it into documents), as encoding/xml reads them in
// context.
func canonInStream(t *testing.T, in string) []string {
	t.Helper()
	var out []string
	docs := strings.Split(in, "<?xml version='1.0'?>")
	for _, doc := range docs {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		d := xml.NewDecoder(strings.NewReader(doc))
		d.Strict = true
		depth := 0
		for {
			tok, err := d.Token()
			if err != nil {
				break // the end of one document, or </stream:stream>
			}
			switch x := tok.(type) {
			case xml.StartElement:
				if depth == 0 {
					depth = 1
					continue
				}
				c, err := canon(d, x)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, c)
			case xml.EndElement:
				depth = 0
			}
		}
	}
	return out
}

// TestComplete_StandaloneSameMeaning_RFC7395: Complete makes each element
// parse standalone to exactly what it meant inside the stream, and is
// idempotent.
func TestComplete_StandaloneSameMeaning_RFC7395(t *testing.T) {
	s2s := "<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='a.example' version='1.0'>" +
		"<db:result from='a.example' to='b.example'>key</db:result><message from='x@a.example' to='y@b.example'><body>hi</body></message>"
	for _, in := range []string{stream(clientHeader, clientStanzas, false), stream(serverHeader, serverStanzas, false), s2s} {
		want := canonInStream(t, in)
		s := NewSplitter(strings.NewReader(in), 0)
		var got []string
		for {
			tok, err := s.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if tok.Kind != TokenElement {
				continue
			}
			full := s.Complete(tok)
			again := s.Complete(Token{Kind: TokenElement, Raw: full, scope: tok.scope})
			if !bytes.Equal(full, again) {
				t.Errorf("not idempotent:\n%s\n%s", full, again)
			}
			c, err := canonStandalone(full)
			if err != nil {
				t.Fatalf("Complete output %q does not parse: %v", full, err)
			}
			got = append(got, c)
		}
		if !slices.Equal(got, want) {
			t.Errorf("standalone:\n%s\nin stream:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// TestRoundTrip_TCPWebSocketTCP_RFC7395: a client's stream carried over
// WebSocket messages and turned back into a byte stream means the same.
func TestRoundTrip_TCPWebSocketTCP_RFC7395(t *testing.T) {
	in := stream(clientHeader, clientStanzas, true)
	s := NewSplitter(iotest.HalfReader(strings.NewReader(in)), 0)
	var out bytes.Buffer
	for {
		tok, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var msg []byte
		switch tok.Kind {
		case TokenOpen:
			msg = OpenFromHeader(tok.Header)
		case TokenElement:
			msg = s.Complete(tok)
		case TokenClose:
			msg = WSClose()
		case TokenSpace:
			continue // RFC 7395 messages carry elements only; WebSocket pings are the keepalive
		}
		back, err := ParseWSMessage(msg)
		if err != nil {
			t.Fatalf("ParseWSMessage(%q): %v", msg, err)
		}
		switch back.Kind {
		case TokenOpen:
			if *back.Header != (Header{To: tok.Header.To, Version: "1.0", Lang: "en"}) {
				t.Errorf("open header %+v from %+v", *back.Header, *tok.Header)
			}
			out.Write(HeaderFromOpen(back.Header, hacx.Client))
		case TokenElement:
			if back.Name != tok.Name {
				t.Errorf("name %v, want %v", back.Name, tok.Name)
			}
			out.Write(back.Raw)
		case TokenClose:
			out.WriteString("</stream:stream>")
		}
	}
	if got, want := canonInStream(t, out.String()), canonInStream(t, in); !slices.Equal(got, want) {
		t.Errorf("after the round trip:\n%s\nbefore:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// And the rebuilt stream is one the Splitter accepts.
	if _, _, err := splitAll(t, &out, 0); err != nil {
		t.Errorf("rebuilt stream: %v", err)
	}
}

// TestRoundTrip_TCPBOSHTCP_XEP0206: a server's stanzas carried in BOSH
// bodies and unwrapped again mean the same.
func TestRoundTrip_TCPBOSHTCP_XEP0206(t *testing.T) {
	in := stream(serverHeader, serverStanzas, false)
	s := NewSplitter(strings.NewReader(in), 0)
	var elems [][]byte
	var bodies [][]byte
	rid := uint64(100)
	for {
		tok, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if tok.Kind == TokenElement {
			elems = append(elems, s.Complete(tok))
		}
		if len(elems) == 2 || (tok.Kind == TokenOpen && len(elems) > 0) {
			rid++
			bodies = append(bodies, BOSHWrap("sid-1", rid, elems...))
			elems = nil
		}
	}
	bodies = append(bodies, BOSHWrap("sid-1", rid+1, elems...))
	var out strings.Builder
	out.WriteString(serverHeader)
	for _, b := range bodies {
		children, term, err := BOSHChildren(b)
		if err != nil || term != "" {
			t.Fatalf("BOSHChildren(%q): %v %q", b, err, term)
		}
		for _, c := range children {
			out.Write(c)
		}
	}
	want := canonInStream(t, in)
	if got := canonInStream(t, out.String()); !slices.Equal(got, want) {
		t.Errorf("after the round trip:\n%s\nbefore:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestParseWSMessage classifies RFC 7395 messages.
func TestParseWSMessage(t *testing.T) {
	tests := []struct {
		name, msg string
		kind      TokenKind
		elem      xml.Name
		header    *Header
		seeOther  string
		cond      string // stream error condition expected, if any
	}{
		{name: "server open", msg: string(WSServerOpen("example.com", "s1")), kind: TokenOpen, header: &Header{From: "example.com", ID: "s1", Version: "1.0", Lang: "en"}},
		{name: "close", msg: "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>", kind: TokenClose},
		{name: "close see-other-uri", msg: "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing' see-other-uri='wss://otherendpoint.example/xmpp-bind'/>", kind: TokenClose, seeOther: "wss://otherendpoint.example/xmpp-bind"},
		{name: "features", msg: wsFeatures, kind: TokenElement, elem: xml.Name{Space: NSStream, Local: "features"}},
		{name: "stream error", msg: string(WSStreamError("host-unknown", "")), kind: TokenElement, elem: xml.Name{Space: NSStream, Local: "error"}},
		{name: "message with declaration and space", msg: "<?xml version='1.0'?>\n<message xmlns='jabber:client'><body>a &lt; b</body></message>\n", kind: TokenElement, elem: xml.Name{Space: "jabber:client", Local: "message"}},
		{name: "two elements", msg: "<a xmlns='x'/><b xmlns='x'/>", cond: "not-well-formed"},
		{name: "empty", msg: "  ", cond: "not-well-formed"},
		{name: "unclosed", msg: "<message xmlns='jabber:client'>", cond: "not-well-formed"},
		{name: "comment", msg: "<message xmlns='jabber:client'><!--x--></message>", cond: "restricted-xml"},
		{name: "undeclared stream prefix", msg: "<stream:features/>", cond: "bad-namespace-prefix"},
		{name: "too large", msg: "<a>" + strings.Repeat("x", DefaultMaxElement+readChunk) + "</a>", cond: "policy-violation"},
		{name: "text after", msg: "<a xmlns='x'/>junk", cond: "bad-format"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := ParseWSMessage([]byte(tc.msg))
			if tc.cond != "" {
				var se *StreamError
				if !errors.As(err, &se) || se.Condition != tc.cond {
					t.Fatalf("err = %v, want condition %s", err, tc.cond)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tok.Kind != tc.kind || tok.SeeOtherURI != tc.seeOther {
				t.Errorf("kind %v see-other %q", tok.Kind, tok.SeeOtherURI)
			}
			if tc.kind == TokenElement && (tok.Name != tc.elem || !strings.Contains(tc.msg, string(tok.Raw)) || tok.Raw[0] != '<') {
				t.Errorf("element %v raw %q", tok.Name, tok.Raw)
			}
			if tc.header != nil && *tok.Header != *tc.header {
				t.Errorf("header %+v, want %+v", *tok.Header, *tc.header)
			}
		})
	}
}

// TestOpenHeaderConversions_RFC7395: <open/> and <stream:stream> say the
// same things.
func TestOpenHeaderConversions_RFC7395(t *testing.T) {
	h := &Header{To: "example.com", From: "a&b.example", ID: "x'y", Version: "1.0", Lang: "de"}
	open, err := ParseWSMessage(OpenFromHeader(h))
	if err != nil || open.Kind != TokenOpen || *open.Header != *h {
		t.Fatalf("OpenFromHeader round trip: %v %+v", err, open.Header)
	}
	for _, kind := range []hacx.Kind{hacx.Client, hacx.Server} {
		toks, _, err := splitAll(t, bytes.NewReader(HeaderFromOpen(h, kind)), 0)
		if err != nil || len(toks) != 1 || toks[0].Kind != TokenOpen {
			t.Fatalf("HeaderFromOpen: %v %d tokens", err, len(toks))
		}
		want := *h
		want.NS = kind.Namespace()
		if *toks[0].Header != want {
			t.Errorf("header %+v, want %+v", *toks[0].Header, want)
		}
	}
	if got := OpenFromHeader(&Header{}); !bytes.Contains(got, []byte("version='1.0'")) {
		t.Errorf("empty header: %s", got)
	}
}

// TestBOSHChildren_XEP0206: children come out namespace-complete, never in
// httpbind, and terminate bodies say so.
func TestBOSHChildren_XEP0206(t *testing.T) {
	prosodyLike := "<body xmlns='http://jabber.org/protocol/httpbind' xmlns:stream='http://etherx.jabber.org/streams' sid='s' xmlns:xmpp='urn:xmpp:xbosh'>" +
		"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>" +
		"<message xmlns='jabber:client' from='a@b'><body>hi</body></message>" +
		"<iq type='result' id='1'/>" +
		"</body>"
	children, term, err := BOSHChildren([]byte(prosodyLike))
	if err != nil || term != "" || len(children) != 3 {
		t.Fatalf("%v %q %d", err, term, len(children))
	}
	wantNames := []xml.Name{{Space: NSStream, Local: "features"}, {Space: "jabber:client", Local: "message"}, {Space: "jabber:client", Local: "iq"}}
	for i, c := range children {
		tok, err := ParseWSMessage(c) // a standalone element now
		if err != nil || tok.Name != wantNames[i] {
			t.Errorf("child %d %q: %v %v", i, c, tok.Name, err)
		}
		if bytes.Contains(c, []byte(NSHTTPBind)) || bytes.Contains(c, []byte(NSXBOSH)) {
			t.Errorf("child %d carries a BOSH declaration: %s", i, c)
		}
	}

	tests := []struct{ body, term string }{
		{string(BOSHTerminate("host-unknown")), "host-unknown"},
		{"<body type='terminate' xmlns='http://jabber.org/protocol/httpbind'/>", "terminate"},
		{"<body xmlns='http://jabber.org/protocol/httpbind' type='terminate' condition='remote-stream-error' xmlns:stream='http://etherx.jabber.org/streams'><stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></body>", "remote-stream-error"},
		{"<body xmlns='http://jabber.org/protocol/httpbind'/>", ""},
	}
	for _, tc := range tests {
		_, term, err := BOSHChildren([]byte(tc.body))
		if err != nil || term != tc.term {
			t.Errorf("BOSHChildren(%s) = %q, %v; want %q", tc.body, term, err, tc.term)
		}
	}

	for _, bad := range []string{
		"<body xmlns='urn:other'/>",
		"<body xmlns='http://jabber.org/protocol/httpbind'><message/>",
		"<body xmlns='http://jabber.org/protocol/httpbind'/><extra/>",
		"<body xmlns='http://jabber.org/protocol/httpbind'><!-- x --></body>",
		"<html><body>Not Found</body></html>",
	} {
		if _, _, err := BOSHChildren([]byte(bad)); err == nil {
			t.Errorf("BOSHChildren(%s) accepted", bad)
		}
	}
}

// TestBOSHWrapAndRestart_XEP0206 checks the request bodies a proxy sends.
func TestBOSHWrapAndRestart_XEP0206(t *testing.T) {
	m := []byte("<message xmlns='jabber:client' to='a@b'><body>x</body></message>")
	for _, b := range [][]byte{BOSHWrap("s&1", 7, m, m), BOSHWrapTerminate("s&1", 8, m)} {
		children, _, err := BOSHChildren(b)
		if err != nil || len(children) == 0 || !bytes.Equal(children[0], m) {
			t.Errorf("BOSHWrap body %s: %v %q", b, err, children)
		}
		root, err := boshBody(b)
		if err != nil || root.get("", "sid") != "s&1" || root.get("", "rid") == "" {
			t.Errorf("body attributes: %v %+v", err, root)
		}
	}
	if _, term, _ := BOSHChildren(BOSHWrapTerminate("s", 1)); term != "terminate" {
		t.Errorf("BOSHWrapTerminate is not a terminate body")
	}
	root, err := boshBody(BOSHRestart("s", 9, "example.com"))
	if err != nil || root.get(NSXBOSH, "restart") != "true" || root.get("", "to") != "example.com" || root.get("", "rid") != "9" {
		t.Errorf("BOSHRestart: %v %+v", err, root)
	}
	if empty := BOSHWrap("s", 3); !bytes.HasSuffix(empty, []byte("/>")) {
		t.Errorf("empty BOSHWrap: %s", empty)
	}
}

// TestSplitter_RestartResetsNamespaces_RFC6120Section4_3_3: after a
// restart only the new header's declarations are in scope, and Complete
// uses them.
func TestSplitter_RestartResetsNamespaces_RFC6120Section4_3_3(t *testing.T) {
	restart := "<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client' version='1.0'>"
	in := clientHeader + "<stream:features/>" + restart + "<s:features/><message/>"
	s := NewSplitter(iotest.OneByteReader(strings.NewReader(in)), 0)
	var opens int
	var completed []string
	for {
		tok, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch tok.Kind {
		case TokenOpen:
			opens++
		case TokenElement:
			completed = append(completed, string(s.Complete(tok)))
		}
	}
	want := []string{
		"<stream:features xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'/>",
		"<s:features xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client'/>",
		"<message xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client'/>",
	}
	if opens != 2 || !slices.Equal(completed, want) {
		t.Errorf("%d opens, completed:\n%q\nwant\n%q", opens, completed, want)
	}

	_, _, err := splitAll(t, strings.NewReader(clientHeader+restart+"<stream:features/>"), 0)
	var se *StreamError
	if !errors.As(err, &se) || se.Condition != "bad-namespace-prefix" {
		t.Errorf("old prefix after a restart: err = %v, want bad-namespace-prefix", err)
	}
}

// TestSplitter_OneByteReadsOfLargeElement: the scanner keeps its state
// between reads, so a large element delivered one byte per read costs
// linear time (a rescanning splitter would take minutes here).
func TestSplitter_OneByteReadsOfLargeElement(t *testing.T) {
	body := strings.Repeat("<b>x&amp;y</b>", (DefaultMaxElement-100)/14)
	in := serverHeader + "<message>" + body + "</message>"
	toks, _, err := splitAll(t, iotest.OneByteReader(strings.NewReader(in)), 0)
	if err != nil || len(toks) != 2 || len(toks[1].Raw) != len(in)-len(serverHeader) {
		t.Fatalf("%v, %d tokens", err, len(toks))
	}
}

// TestSplitter_RestartDeclaresItsOwnNamespaces_RFC6120Section4_3_3: a
// restart is a new stream (RFC 6120 section 4.3.3), so its header is
// recognised by what it declares itself, never by the declarations of
// the stream it replaces: a header whose stream prefix or stream default
// namespace is left undeclared is refused, not taken as a restart.
func TestSplitter_RestartDeclaresItsOwnNamespaces_RFC6120Section4_3_3(t *testing.T) {
	defaultHeader := "<stream xmlns='http://etherx.jabber.org/streams' version='1.0'>"
	tests := []struct {
		name, in, cond string
	}{
		{"prefix not declared", serverHeader + "<stream:stream xmlns='jabber:client' version='1.0'>", "bad-namespace-prefix"},
		{"prefix not declared after features", clientHeader + "<stream:features/><stream:stream to='example.com' xmlns='jabber:client'>", "bad-namespace-prefix"},
		{"prefix not declared, empty tag", serverHeader + "<stream:stream xmlns='jabber:client'/>", "bad-namespace-prefix"},
		{"default namespace not declared", defaultHeader + "<stream version='1.0'>", "invalid-namespace"},
	}
	for _, tc := range tests {
		for _, rd := range readers[:2] {
			t.Run(tc.name+"/"+rd.name, func(t *testing.T) {
				toks, _, err := splitAll(t, rd.wrap(strings.NewReader(tc.in)), 0)
				var se *StreamError
				if !errors.As(err, &se) || se.Condition != tc.cond {
					kinds := make([]TokenKind, len(toks))
					for i, tok := range toks {
						kinds[i] = tok.Kind
					}
					t.Fatalf("tokens %v, err = %v; want a %s stream error", kinds, err, tc.cond)
				}
				for i, tok := range toks {
					if (i == 0) != (tok.Kind == TokenOpen) {
						t.Errorf("token %d is %v: only the first header may be a TokenOpen", i, tok.Kind)
					}
				}
			})
		}
	}

	// A restart that declares what it uses is still a restart, prefixed
	// or with the stream namespace as its default.
	for _, in := range []string{
		serverHeader + "<stream:features/>" + serverRestart + "<stream:features/>",
		defaultHeader + "<stream xmlns='http://etherx.jabber.org/streams' version='1.0'/>",
	} {
		toks, _, err := splitAll(t, strings.NewReader(in), 0)
		var opens int
		for _, tok := range toks {
			if tok.Kind == TokenOpen {
				opens++
			}
		}
		if err != nil || opens != 2 {
			t.Errorf("%q: %d opens, err %v; want 2 opens", in, opens, err)
		}
	}
}

// TestSplitter_HeaderDeclarationsBounded: Complete copies the header's
// declarations into every relayed element, so a header stuffed with them
// (an amplifier: each tiny stanza would leave as a huge message) is
// refused, as is a header beyond MaxHeaderBytes; a real one passes.
func TestSplitter_HeaderDeclarationsBounded(t *testing.T) {
	var many strings.Builder
	for i := range 40 {
		fmt.Fprintf(&many, " xmlns:p%d='urn:example:namespace:number-%d'", i, i)
	}
	long := " id='" + strings.Repeat("x", MaxHeaderBytes) + "'"
	for name, extra := range map[string]string{"many declarations": many.String(), "long header": long} {
		in := "<stream:stream xmlns='jabber:client' xmlns:stream='" + NSStream + "'" + extra + " version='1.0'><a/>"
		_, _, err := splitAll(t, strings.NewReader(in), 0)
		var se *StreamError
		if !errors.As(err, &se) || se.Condition != "policy-violation" {
			t.Errorf("%s: err = %v, want policy-violation", name, err)
		}
	}
	toks, _, err := splitAll(t, strings.NewReader(serverHeader+"<a/>"), 0)
	if err != nil || len(toks) != 2 {
		t.Fatalf("ordinary header: %v, %d tokens", err, len(toks))
	}
}

// TestBOSHChildren_LargeBody: the bound on a stream header's size is the
// <body> start tag's, not the body's: a BOSH body far beyond
// MaxHeaderBytes carrying many stanzas is fine.
func TestBOSHChildren_LargeBody(t *testing.T) {
	var b strings.Builder
	b.WriteString("<body xmlns='" + NSHTTPBind + "' sid='s' rid='1'>")
	for i := range 200 {
		fmt.Fprintf(&b, "<message xmlns='jabber:client' to='a@example.test'><body>message %d %s</body></message>", i, strings.Repeat("x", 100))
	}
	b.WriteString("</body>")
	children, term, err := BOSHChildren([]byte(b.String()))
	if err != nil || term != "" || len(children) != 200 {
		t.Fatalf("%d-byte body: %d children, terminate %q, err %v", b.Len(), len(children), term, err)
	}
}

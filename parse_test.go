package hacx_test

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"hacx.dev/hacx"
)

// TestBrokenCorpus_OneErrorEach: every broken document gives exactly one
// error, naming the rule and the place (E2, E3, H6 and the attribute rules).
func TestBrokenCorpus_OneErrorEach(t *testing.T) {
	want := map[string]struct{ rule, text string }{
		"01-unclosed-websocket":     {"E3", "<websocket> (opened at 1:7) is still open"},
		"02-doctype":                {"H6", "entity declarations are not allowed"},
		"03-external-entity":        {"H6", "DOCTYPE"},
		"04-undefined-entity":       {"H6", "&xxe;"},
		"05-processing-instruction": {"H6", "<?xml-stylesheet?>"},
		"06-wrong-root":             {"", "root element is <xrd>, expected <hacx>"},
		"07-empty":                  {"", "document is empty"},
		"08-two-roots":              {"E3", "one root element"},
		"09-missing-ip":             {"A1", "missing required attribute ip"},
		"10-hostname-ip":            {"A1", "host names are not allowed"},
		"11-port-zero":              {"A2", `port "0"`},
		"12-port-too-big":           {"A2", `port "65536"`},
		"13-missing-priority":       {"A3", "missing required attribute priority"},
		"14-negative-weight":        {"A4", `weight "-1"`},
		"15-empty-sni":              {"A5", `sni="" cannot be sent`},
		"16-ip-sni":                 {"A5", "is an IP address"},
		"17-alpn-not-base64":        {"A6", `write alpn="eG1wcC1jbGllbnQ="`},
		"18-alpn-on-websocket":      {"A7", "alpn is not allowed on websocket"},
		"19-ws-http-url":            {"A8", "must use wss://"},
		"20-bosh-http-url":          {"A8", "must use https://"},
		"21-url-on-tls":             {"A8", "url is not allowed on tls"},
		"22-pin-bad-base64":         {"A9", "not valid base64"},
		"23-pin-wrong-length":       {"A9", "3 bytes, a sha-256 digest is 32"},
		"24-pin-only-weak":          {"A9", "no pin has a usable digest"},
		"25-ttl-negative":           {"H5", `ttl "-5"`},
		"26-ttl-not-number":         {"H5", `ttl "1h"`},
		"27-duplicate-attribute":    {"E3", `attribute "ip" given twice`},
		"28-too-deep":               {"H6", "nested deeper"},
		"29-mismatched-tag":         {"E3", "found </bosh> but <tls>"},
		"30-latin1":                 {"", "only UTF-8"},
		"31-late-xml-decl":          {"E3", "XML declaration"},
		"32-ipv6-zone":              {"A1", "has a zone"},
		"33-unicode-sni":            {"A5", "A-label"},
		"34-text-after-root":        {"E3", "text after </hacx>"},
		"35-empty-pin":              {"A9", "no digest"},
		"36-url-on-quic":            {"A8", "url is not allowed on quic"},
	}
	files, _ := filepath.Glob("testdata/broken/*.xml")
	if len(files) != len(want) {
		t.Fatalf("corpus has %d files, table %d", len(files), len(want))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".xml")
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("no expectation for %s", name)
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			probs := hacx.Lint(data)
			if len(probs) != 1 {
				t.Fatalf("want exactly one problem, got %d: %v", len(probs), probs)
			}
			p := probs[0]
			if p.Severity != hacx.Error || p.Rule != w.rule || !strings.Contains(p.Msg, w.text) {
				t.Errorf("got %s %q [%s], want error containing %q [%s]", p.Severity, p.Msg, p.Rule, w.text, w.rule)
			}
			if p.Line == 0 {
				t.Errorf("problem has no position: %v", p)
			}
			for _, bad := range []string{"xml:", "XML syntax error", "panic", "runtime"} {
				if strings.Contains(p.Msg, bad) {
					t.Errorf("message leaks a Go-internal string %q: %s", bad, p.Msg)
				}
			}
		})
	}
}

// TestDraftExample_E3: the draft's own example is ill-formed; the error says
// where and how to fix it, and the fixed version has 5 records.
func TestDraftExample_E3(t *testing.T) {
	data, err := os.ReadFile("testdata/draft-example.xml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = hacx.Parse(data)
	var se *hacx.SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("want *SyntaxError, got %v", err)
	}
	if se.Line != 10 || se.Rule != "E3" || !strings.Contains(se.Msg, "<bosh> (opened at 9:3) is still open") || !strings.Contains(se.Msg, "<bosh .../>") {
		t.Errorf("unhelpful error: %v", err)
	}

	fixed, err := os.ReadFile("testdata/valid/draft-example-fixed.xml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := hacx.Parse(fixed)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Records) != 5 || len(doc.Warnings) != 0 || doc.TTL != 3600 {
		t.Fatalf("fixed example: %d records, ttl %d, warnings %v", len(doc.Records), doc.TTL, doc.Warnings)
	}
	r := doc.Records[1]
	if r.IP != netip.MustParseAddr("2001:db8::10") || !r.HasSNI || r.SNI != "xmpp.example.org" || string(r.ALPN) != "xmpp-client" || len(r.Pins) != 1 || len(r.Pins[0].Digests) != 2 {
		t.Errorf("record 2 = %+v", r)
	}
	if ws := doc.Records[3]; ws.Method != hacx.MethodWebSocket || ws.URL != "wss://www.example.org/xmpp-websocket" || ws.ALPN != nil {
		t.Errorf("record 4 = %+v", ws)
	}
}

func TestParseRecord(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []hacx.Record // nil: every record dropped
		rule string        // rule of the expected error problem, if any
	}{
		{"A5 absent sni sends none", `<hacx><tls ip="192.0.2.1" port="1" priority="0"/></hacx>`,
			[]hacx.Record{{Method: "tls", IP: netip.MustParseAddr("192.0.2.1"), Port: 1}}, ""},
		{"A5 present sni kept exactly", `<hacx><tls ip="192.0.2.1" port="1" priority="0" sni="Front.Example.NET"/></hacx>`,
			[]hacx.Record{{Method: "tls", IP: netip.MustParseAddr("192.0.2.1"), Port: 1, SNI: "Front.Example.NET", HasSNI: true}}, ""},
		{"A5 sni with trailing dot", `<hacx><tls ip="192.0.2.1" port="1" priority="0" sni="a.example."/></hacx>`, nil, "A5"},
		{"A6 alpn decoded", `<hacx><tls ip="::1" port="5223" priority="3" weight="7" alpn="aDI="/></hacx>`,
			[]hacx.Record{{Method: "tls", IP: netip.MustParseAddr("::1"), Port: 5223, Priority: 3, Weight: 7, ALPN: []byte("h2")}}, ""},
		{"A6 empty alpn", `<hacx><tls ip="::1" port="5223" priority="3" alpn=""/></hacx>`, nil, "A6"},
		{"A6 alpn with embedded newline is not strict base64", "<hacx><tls ip=\"::1\" port=\"5223\" priority=\"3\" alpn=\"aD&#10;I=\"/></hacx>", nil, "A6"},
		{"A2 port with sign", `<hacx><tls ip="::1" port="+5" priority="3"/></hacx>`, nil, "A2"},
		{"A3 priority too big", `<hacx><tls ip="::1" port="5" priority="65536"/></hacx>`, nil, "A3"},
		{"A8 websocket without url", `<hacx><websocket ip="::1" port="5" priority="3"/></hacx>`, nil, "A8"},
		{"A8 url with credentials", `<hacx><bosh ip="::1" port="5" priority="3" url="https://u:p@a.example/b"/></hacx>`, nil, "A8"},
		{"A8 url with fragment", `<hacx><bosh ip="::1" port="5" priority="3" url="https://a.example/b#x"/></hacx>`, nil, "A8"},
		{"A8 bosh url kept", `<hacx><bosh ip="::1" port="5" priority="3" url="https://a.example:8443/b?c=d&amp;e"/></hacx>`,
			[]hacx.Record{{Method: "bosh", IP: netip.MustParseAddr("::1"), Port: 5, Priority: 3, URL: "https://a.example:8443/b?c=d&e"}}, ""},
		{"E2 one bad record, the rest survive", `<hacx><tls ip="::1" port="0" priority="1"/><tls ip="::2" port="2" priority="1"/></hacx>`,
			[]hacx.Record{{Method: "tls", IP: netip.MustParseAddr("::2"), Port: 2, Priority: 1}}, "A2"},
		{"A9 unknown hash kept beside a usable one", `<hacx><tls ip="::1" port="5" priority="3"><public-key-pin sha3-256="AAAA" SHA-256="47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="/></tls></hacx>`,
			[]hacx.Record{{Method: "tls", IP: netip.MustParseAddr("::1"), Port: 5, Priority: 3, Pins: []hacx.Pin{{Digests: []hacx.Digest{
				{Hash: "sha3-256", Value: []byte{0, 0, 0}},
				{Hash: "sha-256", Value: mustB64("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")},
			}}}}}, ""},
		{"A9 one weak pin among usable ones survives", `<hacx><tls ip="::1" port="5" priority="3"><public-key-pin md5="1B2M2Y8AsgTpgAmY7PhCfg=="/><public-key-pin sha-256="47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="/></tls></hacx>`,
			[]hacx.Record{{Method: "tls", IP: netip.MustParseAddr("::1"), Port: 5, Priority: 3, Pins: []hacx.Pin{
				{Digests: []hacx.Digest{{Hash: "md5", Value: mustB64("1B2M2Y8AsgTpgAmY7PhCfg==")}}},
				{Digests: []hacx.Digest{{Hash: "sha-256", Value: mustB64("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")}}},
			}}}, ""},
		{"E1 unknown element inside a record ignored", `<hacx><tls ip="::1" port="5" priority="3"><ech config="x"/></tls></hacx>`,
			[]hacx.Record{{Method: "tls", IP: netip.MustParseAddr("::1"), Port: 5, Priority: 3}}, ""},
		{"E1 namespaced record is an extension", `<hacx xmlns:f="urn:future"><f:tls ip="::1" port="5" priority="3"/></hacx>`, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := hacx.Parse([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(doc.Records, tt.want) {
				t.Errorf("records:\n got %+v\nwant %+v", doc.Records, tt.want)
			}
			var rule string
			for _, p := range doc.Warnings {
				if p.Severity == hacx.Error {
					rule = p.Rule
				}
			}
			if rule != tt.rule {
				t.Errorf("error rule = %q, want %q (warnings %v)", rule, tt.rule, doc.Warnings)
			}
		})
	}
}

func TestParse_TTL_H5(t *testing.T) {
	for in, want := range map[string]uint32{
		`<hacx/>`:                  hacx.DefaultTTL,
		`<hacx ttl="0"/>`:          0,
		`<hacx ttl="4294967295"/>`: 4294967295,
		`<hacx ttl="4294967296"/>`: hacx.DefaultTTL, // out of range: error, default used
		`<hacx ttl=" 5"/>`:         hacx.DefaultTTL,
	} {
		doc, err := hacx.Parse([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if doc.TTL != want {
			t.Errorf("%s: ttl %d, want %d", in, doc.TTL, want)
		}
	}
}

func TestParse_SizeLimit_H6(t *testing.T) {
	pad := bytes.Repeat([]byte(" "), hacx.MaxSize)
	_, err := hacx.Parse(append([]byte("<hacx/>"), pad...))
	var se *hacx.SyntaxError
	if !errors.As(err, &se) || se.Rule != "H6" {
		t.Fatalf("oversize document: %v", err)
	}
	if _, err := hacx.ParseReader(bytes.NewReader(append([]byte("<hacx/>"), pad...))); err == nil {
		t.Fatal("ParseReader accepted an oversize document")
	}
	if _, err := hacx.Parse(append([]byte("<hacx/>"), pad[:hacx.MaxSize-7]...)); err != nil {
		t.Fatalf("document of exactly MaxSize refused: %v", err)
	}
}

func TestParse_BOMAndComments(t *testing.T) {
	doc, err := hacx.Parse([]byte("\uFEFF<?xml version=\"1.0\"?><!-- c --><hacx><!-- c --><tls ip=\"::1\" port=\"1\" priority=\"0\"/></hacx><!-- end -->\n"))
	if err != nil || len(doc.Records) != 1 {
		t.Fatalf("doc %+v, err %v", doc, err)
	}
}

// TestRoundTrip_E1: Marshal then Parse gives the same model, extensions
// included, for every valid corpus document.
func TestRoundTrip_E1(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid/*.xml")
	if len(files) < 3 {
		t.Fatal("valid corpus missing")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := hacx.Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out, err := hacx.Marshal(doc)
		if err != nil {
			t.Fatalf("%s: marshal: %v", f, err)
		}
		again, err := hacx.Parse(out)
		if err != nil {
			t.Fatalf("%s: reparse: %v\n%s", f, err, out)
		}
		if !sameModel(doc, again) {
			t.Errorf("%s: round trip changed the document:\n%s", f, out)
		}
		out2, _ := hacx.Marshal(again)
		if !bytes.Equal(out, out2) {
			t.Errorf("%s: Marshal is not canonical:\n%s\n---\n%s", f, out, out2)
		}
	}
}

func TestMarshal_RefusesInvalid(t *testing.T) {
	ok := hacx.Record{Method: hacx.MethodTLS, IP: netip.MustParseAddr("192.0.2.1"), Port: 443}
	tests := []struct {
		name string
		mod  func(*hacx.Document)
		want string
	}{
		{"A2 port 0", func(d *hacx.Document) { d.Records[0].Port = 0 }, "[A2]"},
		{"A1 no ip", func(d *hacx.Document) { d.Records[0].IP = netip.Addr{} }, "[A1]"},
		{"A5 empty sni", func(d *hacx.Document) { d.Records[0].HasSNI = true }, "[A5]"},
		{"A7 alpn on bosh", func(d *hacx.Document) {
			d.Records[0].Method, d.Records[0].URL, d.Records[0].ALPN = hacx.MethodBOSH, "https://a.example/b", []byte("h2")
		}, "[A7]"},
		{"A9 short digest", func(d *hacx.Document) {
			d.Records[0].Pins = []hacx.Pin{{Digests: []hacx.Digest{{Hash: "sha-256", Value: []byte{1}}}}}
		}, "[A9]"},
		{"E1 starttls is not a document method", func(d *hacx.Document) { d.Records[0].Method = hacx.MethodStartTLS }, "[E1]"},
		{"E1 extension not an element", func(d *hacx.Document) { d.Extensions = [][]byte{[]byte("</hacx><x")} }, "extension 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &hacx.Document{TTL: 30, Records: []hacx.Record{ok}}
			tt.mod(d)
			_, err := hacx.Marshal(d)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestMarshal_EscapesAttributes(t *testing.T) {
	d := &hacx.Document{TTL: 1, Records: []hacx.Record{{Method: hacx.MethodWebSocket, IP: netip.MustParseAddr("::1"), Port: 1,
		URL: `wss://a.example/x?q="<&>'`}}}
	out, err := hacx.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	back, err := hacx.Parse(out)
	if err != nil || back.Records[0].URL != d.Records[0].URL {
		t.Fatalf("url did not survive: %v %+v\n%s", err, back, out)
	}
}

func TestLint_Advice(t *testing.T) {
	probs := hacx.Lint([]byte(`<hacx ttl="0"><tls ip="192.0.2.1" port="1" priority="0"/></hacx>`))
	var rules []string
	for _, p := range probs {
		if p.Severity != hacx.Warning {
			t.Errorf("advice must be a warning: %v", p)
		}
		rules = append(rules, p.Rule)
	}
	if !reflect.DeepEqual(rules, []string{"A1", "H5"}) {
		t.Errorf("rules = %v, want A1 (IPv4 only) and H5 (ttl=0)", rules)
	}
	if probs := hacx.Lint([]byte(`<hacx/>`)); len(probs) != 1 || probs[0].Rule != "E2" {
		t.Errorf("empty document: %v", probs)
	}
}

func sameModel(a, b *hacx.Document) bool {
	return a.TTL == b.TTL && reflect.DeepEqual(a.Records, b.Records) && reflect.DeepEqual(a.Extensions, b.Extensions)
}

func mustB64(s string) []byte {
	d, err := hacxB64(s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestParse_LostMarksWhatMarshalDrops(t *testing.T) {
	doc, err := hacx.Parse([]byte(`<hacx><tls ip="::1" port="1" priority="0" future="x"/><future a="b"/><tls ip="::1" port="1" priority="0"><public-key-pin md5="1B2M2Y8AsgTpgAmY7PhCfg==" sha-256="47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="/></tls></hacx>`))
	if err != nil {
		t.Fatal(err)
	}
	var lost, kept int
	for _, p := range doc.Warnings {
		if p.Lost {
			lost++
		} else {
			kept++
		}
	}
	if lost != 1 || kept != 2 {
		t.Errorf("lost %d kept %d, want 1 (unknown attribute) and 2 (extension, md5 digest): %v", lost, kept, doc.Warnings)
	}
}

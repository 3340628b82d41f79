package hostmeta

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const sampleXRD = `<?xml version='1.0' encoding='utf-8'?>
<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>
  <Subject>example.org</Subject>
  <Link rel="urn:xmpp:alt-connections:xbosh" href="https://web.example.org:5280/bosh"/>
  <Link rel="urn:xmpp:alt-connections:websocket" href="wss://web.example.org:443/ws"/>
  <Link rel="lrdd" type="application/xrd+xml" template="https://example.org/x?q={uri}"/>
  <Property type="http://example.org/p">ignored</Property>
</XRD>`

func TestParse_XEP0156Sample_X2(t *testing.T) {
	d, err := Parse([]byte(sampleXRD))
	if err != nil {
		t.Fatal(err)
	}
	if d.Subject != "example.org" || len(d.Links) != 3 {
		t.Fatalf("doc = %+v", d)
	}
	ws := d.LinksWith(RelWebSocket)
	if len(ws) != 1 || ws[0].Href != "wss://web.example.org:443/ws" {
		t.Errorf("websocket links = %v", ws)
	}
	if d.Links[2].Type != "application/xrd+xml" {
		t.Errorf("type = %q", d.Links[2].Type)
	}
}

func TestParse_RefusesUnsafeXML_H6(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"doctype", `<!DOCTYPE XRD><XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0"/>`, "DOCTYPE"},
		{"entity declaration", `<!DOCTYPE XRD [<!ENTITY x "y">]><XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0"/>`, "entity declarations are not allowed (H6)"},
		{"external entity", `<!DOCTYPE XRD [<!ENTITY x SYSTEM "file:///etc/passwd">]><XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0"><Subject>&x;</Subject></XRD>`, "entity declarations are not allowed (H6)"},
		{"entity use", `<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0"><Subject>&x;</Subject></XRD>`, "entity"},
		{"processing instruction", `<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0"><?evil?></XRD>`, "processing instruction"},
		{"too deep", `<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">` + strings.Repeat("<a>", 40) + strings.Repeat("</a>", 40) + `</XRD>`, "deep"},
		{"too big", `<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">` + strings.Repeat(" ", MaxSize) + `</XRD>`, "64 KiB"},
		{"wrong root", `<hacx/>`, "root element"},
		{"wrong namespace", `<XRD xmlns="urn:other"/>`, "root element"},
		{"ill-formed", `<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0"><Link>`, "line"},
		{"empty", ``, "no <XRD>"},
		{"two roots", `<XRD/><XRD/>`, "more than one root"},
		{"latin1", `<?xml version="1.0" encoding="ISO-8859-1"?><XRD/>`, "only UTF-8"},
		{"text outside the root", `<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0"/>x`, "text outside <XRD>"},
		{"attribute twice", `<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0"><Link rel="a" rel="b"/></XRD>`, `attribute "rel" given twice`},
		{"late declaration", `<!-- c --><?xml version="1.0"?><XRD/>`, "very first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			var se *SyntaxError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want *SyntaxError mentioning %q", err, tt.want)
			}
		})
	}
}

// TestParse_ErrorPosition_H6: an error says the line, and the offset in
// the input as given, a byte order mark included.
func TestParse_ErrorPosition_H6(t *testing.T) {
	in := "\uFEFF<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n  <Link rel='a'>\n</XRD>"
	_, err := Parse([]byte(in))
	var se *SyntaxError
	if !errors.As(err, &se) || se.Line != 3 || se.Offset != int64(len(in)) ||
		se.Msg != "found </XRD> but <Link> (opened at 2:3) is still open: close it with </Link> or write it as <Link .../>" {
		t.Fatalf("err = %#v", err)
	}
	d, err := Parse([]byte("\uFEFF" + sampleXRD[strings.Index(sampleXRD, "<XRD"):]))
	if err != nil || d.Subject != "example.org" {
		t.Fatalf("with a byte order mark: %+v, %v", d, err)
	}
}

// TestParse_SubjectDecoded_X2: the subject's references and CDATA are
// decoded, and text of elements nested inside it is not part of it.
func TestParse_SubjectDecoded_X2(t *testing.T) {
	d, err := Parse([]byte(`<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0"><Subject> a&amp;<x>no</x><![CDATA[&b]]>&#x2E;c </Subject></XRD>`))
	if err != nil || d.Subject != "a&&b.c" {
		t.Fatalf("subject %q, %v", d.Subject, err)
	}
}

func TestMarshal_XRDRoundTrip_X2(t *testing.T) {
	d := &Document{Subject: "a&b.example", Links: []Link{
		{Rel: RelWebSocket, Href: `wss://x.example/ws?a=1&b="2"`},
		{Rel: RelBOSH, Href: "https://x.example/bosh", Type: "text/xml"},
	}}
	out, err := Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, d) {
		t.Errorf("round trip:\n got %+v\nwant %+v\n%s", back, d, out)
	}
}

const sampleHM2 = `{
  "xmpp": {"ttl": 3000, "public-key-pins-sha-256": ["4/mggdlVx8A3pvHAWW5sD+qJyMtUHgiRuPjVC48N0XQ="]},
  "links": [
    {"rel": "urn:xmpp:alt-connections:websocket", "href": "wss://other.example.org/xmpp-websocket", "ips": ["192.0.2.1", "2001:db8::1"], "priority": 15, "weight": 50, "sni": "example.org", "ech": "AEX+DQ=="},
    {"rel": "urn:xmpp:alt-connections:tls", "sni": "example.org", "ips": ["192.0.2.1"], "port": 443, "priority": 10, "weight": 50, "unknown": {"x": [1, 2]}},
    {"rel": "urn:xmpp:alt-connections:s2s-tls", "ips": ["192.0.2.1"], "port": 5270}
  ]
}`

func TestParseJSON_HostMeta2_X3(t *testing.T) {
	d, err := ParseJSON([]byte(sampleHM2))
	if err != nil {
		t.Fatal(err)
	}
	if d.XMPP == nil || d.XMPP.TTL != 3000 || len(d.XMPP.PublicKeyPinsSHA256) != 1 {
		t.Fatalf("xmpp = %+v", d.XMPP)
	}
	want := Link{Rel: RelTLS, SNI: "example.org", IPs: []string{"192.0.2.1"}, Port: 443, Priority: 10, Weight: 50}
	if !reflect.DeepEqual(d.Links[1], want) {
		t.Errorf("tls link = %+v, want %+v", d.Links[1], want)
	}
	if d.Links[0].ECH != "AEX+DQ==" || len(d.Links[0].IPs) != 2 {
		t.Errorf("websocket link = %+v", d.Links[0])
	}
}

func TestParseJSON_Legacy_X2(t *testing.T) {
	d, err := ParseJSON([]byte(`{"links":[{"rel":"urn:xmpp:alt-connections:xbosh","href":"https://a.example/bosh"}]}`))
	if err != nil || d.XMPP != nil || len(d.LinksWith(RelBOSH)) != 1 {
		t.Fatalf("%+v %v", d, err)
	}
}

func TestParseJSON_Refuses_H6(t *testing.T) {
	tests := []struct{ name, in string }{
		{"port out of range", `{"links":[{"rel":"r","port":70000}]}`},
		{"negative ttl", `{"xmpp":{"ttl":-1},"links":[]}`},
		{"ips not strings", `{"links":[{"rel":"r","ips":[1]}]}`},
		{"trailing data", `{"links":[]} {}`},
		{"not json", `<XRD/>`},
		{"too deep", `{"links":[{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}]}`},
		{"too big", `{"subject":"` + strings.Repeat("a", MaxSize) + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseJSON([]byte(tt.in))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *SyntaxError", err)
			}
		})
	}
}

func TestMarshalJSON_RoundTrip_X3(t *testing.T) {
	for _, d := range []*Document{
		{Links: []Link{{Rel: RelWebSocket, Href: "wss://a.example/ws"}}},
		{XMPP: &XMPP{TTL: 300, PublicKeyPinsSHA256: []string{"AAAA"}}, Links: []Link{
			{Rel: RelTLS, Port: 5223, SNI: "a.example", IPs: []string{"192.0.2.1", "2001:db8::1"}},
			{Rel: RelWebSocket, Href: "wss://a.example/ws", Priority: 5, Weight: 10},
		}},
	} {
		out, err := MarshalJSON(d)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseJSON(out)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, d) {
			t.Errorf("round trip:\n got %+v\nwant %+v\n%s", back, d, out)
		}
	}
	out, _ := MarshalJSON(&Document{Links: []Link{{Rel: RelBOSH, Href: "https://a.example/b"}}})
	if strings.Contains(string(out), "priority") {
		t.Errorf("plain XEP-0156 link gained Host Meta 2 members:\n%s", out)
	}
}

// FuzzParseXRD: Parse never panics, refuses with a *SyntaxError, and
// whatever it accepts survives our own writer and reader unchanged (H6, X2).
func FuzzParseXRD(f *testing.F) {
	f.Add([]byte(sampleXRD))
	f.Add([]byte(`<!DOCTYPE x><XRD/>`))
	f.Add([]byte(`<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0"><Link rel="a" href="b"/></XRD>`))
	f.Add([]byte("\uFEFF<XRD><Subject>\r\n&#x9;a&amp;b<![CDATA[<]]></Subject><Link type='t&#xA;'/></XRD>\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error is not a *SyntaxError: %#v", err)
			}
			return
		}
		out, err := Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(out)
		if err != nil {
			if len(out) > MaxSize {
				return
			}
			t.Fatalf("re-parse of marshalled output: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, d) {
			t.Fatalf("round trip changed the document:\n got %+v\nwant %+v\n%s", back, d, out)
		}
	})
}

func FuzzParseJSON(f *testing.F) {
	f.Add([]byte(sampleHM2))
	f.Add([]byte(`{"links":[]}`))
	f.Add([]byte(`{"xmpp":{"ttl":1},"links":[{"rel":"x","port":1,"ips":["::1"]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseJSON(data)
		if err != nil {
			return
		}
		out, err := MarshalJSON(d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseJSON(out); err != nil && len(out) <= MaxSize {
			t.Fatalf("re-parse of marshalled output: %v\n%s", err, out)
		}
	})
}

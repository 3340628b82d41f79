package hacx_test

import (
	"bytes"
	"strings"
	"testing"

	"hacx.dev/hacx"
)

// TestQUICRecord_Q1: <quic> is read as a record with the attribute rules
// of <tls> (A1-A9), linted as an extension other clients skip (E1), and
// written back by Marshal.
func TestQUICRecord_Q1(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		records int
		rule    string // the rule of the error that drops the record, "" when kept
	}{
		{"kept", `<quic ip="::1" port="443" priority="0" sni="a.example" alpn="eG1wcC1jbGllbnQ="><public-key-pin sha-256="47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="/></quic>`, 1, ""},
		{"no sni, no alpn", `<quic ip="192.0.2.1" port="8443" priority="3" weight="7"/>`, 1, ""},
		{"missing port", `<quic ip="::1" priority="0"/>`, 0, "A2"},
		{"host name ip", `<quic ip="xmpp.example" port="443" priority="0"/>`, 0, "A1"},
		{"ip sni", `<quic ip="::1" port="443" priority="0" sni="192.0.2.1"/>`, 0, "A5"},
		{"empty alpn", `<quic ip="::1" port="443" priority="0" alpn=""/>`, 0, "A6"},
		{"url", `<quic ip="::1" port="443" priority="0" url="https://a.example/"/>`, 0, "A8"},
		{"weak pins only", `<quic ip="::1" port="443" priority="0"><public-key-pin md5="1B2M2Y8AsgTpgAmY7PhCfg=="/></quic>`, 0, "A9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := hacx.Parse([]byte("<hacx>" + tt.doc + "</hacx>"))
			if err != nil {
				t.Fatal(err)
			}
			if len(doc.Records) != tt.records || len(doc.Extensions) != 0 {
				t.Fatalf("records %v extensions %q, want %d records", doc.Records, doc.Extensions, tt.records)
			}
			var rule string
			var noted bool
			for _, p := range doc.Warnings {
				if p.Severity == hacx.Error && rule == "" {
					rule = p.Rule
				}
				noted = noted || p.Rule == "E1" && strings.Contains(p.Msg, "hacx extension (Q1)")
			}
			if rule != tt.rule {
				t.Errorf("error rule %q, want %q: %v", rule, tt.rule, doc.Warnings)
			}
			if tt.records == 0 {
				return
			}
			if r := doc.Records[0]; r.Method != hacx.MethodQUIC {
				t.Errorf("method %q", r.Method)
			}
			if !noted {
				t.Errorf("no E1 note for the extension: %v", doc.Warnings)
			}
			out, err := hacx.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(out, []byte("<quic ")) {
				t.Fatalf("Marshal dropped <quic>:\n%s", out)
			}
			again, err := hacx.Parse(out)
			if err != nil || len(again.Records) != 1 || again.Records[0].String() != doc.Records[0].String() {
				t.Errorf("round trip: %v %v", again, err)
			}
		})
	}
}

// TestQUICRecord_LintWarns_E1: lint tells the publisher that <quic> is an
// extension, located at the element, and nothing is lost by rewriting it.
func TestQUICRecord_LintWarns_E1(t *testing.T) {
	probs := hacx.Lint([]byte("<hacx>\n <tls ip='::1' port='443' priority='0'/>\n <tls ip='192.0.2.1' port='443' priority='0'/>\n <quic ip='::1' port='443' priority='0'/>\n</hacx>"))
	if len(probs) != 1 || probs[0].Line != 4 || probs[0].Method != "quic" || probs[0].Lost || probs[0].Severity != hacx.Warning {
		t.Fatalf("lint = %v", probs)
	}
	// A document of <quic> records only leaves clients of the draft out.
	probs = hacx.Lint([]byte("<hacx>\n <quic ip='::1' port='443' priority='0'/>\n <quic ip='192.0.2.1' port='443' priority='0'/>\n</hacx>"))
	var only bool
	for _, p := range probs {
		only = only || p.Line == 0 && strings.Contains(p.Msg, "every record is <quic>")
	}
	if len(probs) != 3 || !only {
		t.Fatalf("lint of a quic-only document = %v", probs)
	}
}

// TestQUICRecord_Route_Q1: a <quic> record becomes a quic route with the
// record's SNI, ALPN and pins.
func TestQUICRecord_Route_Q1(t *testing.T) {
	doc, err := hacx.Parse([]byte(`<hacx><quic ip="::1" port="853" priority="2" sni="x.example" alpn="eG1wcC1zZXJ2ZXI="/></hacx>`))
	if err != nil {
		t.Fatal(err)
	}
	rs := doc.Routes(hacx.SourceHACX)
	if len(rs) != 1 || rs[0].Method != hacx.MethodQUIC || rs[0].SNI != "x.example" || string(rs[0].ALPN) != "xmpp-server" || rs[0].Addr.Port() != 853 {
		t.Fatalf("routes = %+v", rs)
	}
}

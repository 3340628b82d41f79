package hacx_test

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"hacx.dev/hacx"
)

// echList is a one-entry ECHConfigList for public.example.org (X25519,
// HKDF-SHA256, AES-128-GCM), as "hacx ech keygen" prints one.
const echList = "AEX+DQBBTwAgACApepGaqc26CIgUABhgaNZWcV/y/SWo/AGM7nHBV7eDMgAEAAEAAQAScHVibGljLmV4YW1wbGUub3JnAAA="

// TestRecordECH_E4: the ech attribute of <tls>, <websocket> and <bosh> is a
// base64 ECHConfigList; it is decoded into Record.ECH, carried into the
// route and written back by Marshal; a value that is not base64, not an
// ECHConfigList or names no DNS public name drops the record with rule E4.
func TestRecordECH_E4(t *testing.T) {
	raw, _ := base64.StdEncoding.DecodeString(echList)
	// The same list with the public name replaced by an IPv4 literal of
	// the same length (18 bytes).
	ipName := base64.StdEncoding.EncodeToString(bytes.Replace(raw, []byte("public.example.org"), []byte("192.168.100.200.21"), 1))
	truncated := base64.StdEncoding.EncodeToString(raw[:len(raw)-3])
	tests := []struct {
		name, rec, rule string
	}{
		{"tls", `<tls ip="::1" port="443" priority="0" sni="a.example" ech="` + echList + `"/>`, ""},
		{"websocket", `<websocket ip="::1" port="443" priority="0" url="wss://a.example/ws" ech="` + echList + `"/>`, ""},
		{"bosh", `<bosh ip="::1" port="443" priority="0" url="https://a.example/bosh" ech="` + echList + `"/>`, ""},
		{"not base64", `<tls ip="::1" port="443" priority="0" ech="public.example.org"/>`, "E4"},
		{"empty", `<tls ip="::1" port="443" priority="0" ech=""/>`, "E4"},
		{"not a list", `<tls ip="::1" port="443" priority="0" ech="AAECAwQ="/>`, "E4"},
		{"truncated", `<tls ip="::1" port="443" priority="0" ech="` + truncated + `"/>`, "E4"},
		{"ip public name", `<tls ip="::1" port="443" priority="0" ech="` + ipName + `"/>`, "E4"},
		{"on quic", `<quic ip="::1" port="443" priority="0" ech="` + echList + `"/>`, "E4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := []byte("<hacx>" + tt.rec + "</hacx>")
			doc, err := hacx.Parse(src)
			if err != nil {
				t.Fatal(err)
			}
			var rule string
			for _, p := range hacx.Lint(src) {
				if p.Severity == hacx.Error && rule == "" {
					rule = p.Rule
				}
			}
			if rule != tt.rule {
				t.Fatalf("lint error rule %q, want %q: %v", rule, tt.rule, doc.Warnings)
			}
			if tt.rule != "" {
				if len(doc.Records) != 0 {
					t.Fatalf("invalid ech kept: %v", doc.Records)
				}
				return
			}
			if len(doc.Records) != 1 || !bytes.Equal(doc.Records[0].ECH, raw) {
				t.Fatalf("records %v", doc.Records)
			}
			if rt := doc.Routes(hacx.SourceHACX)[0]; !bytes.Equal(rt.ECH, raw) || rt.Report().ECH != echList {
				t.Fatalf("route %v report %+v", rt, rt.Report())
			}
			out, err := hacx.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(out), ` ech="`+echList+`"`) {
				t.Fatalf("Marshal dropped ech:\n%s", out)
			}
		})
	}
}

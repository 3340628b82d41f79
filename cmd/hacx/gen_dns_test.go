package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hacx.dev/hacx/ech"
)

// TestGenDNS_HTTPSRecordsWithECH_E4: gen --dns prints one RFC 9460 HTTPS
// record per URL host, port and ECHConfigList of the client records with
// ech, SvcParams in key order, and a comment for a tls record; a
// configuration without ech publishes nothing (exit 3).
func TestGenDNS_HTTPSRecordsWithECH_E4(t *testing.T) {
	k, err := ech.GenerateKey("front.example.org")
	if err != nil {
		t.Fatal(err)
	}
	list := base64.StdEncoding.EncodeToString(k.ConfigList())
	conf := `
[[domain]]
name = "example.org"
ttl = 300
[[domain.client]]
method = "websocket"
ip = "192.0.2.11"
port = 443
priority = 1
url = "wss://chat.example.org/ws"
ech = "` + list + `"
[[domain.client]]
method = "websocket"
ip = "2001:db8::11"
port = 443
priority = 1
url = "wss://chat.example.org/ws"
ech = "` + list + `"
[[domain.client]]
method = "bosh"
ip = "192.0.2.12"
port = 8443
priority = 2
url = "https://bosh.example.org/bosh"
ech = "` + list + `"
[[domain.client]]
method = "tls"
ip = "192.0.2.13"
port = 5223
priority = 3
ech = "` + list + `"
[[domain.client]]
method = "bosh"
ip = "192.0.2.14"
port = 443
priority = 4
url = "https://plain.example.org/bosh"
`
	dir := t.TempDir()
	path := filepath.Join(dir, "hacx.toml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, "", "gen", "--config", path, "--dns")
	if code != exitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	want := []string{
		`chat.example.org. 300 IN HTTPS 1 . ipv4hint=192.0.2.11 ech="` + list + `" ipv6hint=2001:db8::11`,
		`bosh.example.org. 300 IN HTTPS 1 . port=8443 ipv4hint=192.0.2.12 ech="` + list + `"`,
		`; example.org client record 4 (tls 192.0.2.13:5223): no SVCB mapping for XMPP; clients take ech from the HACX document`,
	}
	if got := strings.Split(strings.TrimSpace(out), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("gen --dns printed\n%s\nwant\n%s", out, strings.Join(want, "\n"))
	}

	plain := strings.ReplaceAll(conf, `ech = "`+list+`"`, "")
	if err := os.WriteFile(path, []byte(plain), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runCmd(t, "", "gen", "--config", path, "--dns"); code != exitNothing || out != "" {
		t.Errorf("without ech: exit %d, stdout %q", code, out)
	}
	if code, _, _ := runCmd(t, "", "gen", "--config", path, "--dns", "--out", dir); code != exitUsage {
		t.Errorf("--dns --out: exit %d", code)
	}
}

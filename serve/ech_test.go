package serve

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"hacx.dev/hacx"
	"hacx.dev/hacx/ech"
)

func echRecordTOML(ech string) string {
	return `
[[domain]]
name = "example.org"
[[domain.client]]
method = "tls"
ip = "127.0.0.1"
port = 443
priority = 1
ech = "` + ech + `"
`
}

// TestConfig_ECHRecord_E4: a configured record's ech is the base64
// ECHConfigList "hacx ech keygen" prints; it is published as the record's
// ech attribute, and a value that is not one is a configuration error.
func TestConfig_ECHRecord_E4(t *testing.T) {
	k, err := ech.GenerateKey("front.example.org")
	if err != nil {
		t.Fatal(err)
	}
	list := base64.StdEncoding.EncodeToString(k.ConfigList())
	cfg, err := ParseConfig([]byte(echRecordTOML(list)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	recs := cfg.Domains[0].Client.Records
	if len(recs) != 1 || !bytes.Equal(recs[0].ECH, k.ConfigList()) {
		t.Fatalf("records %v", recs)
	}
	out, err := hacx.Marshal(&hacx.Document{TTL: 60, Records: recs})
	if err != nil || !strings.Contains(string(out), ` ech="`+list+`"`) {
		t.Fatalf("published %s, %v", out, err)
	}
	for _, bad := range []string{"not base64!", "AAECAwQ="} {
		_, err := ParseConfig([]byte(echRecordTOML(bad)), t.TempDir())
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "E4") || !strings.Contains(err.Error(), "client[0].ech") {
			t.Errorf("ech %q: %v", bad, err)
		}
	}
}

// TestHostMeta_ECHCarried_E4: the Host Meta 2 links derived from records
// (P5) carry each record's ech, and records that differ only in ech stay
// separate links.
func TestHostMeta_ECHCarried_E4(t *testing.T) {
	k, _ := ech.GenerateKey("front.example.org")
	rec := hacx.Record{Method: hacx.MethodTLS, IP: netip.MustParseAddr("192.0.2.1"), Port: 443, ECH: k.ConfigList()}
	plain := rec
	plain.IP, plain.ECH = netip.MustParseAddr("192.0.2.2"), nil
	d := hostMeta([]hacx.Record{rec, plain}, nil, 60)
	if len(d.Links) != 2 || d.Links[0].ECH != base64.StdEncoding.EncodeToString(k.ConfigList()) || d.Links[1].ECH != "" {
		t.Fatalf("links %+v", d.Links)
	}
}

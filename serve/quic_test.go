package serve

import (
	"errors"
	"strings"
	"testing"

	"hacx.dev/hacx"
	"hacx.dev/hacx/hostmeta"
)

// TestConfig_QUICRecord_Q1: a configured quic record is published as the
// <quic> extension element and as Host Meta 2 quic / s2s-quic links (P5);
// like tls it has no url.
func TestConfig_QUICRecord_Q1(t *testing.T) {
	const conf = `
[[domain]]
name = "example.org"
[[domain.client]]
method = "quic"
ip = "192.0.2.1"
port = 443
priority = 1
sni = "xmpp.example.org"
alpn = "xmpp-client"
[[domain.server]]
method = "quic"
ip = "192.0.2.1"
port = 5270
priority = 1
`
	cfg, err := ParseConfig([]byte(conf), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	client, server := cfg.Domains[0].Client.Records, cfg.Domains[0].Server.Records
	if len(client) != 1 || client[0].Method != hacx.MethodQUIC || len(server) != 1 {
		t.Fatalf("records %v %v", client, server)
	}
	out, err := hacx.Marshal(&hacx.Document{TTL: 60, Records: client})
	if err != nil || !strings.Contains(string(out), `<quic ip="192.0.2.1" port="443" priority="1" weight="0" sni="xmpp.example.org" alpn="eG1wcC1jbGllbnQ="/>`) {
		t.Fatalf("published %s, %v", out, err)
	}
	d := hostMeta(client, server, 60)
	if len(d.Links) != 2 || d.Links[0].Rel != hostmeta.RelQUIC || d.Links[0].Port != 443 || d.Links[0].SNI != "xmpp.example.org" ||
		d.Links[1].Rel != hostmeta.RelS2SQUIC || d.Links[1].Port != 5270 {
		t.Fatalf("links %+v", d.Links)
	}
	_, err = ParseConfig([]byte(strings.Replace(conf, `sni = "xmpp.example.org"`, `url = "https://example.org/"`, 1)), t.TempDir())
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "quic records have no url") {
		t.Fatalf("url on quic: %v", err)
	}
}

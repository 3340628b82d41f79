package serve

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hacx.dev/hacx"
	"hacx.dev/hacx/hacxtest"
)

const goodTOML = `
[[domain]]
name = "Example.ORG."
ttl = 120

[[domain.client]]
method = "tls"
ip = "127.0.0.1"
port = 5223
priority = 10
weight = 5
sni = "xmpp.example.org"
alpn = "xmpp-client"

[[domain.client]]
method = "websocket"
ip = "::ffff:127.0.0.2"
port = 443
priority = 20
url = "wss://chat.example.org/ws"
`

func TestParseConfig_Good(t *testing.T) {
	cfg, err := ParseConfig([]byte(goodTOML), "")
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Domains[0]
	if d.Name != "example.org" {
		t.Errorf("name = %q, want lower case without trailing dot", d.Name)
	}
	if d.Client.TTL != 120 || len(d.Client.Records) != 2 {
		t.Fatalf("client = %+v", d.Client)
	}
	r := d.Client.Records[0]
	if string(r.ALPN) != "xmpp-client" || !r.HasSNI || r.SNI != "xmpp.example.org" || r.Weight != 5 {
		t.Errorf("record 1 = %v", r)
	}
	if ip := d.Client.Records[1].IP; !ip.Is4() {
		t.Errorf("IPv4-mapped ip not unmapped: %v", ip)
	}
}

// TestParseConfig_Errors checks that every problem is reported in operator
// terms at the line of the offending setting, also inside the second entry
// of an array of tables, where the TOML decoder itself knows no position.
func TestParseConfig_Errors(t *testing.T) {
	tests := []struct {
		name, toml string
		line       int
		want       string
	}{
		{"syntax_E3", "[[domain]]\nname = \"a.example\n", 2, "not valid TOML"},
		{"unknown key", "[[domain]]\nname = \"a.example\"\nredirect.client = \"https://b.example/x\"\nprotocol = 1\n", 4, "unknown setting"},
		{"no domains", "# nothing\n", 0, "no [[domain]]"},
		{"publishes nothing", "\n[[domain]]\nname = \"a.example\"\n", 2, "publishes nothing"},
		{"second record bad ip_A1", recs(`method="tls"
ip="127.0.0.1"
port=1
priority=1`, `method="tls"
ip="xmpp.example.org"
port=1
priority=1`), 10, "not an IPv4 or IPv6 address"},
		{"port range_A2", recs(`method="tls"
ip="127.0.0.1"
port=70000`), 6, "port must be 1 to 65535"},
		{"missing port_A2", recs(`method="tls"
ip="127.0.0.1"`), 3, "no port"},
		{"priority range_A3", recs(`method="tls"
ip="127.0.0.1"
port=1
priority=-1`), 7, "priority must be"},
		{"sni ip_A5", recs(`method="tls"
ip="127.0.0.1"
port=1
sni="127.0.0.1"`), 7, "sni must be a host name"},
		{"empty sni_A5", recs(`method="tls"
ip="127.0.0.1"
port=1
sni=""`), 7, "sni must be a host name"},
		{"alpn on websocket_A7", recs(`method="websocket"
ip="127.0.0.1"
port=1
url="wss://a.example/ws"
alpn="xmpp-client"`), 8, "only for tls"},
		{"alpn base64_A6", recs(`method="tls"
ip="127.0.0.1"
port=1
alpn="eG1wcC1jbGllbnQ="`), 7, "plain text"},
		{"ws url scheme", recs(`method="websocket"
ip="127.0.0.1"
port=1
url="https://a.example/ws"`), 7, "wss://"},
		{"bosh no url", recs(`method="bosh"
ip="127.0.0.1"
port=1`), 3, "needs a url"},
		{"unknown method", recs(`method="carrier-pigeon"
ip="127.0.0.1"
port=1`), 4, "unknown method"},
		{"bad pin_A9", recs(`method="tls"
ip="127.0.0.1"
port=1
pins=["sha-256=AAAA"]`), 7, "want 32"},
		{"weak pin_A9", recs(`method="tls"
ip="127.0.0.1"
port=1
pins=["sha-1=2jmj7l5rSw0yVb/vlWAYkK/YBwk="]`), 7, "too weak"},
		{"missing pin file_A9", recs(`method="tls"
ip="127.0.0.1"
port=1
pins=["no-such-file.pem"]`), 7, "neither a hash=base64 pin nor a readable PEM file"},
		{"redirect http_P1", "[[domain]]\nname=\"a.example\"\n[domain.redirect]\nclient=\"http://b.example/x.xml\"\n", 4, "https://"},
		{"wrong type", "[[domain]]\nname=\"a.example\"\nttl=\"300\"\n", 3, "wrong type"},
		{"negative ttl_H5", "[[domain]]\nname=\"a.example\"\nttl=-1\n[domain.redirect]\nclient=\"https://b.example/x\"\n", 3, "ttl must be"},
		{"variant host bits_P4", "[[domain]]\nname=\"a.example\"\n[domain.redirect]\nclient=\"https://b.example/x\"\n[[domain.variant]]\nname=\"v\"\ncidrs=[\"10.1.2.3/8\"]\n[[domain.variant.client]]\nmethod=\"tls\"\nip=\"127.0.0.1\"\nport=1\n", 7, "host bits"},
		{"duplicate domain", "[[domain]]\nname=\"a.example\"\n[domain.redirect]\nclient=\"https://b.example/x\"\n[[domain]]\nname=\"A.example\"\n[domain.redirect]\nclient=\"https://b.example/x\"\n", 6, "already configured at line 2"},
		{"hpkp without backup_P2", "[[domain]]\nname=\"a.example\"\n[domain.redirect]\nclient=\"https://b.example/x\"\n[domain.hpkp]\nmax-age=60\npins=[\"sha-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\", \"sha-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"]\n", 7, "at least two different pins"},
		{"hpkp no max-age_P2", "[[domain]]\nname=\"a.example\"\n[domain.redirect]\nclient=\"https://b.example/x\"\n[domain.hpkp]\npins=[\"sha-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\", \"sha-256=E9CZ9INDbd+2eRQozYqqbQ2yXLVKB9+xcprMF+44U1g=\"]\n", 5, "max-age"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.toml), t.TempDir())
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *ConfigError", err)
			}
			for _, p := range ce.Problems {
				if strings.Contains(p.Msg, tt.want) {
					if p.Line != tt.line {
						t.Errorf("problem %q at line %d, want line %d", p, p.Line, tt.line)
					}
					return
				}
			}
			t.Errorf("no problem mentions %q; got:\n%v", tt.want, err)
		})
	}
}

// recs builds a one-domain config whose [[domain.client]] tables hold the
// given bodies; the first record table header is on line 3, its first
// key on line 4.
func recs(bodies ...string) string {
	s := "[[domain]]\nname = \"a.example\"\n"
	for _, b := range bodies {
		s += "[[domain.client]]\n" + b + "\n"
	}
	return s
}

func TestParseConfig_PinFromPEMFile_A9(t *testing.T) {
	ca, err := hacxtest.NewCAWithIntermediate("pins")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("xmpp.example.org")
	if err != nil {
		t.Fatal(err)
	}
	chain, _, err := hacxtest.CertPEM(cert)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "chain.pem"), chain, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig([]byte(recs(`method="tls"
ip="127.0.0.1"
port=1
pins=["chain.pem"]`)), dir)
	if err != nil {
		t.Fatal(err)
	}
	pins := cfg.Domains[0].Client.Records[0].Pins
	if len(pins) != 1 {
		t.Fatalf("got %d pins, want 1 (the leaf only)", len(pins))
	}
	if !pins[0].MatchesCert(cert.Leaf) {
		t.Error("pin from the chain file does not match the leaf")
	}
	want, _ := hacx.NewPin(cert.Leaf)
	if pins[0].String() != want.String() {
		t.Errorf("pin = %s, want %s", pins[0], want)
	}
}

func TestParseConfig_HPKPWithBackup_P2(t *testing.T) {
	cfg, err := ParseConfig([]byte("[[domain]]\nname=\"a.example\"\n[domain.redirect]\nclient=\"https://b.example/x\"\n[domain.hpkp]\nmax-age=60\ninclude-subdomains=true\npins=[\"sha-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\", \"sha-256=E9CZ9INDbd+2eRQozYqqbQ2yXLVKB9+xcprMF+44U1g=\"]\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if h := cfg.Domains[0].HPKP; h == nil || len(h.PinsSHA256) != 2 || !h.IncludeSubDomains {
		t.Fatalf("hpkp = %+v", h)
	}
}

// TestHandlerLoad_RefusesHPKPWithoutBackup_P2: a Config built in Go is
// checked again, not only the TOML path.
func TestHandlerLoad_RefusesHPKPWithoutBackup_P2(t *testing.T) {
	pin := make([]byte, 32)
	cfg := &Config{Domains: []Domain{{
		Name:   "a.example",
		Client: Publication{Redirect: "https://b.example/x"},
		HPKP:   &HPKP{PinsSHA256: [][]byte{pin, pin}, MaxAge: 3600e9},
	}}}
	if _, err := NewHandler(cfg); err == nil || !strings.Contains(err.Error(), "backup pin") {
		t.Fatalf("err = %v, want backup pin refusal", err)
	}
}

func FuzzConfig(f *testing.F) {
	f.Add([]byte(goodTOML))
	if b, err := os.ReadFile("../examples/hacx.toml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("[[domain]]\nname=\"a\"\n[[domain.variant]]\ncidrs=[\"::/0\"]\n[[domain.variant.client]]\nip=\"::\"\nport=1\nmethod=\"bosh\"\nurl=\"https://x\"\n"))
	f.Add([]byte("a = [\n 1,\n 2]\nb = '''\nx = 1\n'''\n[[x.y]]\n[x]\n"))
	f.Add([]byte("[[domain]]\nname=\"a\"\n[[domain.server]]\nip=\"::1\"\nport=443\npriority=0\nmethod=\"quic\"\nalpn=\"xmpp-server\"\n")) // Q1
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data, "")
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("error %v is not a *ConfigError with problems", err)
			}
			return
		}
		// A configuration that validates must also render.
		if _, err := NewHandler(cfg); err != nil {
			t.Fatalf("valid config does not load: %v", err)
		}
	})
}

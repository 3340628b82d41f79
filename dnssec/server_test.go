package dnssec_test

import (
	"strings"
	"testing"

	"hacx.dev/hacx/dnssec"
)

func TestParseServer(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want dnssec.Server
	}{
		{"192.0.2.53", dnssec.Server{Proto: dnssec.Plain, Addr: "192.0.2.53:53"}},
		{"127.0.0.1:5353", dnssec.Server{Proto: dnssec.Plain, Addr: "127.0.0.1:5353"}},
		{"::1", dnssec.Server{Proto: dnssec.Plain, Addr: "[::1]:53"}},
		{"[::1]:5353", dnssec.Server{Proto: dnssec.Plain, Addr: "[::1]:5353"}},
		{"tcp://192.0.2.53", dnssec.Server{Proto: dnssec.TCP, Addr: "192.0.2.53:53"}},
		{"tls://dns.example", dnssec.Server{Proto: dnssec.TLS, Addr: "dns.example:853", Host: "dns.example"}},
		{"tls://9.9.9.9:8853", dnssec.Server{Proto: dnssec.TLS, Addr: "9.9.9.9:8853", Host: "9.9.9.9"}},
		{"https://1.1.1.1/dns-query", dnssec.Server{Proto: dnssec.HTTPS, Addr: "1.1.1.1:443", Host: "1.1.1.1", URL: "https://1.1.1.1/dns-query"}},
		{"https://DNS.example:8443", dnssec.Server{Proto: dnssec.HTTPS, Addr: "DNS.example:8443", Host: "dns.example", URL: "https://DNS.example:8443/dns-query"}},
		{"https://dns.example/q{?dns}", dnssec.Server{Proto: dnssec.HTTPS, Addr: "dns.example:443", Host: "dns.example", URL: "https://dns.example/q", GET: true}},
	} {
		got, err := dnssec.ParseServer(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("%q: %+v, %v; want %+v", tt.in, got, err, tt.want)
			continue
		}
		if again, err := dnssec.ParseServer(got.String()); err != nil || again != got {
			t.Errorf("%q: String %q reads back as %+v, %v", tt.in, got.String(), again, err)
		}
	}
	for _, bad := range []string{"", "dns.example", "dns.example:53", "127.0.0.1:0", "127.0.0.1:99999",
		"udp://127.0.0.1", "tcp://dns.example", "tls://", "tls://a/path", "https://user:pw@dns.example/",
		"tls://dns.example{?dns}", "https://bad_host!/", "ftp://x"} {
		if _, err := dnssec.ParseServer(bad); err == nil {
			t.Errorf("%q accepted", bad)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("%q: error shows the password: %v", bad, err)
		}
	}
}

func FuzzParseServer(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "[::1]:53", "tls://dns.example:853", "https://dns.example/dns-query{?dns}", "tcp://10.0.0.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := dnssec.ParseServer(s)
		if err != nil {
			return
		}
		again, err := dnssec.ParseServer(got.String())
		if err != nil || again != got {
			t.Fatalf("%q parsed as %+v, whose String %q reads back as %+v, %v", s, got, got.String(), again, err)
		}
	})
}

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hacx.dev/hacx/internal/loopback"
)

// TestNetFlags_UnusableResolverRefused: a --resolver value hacx cannot
// ask is bad usage (exit 2) in every command sharing the network flags,
// before anything runs, so that no query goes anywhere the user did not
// choose. The context is cancelled beforehand: a command that accepted
// the value could neither reach the network nor keep running.
func TestNetFlags_UnusableResolverRefused(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	bad := map[string]string{
		"udp://127.0.0.1:53":        `scheme "udp"`,
		"tls://":                    "no host",
		"https://u:p@127.0.0.1/dns": "credentials are not supported",
		"tcp://dns.example":         `"dns.example" is not an IP address`,
		"foo":                       "want IP[:PORT]",
		"dns.example:53":            `"dns.example" is not an IP address`,
		"127.0.0.1:99999":           `port "99999" is not 1-65535`,
		"127.0.0.1:0":               `port "0" is not 1-65535`,
		"127.0.0.1:":                `port "" is not 1-65535`,
	}
	for _, cmd := range [][]string{
		{"lookup", "example.test"},
		{"check", "example.test"},
		{"proxy", "--listen", "127.0.0.1:0"},
	} {
		for v, want := range bad {
			t.Run(cmd[0]+" "+v, func(t *testing.T) {
				args := append([]string{cmd[0], "--resolver", v, "--socks", "none", "--no-cache", "--state-dir", t.TempDir()}, cmd[1:]...)
				var out, errb bytes.Buffer
				code := run(ctx, args, &stdio{in: strings.NewReader(""), out: &out, err: &errb})
				if code != exitUsage || out.Len() != 0 {
					t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2", code, out.String(), errb.String())
				}
				if msg := errb.String(); !strings.Contains(msg, "-resolver") || !strings.Contains(msg, want) {
					t.Errorf("stderr %q: want the flag named and %q", msg, want)
				}
			})
		}
	}
}

func TestParseResolver(t *testing.T) {
	for in, want := range map[string]string{
		"":                "",
		"127.0.0.1":       "127.0.0.1:53",
		"127.0.0.1:5353":  "127.0.0.1:5353",
		"::1":             "[::1]:53",
		"[::1]:5353":      "[::1]:5353",
		"127.000.0.1:53x": "error",
	} {
		got, err := parseResolver(in)
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("parseResolver(%q) = %q (%v), want %q", in, got, err, want)
		}
	}
}

// TestLookup_ResolverErrorNamesThatServer: with --resolver, a failed
// lookup of the publisher's address names the server asked, not the
// system resolver from /etc/resolv.conf, which was never asked.
func TestLookup_ResolverErrorNamesThatServer(t *testing.T) {
	dead, err := loopback.RefusedAddr("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	server := dead.String()
	code, out, errs := runCmd(t, "", "lookup", "--resolver", server, "--socks", "none", "--no-cache", "--state-dir", t.TempDir(), "--fallback", "never", "example.test")
	if code != exitFail {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, out, errs)
	}
	want := "DNS AAAA/A example.test at " + server
	if !strings.Contains(out, want) || !strings.Contains(errs, want) {
		t.Errorf("want %q in the source listed and in the error\nstdout: %s\nstderr: %s", want, out, errs)
	}
	if strings.Contains(out+errs, "lookup example.test on ") {
		t.Errorf("an error names another resolver (\"lookup NAME on SERVER\"):\nstdout: %s\nstderr: %s", out, errs)
	}
}

func TestParseNetResolver(t *testing.T) {
	for in, want := range map[string]string{
		"":                                  "",
		"none":                              "none",
		"127.0.0.1":                         "127.0.0.1:53",
		"[::1]:5353":                        "[::1]:5353",
		"tcp://127.0.0.1":                   "tcp://127.0.0.1:53",
		"tls://dns.example":                 "tls://dns.example:853",
		"https://1.1.1.1/dns-query":         "https://1.1.1.1/dns-query",
		"https://dns.example/q{?dns}":       "https://dns.example/q{?dns}",
		"https://dns.example":               "https://dns.example/dns-query",
		"dns.example":                       "error",
		"tls://dns.example/path":            "error",
		"https://user:secret@dns.example/q": "error",
	} {
		got, err := parseNetResolver(in)
		if err != nil {
			got = "error"
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("parseNetResolver(%q): error shows the password: %v", in, err)
			}
		}
		if got != want {
			t.Errorf("parseNetResolver(%q) = %q (%v), want %q", in, got, err, want)
		}
	}
}

// TestNetFlags_DNSSECAndTrustAnchorRefused: a --dnssec mode or
// --trust-anchor file hacx cannot use is bad usage, before anything runs.
func TestNetFlags_DNSSECAndTrustAnchorRefused(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	notAnchor := filepath.Join(dir, "a.txt")
	if err := os.WriteFile(notAnchor, []byte("example. IN A 192.0.2.1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--dnssec", "maybe"}, "want validate, resolver or off"},
		{[]string{"--trust-anchor", filepath.Join(dir, "missing")}, "no such file"},
		{[]string{"--trust-anchor", notAnchor}, "is not a trust anchor"},
	} {
		for _, cmd := range []string{"lookup", "check"} {
			args := append(append([]string{cmd}, tt.args...), "--socks", "none", "--no-cache", "--state-dir", dir, "example.test")
			var out, errb bytes.Buffer
			code := run(ctx, args, &stdio{in: strings.NewReader(""), out: &out, err: &errb})
			if code != exitUsage || !strings.Contains(errb.String(), tt.want) {
				t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", args, code, errb.String(), tt.want)
			}
		}
	}
}

package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/xmppstream"
)

func TestProxy_Usage(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o600)
	tests := []struct {
		name string
		args []string
		out  string
	}{
		{"all interfaces", []string{"--listen", ":5222"}, "not a loopback address"},
		{"any IPv4", []string{"--listen", "0.0.0.0:5222"}, "--allow-remote"},
		{"any IPv6", []string{"--listen", "[::]:5222"}, "--allow-remote"},
		{"s2s on a LAN address", []string{"--listen-s2s", "192.0.2.1:5269"}, "--allow-remote"},
		{"host name", []string{"--listen", "xmpp.example:5222"}, "not a host name"},
		{"no port", []string{"--listen", "127.0.0.1"}, "missing port"},
		{"cert without key", []string{"--tls-cert", junk}, "go together"},
		{"required without cert", []string{"--tls-required"}, "needs --tls-cert"},
		{"unreadable cert", []string{"--tls-cert", junk, "--tls-key", junk}, "--tls-cert/--tls-key"},
		{"max-conns 0", []string{"--max-conns", "0"}, "must be positive"},
		{"argument", []string{"example.org"}, "unexpected argument"},
		{"metrics on all interfaces", []string{"--metrics", ":9090"}, "--metrics :9090 is not a loopback address"},
		{"metrics on a LAN address", []string{"--metrics", "192.0.2.1:9090"}, "add --allow-remote"},
		{"metrics on any IPv6", []string{"--metrics", "[::]:9090"}, "not a loopback address"},
		{"metrics host name", []string{"--metrics", "metrics.example:9090"}, "--metrics: listen address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := runCmd(t, "", append([]string{"proxy"}, tt.args...)...)
			if code != exitUsage || !strings.Contains(errs, tt.out) {
				t.Errorf("exit %d, want 2 with %q; stderr: %s", code, tt.out, errs)
			}
		})
	}
}

func TestProxy_HelpDocumentsBehaviour(t *testing.T) {
	code, out, _ := runCmd(t, "", "help", "proxy")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"--allow-remote", "--listen-s2s", "--tls-cert", "STARTTLS", "remote-connection-failed", "-PLUS", "hacx_proxy_bytes_total", "Exit status", "--idle-timeout", "negative"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

// TestProxy_RunDiscoveryFailsThenSignal: the command serves; a client for
// a domain that publishes nothing reachable gets remote-connection-failed;
// metrics count it; the signal ends the command with exit 0.
func TestProxy_RunDiscoveryFailsThenSignal(t *testing.T) {
	refused, err := loopback.RefusedAddr(refusedIP)
	if err != nil {
		t.Fatal(err)
	}
	testDialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, refused.String()) // every web server is down
	}
	defer func() { testDialContext = nil }()
	dnsSrv, err := testbed.NewDNSServer() // empty zone: no SRV either
	if err != nil {
		t.Fatal(err)
	}
	defer dnsSrv.Close()
	dir := t.TempDir()
	addr, metrics := freeLoopbackAddr(t), freeLoopbackAddr(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var stderr testbed.SyncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"proxy", "--listen", addr, "--allow-remote", "--metrics", metrics,
			"--resolver", dnsSrv.Addr, "--no-cache", "--state-dir", dir, "--socks", "none", "--timeout", "10s"},
			&stdio{in: strings.NewReader(""), out: io.Discard, err: &stderr})
	}()
	waitListening(t, addr, exited, &stderr)
	if strings.Contains(stderr.String(), "open relay") {
		t.Errorf("warned about a loopback listener: %s", stderr.String())
	}

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	xmppstream.WriteOpen(c, "nothing.test", hacx.Client)
	sp := xmppstream.NewSplitter(c, 0)
	var errEl []byte
	for errEl == nil {
		tok, err := sp.Next()
		if err != nil {
			t.Fatalf("no stream error: %v\n%s", err, stderr.String())
		}
		if tok.Kind == xmppstream.TokenElement {
			errEl = tok.Raw
		}
	}
	if !strings.Contains(string(errEl), "remote-connection-failed") || !strings.Contains(string(errEl), "nothing.test") {
		t.Errorf("stream error %s", errEl)
	}

	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `hacx_proxy_upstream_failures_total{kind="client"} 1`) {
		t.Errorf("metrics:\n%s", body)
	}

	stop()
	select {
	case code := <-exited:
		if code != exitOK {
			t.Errorf("exit %d after the signal, want 0: %s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("hacx proxy did not shut down")
	}
	for _, want := range []string{"proxy: listening", "domain=nothing.test", "outcome=remote-connection-failed", "proxy: shutting down"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, stderr.String())
		}
	}
}

// TestProxy_PortTaken: a listener that cannot be opened is a failure (1).
func TestProxy_PortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, _, errs := runCmd(t, "", "proxy", "--listen", ln.Addr().String(), "--no-cache", "--state-dir", t.TempDir(), "--socks", "none")
	if code != exitFail || !strings.Contains(errs, "address already in use") {
		t.Errorf("exit %d, stderr %s", code, errs)
	}
}

// TestProxy_MetricsRemoteAllowed: with --allow-remote a non-loopback
// --metrics address passes the check like --listen. 192.0.2.1
// (TEST-NET-1) is no address of this machine, so opening it fails: exit 1
// with the listen error, not the usage error, and nothing leaves loopback.
func TestProxy_MetricsRemoteAllowed(t *testing.T) {
	code, _, errs := runCmd(t, "", "proxy", "--listen", freeLoopbackAddr(t), "--metrics", "192.0.2.1:9090", "--allow-remote",
		"--no-cache", "--state-dir", t.TempDir(), "--socks", "none")
	if code != exitFail || !strings.Contains(errs, "hacx proxy: --metrics: ") || strings.Contains(errs, "not a loopback address") {
		t.Errorf("exit %d, stderr %s; want 1 from opening the address", code, errs)
	}
}

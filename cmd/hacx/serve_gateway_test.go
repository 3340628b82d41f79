package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"hacx.dev/hacx"
	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/serve"
	"hacx.dev/hacx/xmppstream"
)

// TestServeGateway_CheckConfig: --check-config covers the gateway: the
// example configurations load and say where each domain goes, the quick
// mode needs upstreams for --domain and public IPs to derive documents,
// and every mistake is bad input (exit 2) with its line.
func TestServeGateway_CheckConfig(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte(`[gateway]
public-ips = ["192.0.2.1", "gateway.example"]
handshake-timeout = "soon"
[gateway.idle-timeout]
c2s = "never"

[[domain]]
name = "example.org"
[domain.upstream]
c2s = "127.0.0.1"
http = "http://127.0.0.1:5280/base"
bosh-path = "/.well-known/bosh"
ca-file = "missing.pem"
`), 0o644)
	noIPs := filepath.Join(dir, "noips.toml")
	os.WriteFile(noIPs, []byte("[[domain]]\nname = \"example.org\"\n[domain.upstream]\nc2s = \"127.0.0.1:5222\"\n"), 0o644)
	for _, tt := range []struct {
		name string
		args []string
		code int
		out  []string // each in stdout+stderr
	}{
		{"prosody example", []string{"--config", "../../examples/hacx-gateway.toml"}, exitOK,
			[]string{"configuration OK: 1 domain", "example.org: c2s 127.0.0.1:5222, websocket http://127.0.0.1:5280/xmpp-websocket, bosh http://127.0.0.1:5280/http-bind"}},
		{"ejabberd example", []string{"--config", "../../examples/hacx-gateway-ejabberd.toml"}, exitOK,
			[]string{"websocket http://127.0.0.1:5280/ws, bosh http://127.0.0.1:5280/bosh (PROXY protocol v2)"}},
		{"quick mode", []string{"--domain", "example.org", "--c2s", "tls://127.0.0.1:5223", "--s2s", "127.0.0.1:5269", "--public-ip", "192.0.2.10"}, exitOK,
			[]string{"example.org: c2s tls://127.0.0.1:5223, s2s 127.0.0.1:5269"}},
		{"quick mode with a document", []string{"--doc", "example.org=../../testdata/valid/draft-example-fixed.xml", "--c2s", "127.0.0.1:5222"}, exitOK,
			[]string{"example.org: c2s 127.0.0.1:5222"}},
		{"bad gateway settings, by line", []string{"--config", bad}, exitUsage, []string{
			`line 2: gateway.public-ips: entry 2: "gateway.example" is not an IPv4 or IPv6 address`,
			`line 3: gateway.handshake-timeout: "soon" is not a positive duration`,
			`line 10: domain[0].upstream.c2s: "127.0.0.1" is not host:port`,
			`line 11: domain[0].upstream.http:`,
			`line 12: domain[0].upstream.bosh-path:`,
			`line 13: domain[0].upstream.ca-file: ca-file verifies tls:// and https:// upstreams, and there is none`,
		}},
		{"upstream without public ips", []string{"--config", noIPs}, exitUsage, []string{"set public-ips in [gateway]"}},
		{"domain without upstream", []string{"--domain", "example.org"}, exitUsage, []string{"give --c2s, --s2s or --http-upstream"}},
		{"domain without public ip", []string{"--domain", "example.org", "--c2s", "127.0.0.1:5222"}, exitUsage, []string{"--public-ip"}},
		{"upstream flags with config", []string{"--config", "../../examples/hacx.toml", "--c2s", "127.0.0.1:5222"}, exitUsage, []string{"[domain.upstream]"}},
		{"bad upstream", []string{"--domain", "example.org", "--c2s", "localhost", "--public-ip", "192.0.2.1"}, exitUsage, []string{`"localhost" is not host:port`}},
		{"bad public ip", []string{"--domain", "example.org", "--c2s", "127.0.0.1:5222", "--public-ip", "example.org"}, exitUsage, []string{"--public-ip"}},
		{"a JID as domain", []string{"--domain", "alice@example.org", "--c2s", "127.0.0.1:5222"}, exitUsage, []string{"example.org"}},
		{"proxy protocol alone", []string{"--doc", "example.org=../../testdata/valid/draft-example-fixed.xml", "--proxy-protocol"}, exitUsage, []string{"--proxy-protocol"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCmd(t, "", append([]string{"serve", "--check-config"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errs)
			}
			for _, want := range tt.out {
				if !strings.Contains(out+errs, want) {
					t.Errorf("output lacks %q\nstdout: %s\nstderr: %s", want, out, errs)
				}
			}
		})
	}
}

// TestServe_PrometheusGatewayMetrics: each gateway connection is counted
// by listener, route and outcome, its bytes by route and direction, and
// upstream errors and handshake failures on their own.
func TestServe_PrometheusGatewayMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newServeMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.Connection(&serve.ConnInfo{Listener: "https", Route: "c2s", In: 1000, Out: 2000, Duration: 3 * time.Second, Outcome: serve.OutcomeClosed})
	m.Connection(&serve.ConnInfo{Listener: "https", Route: "websocket", Outcome: serve.OutcomeUpstreamFailed})
	m.Connection(&serve.ConnInfo{Listener: "xmpps", Outcome: serve.OutcomeHandshakeTimeout})
	m.Connection(&serve.ConnInfo{Listener: "https", Outcome: serve.OutcomeLimit})
	got := gather(t, reg)
	for _, want := range []string{
		`hacx_serve_gateway_connections_total{listener="https",outcome="closed",route="c2s"} 1`,
		`hacx_serve_gateway_connections_total{listener="https",outcome="limit",route=""} 1`,
		`hacx_serve_gateway_bytes_total{direction="in",route="c2s"} 1000`,
		`hacx_serve_gateway_bytes_total{direction="out",route="c2s"} 2000`,
		`hacx_serve_gateway_upstream_errors_total{route="websocket"} 1`,
		`hacx_serve_gateway_handshake_failures_total{listener="xmpps",reason="timeout"} 1`,
		`hacx_serve_gateway_connection_duration_seconds_count{route="c2s"} 1`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(got, `hacx_serve_gateway_connection_duration_seconds_count{route=""} 2`) {
		t.Errorf("a refused connection was timed:\n%s", got)
	}
}

// gatewayRun is a "hacx serve" gateway started by a test.
type gatewayRun struct {
	addr, xmpps string // HTTPS (ALPN routed) and direct-TLS listeners
	stderr      *testbed.SyncBuffer
	exited      chan int
	stop        context.CancelFunc
}

// startGatewayCmd runs "hacx serve" with args, listening on ip (HTTPS and
// direct TLS on ports of its own; --listen and --xmpps-listen are added),
// until the test ends.
func startGatewayCmd(t *testing.T, ctx context.Context, ip string, args ...string) *gatewayRun {
	t.Helper()
	g := &gatewayRun{addr: freeAddrOn(t, ip), xmpps: freeAddrOn(t, ip), stderr: new(testbed.SyncBuffer), exited: make(chan int, 1)}
	ctx, g.stop = context.WithCancel(ctx)
	args = append([]string{"serve", "--listen", g.addr, "--xmpps-listen", g.xmpps, "--http-listen", "", "--poll", "0"}, args...)
	go func() {
		g.exited <- run(ctx, args, &stdio{in: strings.NewReader(""), out: io.Discard, err: g.stderr})
	}()
	waitListening(t, g.xmpps, g.exited, g.stderr) // bound after the HTTPS listener
	t.Cleanup(func() {
		g.stop()
		select {
		case code := <-g.exited:
			if code != exitOK {
				t.Errorf("hacx serve exit %d after the signal, want 0\n%s", code, g.stderr)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("hacx serve did not shut down")
		}
	})
	return g
}

// freeAddrOn returns ip with a port that was free on it.
func freeAddrOn(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// exampleConfig is an examples/ configuration with its documentation
// addresses replaced: the domain, upstream addresses, public IPs.
func exampleConfig(t *testing.T, name string, replace map[string]string) string {
	t.Helper()
	data, err := os.ReadFile("../../examples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for from, to := range replace {
		if !strings.Contains(s, from) {
			t.Fatalf("examples/%s no longer says %q", name, from)
		}
		s = strings.ReplaceAll(s, from, to)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkAllThroughGateway runs "hacx check --all --json" as a user would,
// the HACX document fetched from the gateway (standing in for the domain's
// port 443), and wants every route of the derived document working: direct
// TLS with ALPN on the HTTPS port and on the direct-TLS port, WebSocket
// and BOSH on the HTTPS port, each with a verified stream from domain.
func checkAllThroughGateway(t *testing.T, ctx context.Context, g *gatewayRun, caFile, domain string) {
	t.Helper()
	testDialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, g.addr)
	}
	t.Cleanup(func() { testDialContext = nil })
	dnsSrv, err := testbed.NewDNSServer() // empty: no SRV, no TLSA
	if err != nil {
		t.Fatal(err)
	}
	defer dnsSrv.Close()
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"check", "--all", "--json", "--ca-file", caFile, "--resolver", dnsSrv.Addr,
		"--no-cache", "--state-dir", dir, "--socks", "none", domain}, &stdio{in: strings.NewReader(""), out: &out, err: &errb})
	var rep checkReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("exit %d, --json does not parse: %v\n%s\nstderr: %s", code, err, out.String(), errb.String())
	}
	port := netip.MustParseAddrPort(g.addr).Port()
	xport := netip.MustParseAddrPort(g.xmpps).Port()
	var got []string
	for i, a := range rep.Attempts {
		r := rep.Routes[a.Route-1]
		got = append(got, fmt.Sprintf("%s:%d ok=%t from=%s", r.Method, r.Port, a.OK, a.StreamFrom))
		if !a.OK {
			t.Errorf("attempt %d (%s %s:%d) failed: %+v", i+1, r.Method, r.IP, r.Port, a)
		}
	}
	want := []string{
		fmt.Sprintf("tls:%d ok=true from=%s", port, domain),
		fmt.Sprintf("tls:%d ok=true from=%s", xport, domain),
		fmt.Sprintf("websocket:%d ok=true from=%s", port, domain),
		fmt.Sprintf("bosh:%d ok=true from=%s", port, domain),
	}
	if code != exitOK || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("hacx check --all: exit %d, attempts:\n%s\nwant:\n%s\n%s\ngateway log:\n%s", code, strings.Join(got, "\n"), strings.Join(want, "\n"), out.String(), g.stderr)
	}
}

// sendThroughGateway has go-sendxmpp, over direct TLS to addr (the
// gateway's HTTPS port or its direct-TLS port), log in as alice and send
// text to bob; the client checks the gateway's certificate against the
// test CA in caFile.
func sendThroughGateway(t *testing.T, ctx context.Context, addr, caFile, domain, text string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "go-sendxmpp", "-t", "-u", "alice@"+domain, "-p", "secret-alice",
		"-j", addr, "--timeout", "30", "bob@"+domain)
	cmd.Stdin = strings.NewReader(text)
	// Go programs read extra roots from SSL_CERT_FILE; no configuration
	// file of the user's is read from the empty HOME.
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "SSL_CERT_FILE="+caFile)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go-sendxmpp through %s: %v\n%s", addr, err, out)
	}
}

// waitLog waits until the gateway's log has a line matching re.
func waitLog(t *testing.T, g *gatewayRun, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if m := rx.FindString(g.stderr.String()); m != "" {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line matching %s:\n%s", re, g.stderr)
		}
		time.Sleep(20 * time.Millisecond) // polling the log
	}
}

// featuresThrough opens a c2s stream through the gateway at addr and
// returns the names of the features the server offers on it.
func featuresThrough(t *testing.T, addr, caFile, domain string) []string {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tlsDial(addr, domain, newPool(t, pem), "xmpp-client")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if err := xmppstream.WriteOpen(c, domain, hacx.Client); err != nil {
		t.Fatal(err)
	}
	_, features, err := xmppstream.ReadOpen(c, domain, hacx.Client)
	if err != nil {
		t.Fatal(err)
	}
	return xmppstream.FeatureNames(features)
}

// streamErrorFrom opens a c2s stream through the gateway at addr and
// returns the stream error condition it gets, "" for none.
func streamErrorFrom(t *testing.T, addr, caFile, domain string) string {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := newPool(t, pem)
	c, err := tlsDial(addr, domain, roots, "xmpp-client")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if err := xmppstream.WriteOpen(c, domain, hacx.Client); err != nil {
		t.Fatal(err)
	}
	_, _, err = xmppstream.ReadOpen(c, domain, hacx.Client)
	var se *xmppstream.StreamError
	if asStreamError(err, &se) {
		return se.Condition
	}
	if err != nil {
		t.Fatalf("neither a stream nor a stream error: %v", err)
	}
	return ""
}

func newPool(t *testing.T, pem []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in the CA file")
	}
	return p
}

func tlsDial(addr, domain string, roots *x509.CertPool, alpn string) (*tls.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	return tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: domain, RootCAs: roots, NextProtos: []string{alpn}})
}

func asStreamError(err error, se **xmppstream.StreamError) bool { return errors.As(err, se) }

func regexpQuote(s string) string { return regexp.QuoteMeta(s) }

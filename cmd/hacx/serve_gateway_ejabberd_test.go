package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/internal/testenv"
)

// TestServeGateway_Ejabberd (G1-G3): a real ejabberd with the listeners
// of examples/ejabberd/hacx-gateway.yml (plain c2s with
// use_proxy_protocol, plain HTTP with /ws and /bosh) behind "hacx serve"
// run with examples/hacx-gateway-ejabberd.toml. "hacx check --all" finds
// every derived route working on the gateway's ports, go-sendxmpp
// delivers a message through it, and ejabberd logs the client's own
// address, which only the PROXY protocol header told it.
func TestServeGateway_Ejabberd(t *testing.T) {
	testenv.Require(t, testbed.EjabberdAvailable())
	_, lerr := exec.LookPath("go-sendxmpp")
	testenv.Require(t, lerr)
	const domain = "gwejabberd.test"
	ca, cert := testCert(t, "gateway-ejabberd", domain)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	snippet, err := os.ReadFile("../../examples/ejabberd/hacx-gateway.yml")
	if err != nil {
		t.Fatal(err)
	}
	e, err := testbed.StartEjabberd(ctx, testbed.EjabberdConfig{Domain: domain, IP: "127.0.0.43", Cert: cert, GatewaySnippet: string(snippet)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	errs := make(chan error, 2)
	for _, u := range []string{"alice", "bob"} {
		go func() { errs <- e.Register(ctx, u, "secret-"+u) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := writeCert(t, dir, domain, cert)
	const gwIP = "127.0.0.44"
	cfg := exampleConfig(t, "hacx-gateway-ejabberd.toml", map[string]string{
		`name = "example.org"`:                        fmt.Sprintf("name = %q", domain),
		`c2s = "127.0.0.1:5222"`:                      fmt.Sprintf("c2s = %q", e.PlainC2SAddr),
		`http = "http://127.0.0.1:5280"`:              fmt.Sprintf("http = \"http://%s\"", e.HTTPAddr),
		`public-ips = ["192.0.2.10", "2001:db8::10"]`: fmt.Sprintf("public-ips = [%q]", gwIP),
	})
	g := startGatewayCmd(t, ctx, gwIP, "--config", cfg, "--cert", certFile, "--key", keyFile)
	checkAllThroughGateway(t, ctx, g, caFile, domain)

	// The PROXY header: a client from an address of its own, which
	// ejabberd can only learn from the header (the gateway connects to it
	// from 127.0.0.1).
	const clientIP = "127.0.0.45"
	d := &dial.Dialer{Roots: ca.Pool(), TLSA: dial.NoDANE, Memory: dial.NoMemory,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(clientIP)}}
			return nd.DialContext(ctx, network, addr)
		}}
	gw := netip.MustParseAddrPort(g.addr)
	route := hacx.Record{Method: hacx.MethodTLS, IP: gw.Addr(), Port: gw.Port(), SNI: domain, HasSNI: true, ALPN: []byte("xmpp-client")}
	conn, err := d.DialRoutes(ctx, domain, hacx.Client, []hacx.Route{route.Route(hacx.SourceHACX, 1)})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(e.Log(), clientIP); {
		if time.Now().After(deadline) {
			t.Fatalf("ejabberd never logged the client's address %s (PROXY protocol)\nejabberd log:\n%s", clientIP, e.Log())
		}
		time.Sleep(50 * time.Millisecond) // polling ejabberd's log
	}

	text := fmt.Sprintf("hello bob, through hacx serve to ejabberd, %d", time.Now().UnixNano())
	sendThroughGateway(t, ctx, g.addr, caFile, domain, text)
	for end := time.Now().Add(15 * time.Second); ; {
		n, err := e.OfflineCount(ctx, "bob")
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("bob has %d offline messages, want 1\ngateway log:\n%s\nejabberd log:\n%s", n, g.stderr, e.Log())
		}
	}
	waitLog(t, g, `route=c2s .*outcome=closed`)
}

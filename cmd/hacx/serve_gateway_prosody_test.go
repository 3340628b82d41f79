package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/internal/testenv"
)

// TestServeGateway_Prosody (G1-G3): a real Prosody, set up with
// examples/prosody/hacx-gateway.cfg.lua and mod_hacx_gateway.lua, behind
// "hacx serve" run with examples/hacx-gateway.toml. "hacx check --all"
// finds direct TLS (ALPN xmpp-client), WebSocket and BOSH on the same
// port, and direct TLS on the XMPPS port, each with a verified stream
// from the domain; go-sendxmpp delivers a message over direct TLS through
// either port. Then the same Prosody through its own direct-TLS port
// (tls://, verified, no module needed), and with Prosody gone: a stream
// error, not a hang.
func TestServeGateway_Prosody(t *testing.T) {
	testenv.Require(t, testbed.ProsodyAvailable())
	_, lerr := exec.LookPath("go-sendxmpp")
	testenv.Require(t, lerr)
	const domain = "gwprosody.test"
	ca, cert := testCert(t, "gateway-prosody", domain)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	snippet, err := os.ReadFile("../../examples/prosody/hacx-gateway.cfg.lua")
	if err != nil {
		t.Fatal(err)
	}
	p, err := testbed.StartProsody(ctx, testbed.ProsodyConfig{
		Domain: domain, IP: "127.0.0.41", Cert: cert,
		GatewaySnippet: string(snippet),
		PluginFiles:    []string{"../../examples/prosody/mod_hacx_gateway.lua"},
		Modules:        []string{"hacx_gateway"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, u := range []string{"alice", "bob"} {
		if err := p.Register(ctx, u, "secret-"+u); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := writeCert(t, dir, domain, cert)
	const gwIP = "127.0.0.42"

	t.Run("plain upstream with the module", func(t *testing.T) {
		cfg := exampleConfig(t, "hacx-gateway.toml", map[string]string{
			`name = "example.org"`:                        fmt.Sprintf("name = %q", domain),
			`c2s = "127.0.0.1:5222"`:                      fmt.Sprintf("c2s = %q", p.StartTLSAddr),
			`http = "http://127.0.0.1:5280"`:              fmt.Sprintf("http = \"http://%s\"", p.HTTPAddr),
			`public-ips = ["192.0.2.10", "2001:db8::10"]`: fmt.Sprintf("public-ips = [%q]", gwIP),
		})
		g := startGatewayCmd(t, ctx, gwIP, "--config", cfg, "--cert", certFile, "--key", keyFile)
		// The module at work: the stream from the gateway is secure, so
		// Prosody offers SASL at once and no STARTTLS (which a client
		// would otherwise run inside the gateway's TLS).
		features := strings.Join(featuresThrough(t, g.addr, caFile, domain), " ")
		if strings.Contains(features, "starttls") || !strings.Contains(features, "PLAIN") {
			t.Fatalf("features through the gateway: %s; want SASL PLAIN and no STARTTLS\nprosody log:\n%s", features, p.Log())
		}
		checkAllThroughGateway(t, ctx, g, caFile, domain)
		for _, addr := range []string{g.addr, g.xmpps} {
			text := fmt.Sprintf("hello bob, through hacx serve at %s, %d", addr, time.Now().UnixNano())
			sendThroughGateway(t, ctx, addr, caFile, domain, text)
			waitStored(t, p, text, g)
		}
		waitLog(t, g, `route=c2s .*upstream=`+regexpQuote(p.StartTLSAddr.String())+`.* outcome=closed`)
	})

	t.Run("tls upstream, verified", func(t *testing.T) {
		g := startGatewayCmd(t, ctx, gwIP, "--domain", domain, "--c2s", "tls://"+p.TLSAddr.String(),
			"--upstream-ca-file", caFile, "--http-upstream", "http://"+p.HTTPAddr.String(),
			"--public-ip", gwIP, "--cert", certFile, "--key", keyFile)
		checkAllThroughGateway(t, ctx, g, caFile, domain)
		text := fmt.Sprintf("hello bob, re-encrypted by hacx serve, %d", time.Now().UnixNano())
		sendThroughGateway(t, ctx, g.addr, caFile, domain, text)
		waitStored(t, p, text, g)
	})

	t.Run("quic only, through hacx proxy", func(t *testing.T) {
		// Q1, G1: the gateway takes XMPP over QUIC on UDP at its --listen
		// address; a client's only route is that QUIC one, and go-sendxmpp,
		// which knows no QUIC, gets there through hacx proxy.
		g := startGatewayCmd(t, ctx, gwIP, "--domain", domain, "--c2s", p.StartTLSAddr.String(),
			"--public-ip", gwIP, "--quic", "--cert", certFile, "--key", keyFile)
		gw := netip.MustParseAddrPort(g.addr)
		doc := publishClientDoc(t, cert, domain)
		doc.Store(fmt.Sprintf(`<hacx ttl="60"><quic ip="%s" port="%d" priority="1" weight="0" sni="%s"/></hacx>`+"\n", gw.Addr(), gw.Port(), domain))
		dnsSrv, err := testbed.NewDNSServer()
		if err != nil {
			t.Fatal(err)
		}
		defer dnsSrv.Close()

		var out, errb strings.Builder
		code := run(ctx, []string{"check", "--json", "--ca-file", caFile, "--resolver", dnsSrv.Addr, "--dnssec", "off",
			"--no-cache", "--state-dir", dir, "--socks", "none", domain}, &stdio{in: strings.NewReader(""), out: &out, err: &errb})
		if code != exitOK || !strings.Contains(out.String(), `"method": "quic"`) {
			t.Fatalf("hacx check over QUIC: exit %d\n%s\n%s\ngateway log:\n%s", code, out.String(), errb.String(), g.stderr)
		}

		px := startCLIProxy(t, ctx, ca, dnsSrv.Addr)
		text := fmt.Sprintf("hello bob, over QUIC through hacx proxy and hacx serve, %d", time.Now().UnixNano())
		cmd := exec.CommandContext(ctx, "go-sendxmpp", "-u", "alice@"+domain, "-p", "secret-alice",
			"-j", px.addr, "-n", "--timeout", "30", "bob@"+domain)
		cmd.Stdin = strings.NewReader(text)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go-sendxmpp: %v\n%s\nproxy log:\n%s\ngateway log:\n%s", err, b, px.stderr.String(), g.stderr)
		}
		waitStored(t, p, text, g)
		for end := time.Now().Add(15 * time.Second); !strings.Contains(px.stderr.String(), "method=quic ") && time.Now().Before(end); {
			time.Sleep(20 * time.Millisecond) // polling the log
		}
		if !strings.Contains(px.stderr.String(), "method=quic ") {
			t.Errorf("the proxy logged no connection over QUIC:\n%s", px.stderr.String())
		}
		px.shutdown(t)
	})

	t.Run("ech, watched on the wire", func(t *testing.T) {
		// E4, G1: the gateway accepts Encrypted Client Hello; a relay
		// standing for a censor between client and gateway records every
		// byte the client sends, and sees only the public name: never the
		// domain, never a word of XMPP.
		const public = "front.test"
		keyFile := filepath.Join(dir, "ech.key")
		var list strings.Builder
		if code := run(ctx, []string{"ech", "keygen", "--public-name", public, "--out", keyFile},
			&stdio{in: strings.NewReader(""), out: &list, err: io.Discard}); code != exitOK {
			t.Fatalf("ech keygen exit %d", code)
		}
		both, err := ca.Issue(domain, public)
		if err != nil {
			t.Fatal(err)
		}
		bothCert, bothKey := writeCert(t, dir, "both", both)
		g := startGatewayCmd(t, ctx, gwIP, "--domain", domain, "--c2s", p.StartTLSAddr.String(),
			"--public-ip", gwIP, "--ech-key", keyFile, "--cert", bothCert, "--key", bothKey)
		censor, seen := recordingRelay(t, "127.0.0.43", g.addr)
		doc := publishClientDoc(t, cert, domain)
		doc.Store(fmt.Sprintf(`<hacx ttl="60"><tls ip="%s" port="%d" priority="1" weight="0" sni="%s" ech="%s"/></hacx>`+"\n",
			censor.Addr(), censor.Port(), domain, strings.TrimSpace(list.String())))
		dnsSrv, err := testbed.NewDNSServer()
		if err != nil {
			t.Fatal(err)
		}
		defer dnsSrv.Close()
		var out, errb strings.Builder
		code := run(ctx, []string{"check", "--json", "--ca-file", caFile, "--resolver", dnsSrv.Addr, "--dnssec", "off",
			"--no-cache", "--state-dir", dir, "--socks", "none", domain}, &stdio{in: strings.NewReader(""), out: &out, err: &errb})
		if code != exitOK || !strings.Contains(out.String(), `"ech": "accepted"`) || !strings.Contains(out.String(), `"ech_outer": "`+public+`"`) {
			t.Fatalf("hacx check with ECH: exit %d\n%s\n%s\ngateway log:\n%s", code, out.String(), errb.String(), g.stderr)
		}
		wire := seen()
		if !strings.Contains(wire, public) {
			t.Fatalf("the relay saw no public name: the test would prove nothing")
		}
		for _, secret := range []string{domain, "xmpp"} {
			if strings.Contains(wire, secret) {
				t.Errorf("the bytes %q crossed the wire in clear", secret)
			}
		}
	})

	t.Run("upstream down", func(t *testing.T) {
		dead := freeAddrOn(t, "127.0.0.41")
		g := startGatewayCmd(t, ctx, gwIP, "--domain", domain, "--c2s", dead,
			"--public-ip", gwIP, "--cert", certFile, "--key", keyFile)
		start := time.Now()
		if cond := streamErrorFrom(t, g.addr, caFile, domain); cond != "remote-connection-failed" {
			t.Fatalf("stream error %q, want remote-connection-failed", cond)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Fatalf("the stream error took %v: a refused upstream must not cost a timeout", took)
		}
		waitLog(t, g, `route=c2s .*outcome=upstream-failed`)
	})
}

// recordingRelay relays TCP from a listener on ip to target and returns
// its address and everything clients sent through it: what an on-path
// observer sees.
func recordingRelay(t *testing.T, ip, target string) (netip.AddrPort, func() string) {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var seen testbed.SyncBuffer
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(c, up)
				io.Copy(io.MultiWriter(up, &seen), c)
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String()), seen.String
}

// waitStored waits until text is in Prosody's offline store: bob is not
// connected, so a delivered message lands there.
func waitStored(t *testing.T, p *testbed.Prosody, text string, g *gatewayRun) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !storeHas(p.DataDir(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("the message never reached bob's offline store\ngateway log:\n%s\nprosody log:\n%s", g.stderr, p.Log())
		}
		time.Sleep(50 * time.Millisecond) // polling Prosody's store, not timing the relay
	}
}

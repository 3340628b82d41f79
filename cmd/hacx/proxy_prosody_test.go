package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/internal/testenv"
)

// TestProxy_GoSendXMPPToProsody: Debian's go-sendxmpp, which knows nothing
// of HACX, sends a message through "hacx proxy" to a real Prosody whose
// HACX document lists a dead direct-TLS route first and one working route:
// WebSocket, then BOSH, then direct TLS. The message must land in the
// recipient's offline store. go-sendxmpp insists on TLS, so the proxy
// offers STARTTLS with a certificate the client is told not to verify
// (the proxy is on loopback; the upstream is verified by the proxy).
func TestProxy_GoSendXMPPToProsody(t *testing.T) {
	testenv.Require(t, testbed.ProsodyAvailable())
	_, lerr := exec.LookPath("go-sendxmpp")
	testenv.Require(t, lerr)
	const domain = "proxyprosody.test"
	ca, cert := testCert(t, "proxy-prosody", domain)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, err := testbed.StartProsody(ctx, testbed.ProsodyConfig{Domain: domain, IP: "127.0.0.31", Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, u := range []string{"alice", "bob"} {
		if err := p.Register(ctx, u, "secret-"+u); err != nil {
			t.Fatal(err)
		}
	}
	dead, err := loopback.RefusedAddr("127.0.0.32")
	if err != nil {
		t.Fatal(err)
	}
	deadRoute := fmt.Sprintf(`<tls ip="%s" port="%d" priority="1" weight="0" sni="%s"/>`, dead.Addr(), dead.Port(), domain)
	doc := publishClientDoc(t, cert, domain)
	dnsSrv, err := testbed.NewDNSServer()
	if err != nil {
		t.Fatal(err)
	}
	defer dnsSrv.Close()
	px := startCLIProxy(t, ctx, ca, dnsSrv.Addr)
	addr, stderr := px.addr, px.stderr

	home := t.TempDir() // no go-sendxmpp configuration file of the user's
	for _, tt := range []struct{ method, record string }{
		{"websocket", fmt.Sprintf(`<websocket ip="%s" port="%d" priority="2" weight="0" url="%s"/>`, p.HTTPSAddr.Addr(), p.HTTPSAddr.Port(), p.WebSocketURL)},
		{"bosh", fmt.Sprintf(`<bosh ip="%s" port="%d" priority="2" weight="0" sni="%s" url="%s"/>`, p.HTTPSAddr.Addr(), p.HTTPSAddr.Port(), domain, p.BOSHURL)},
		{"tls", fmt.Sprintf(`<tls ip="%s" port="%d" priority="2" weight="0" sni="%s"/>`, p.TLSAddr.Addr(), p.TLSAddr.Port(), domain)},
		// No document at all, only what most services publish: an
		// _xmpp-client SRV record (X1), reached with STARTTLS (S1).
		{"starttls", ""},
	} {
		t.Run(tt.method, func(t *testing.T) {
			doc.Store(`<hacx ttl="60">` + deadRoute + tt.record + "</hacx>\n")
			if tt.record == "" {
				doc.Store("")
				if err := dnsSrv.Add(
					fmt.Sprintf("_xmpp-client._tcp.%s. 60 IN SRV 0 0 %d xmpp.%s.", domain, p.StartTLSAddr.Port(), domain),
					fmt.Sprintf("xmpp.%s. 60 IN A %s", domain, p.StartTLSAddr.Addr())); err != nil {
					t.Fatal(err)
				}
			}
			text := fmt.Sprintf("hello bob, over %s through hacx proxy %d", tt.method, time.Now().UnixNano())
			cmd := exec.CommandContext(ctx, "go-sendxmpp", "-u", "alice@"+domain, "-p", "secret-alice",
				"-j", addr, "-n", "--timeout", "30", "bob@"+domain)
			cmd.Stdin = strings.NewReader(text)
			cmd.Env = append(os.Environ(), "HOME="+home)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("go-sendxmpp: %v\n%s\nproxy log:\n%s\nprosody log:\n%s", err, out, stderr.String(), p.Log())
			}
			// Bob is offline: Prosody keeps the message in his offline store.
			deadline := time.Now().Add(15 * time.Second)
			for !storeHas(p.DataDir(), text) {
				if time.Now().After(deadline) {
					t.Fatalf("the message never reached bob's offline store\nproxy log:\n%s\nprosody log:\n%s", stderr.String(), p.Log())
				}
				time.Sleep(50 * time.Millisecond) // polling Prosody's store, not timing the relay
			}
			// The log line is written as the connection ends, which may
			// be just after go-sendxmpp exits.
			for !strings.Contains(stderr.String(), "method="+tt.method+" ") {
				if time.Now().After(deadline) {
					t.Fatalf("no connection logged over %s:\n%s", tt.method, stderr.String())
				}
				time.Sleep(20 * time.Millisecond) // polling the log
			}
		})
	}

	px.shutdown(t)
}

// publishClientDoc publishes, for domain, the client document the returned
// value holds; "" answers 404 (H4), as a domain that publishes none.
func publishClientDoc(t *testing.T, cert *tls.Certificate, domain string) *atomic.Value {
	var doc atomic.Value
	doc.Store("")
	publish(t, cert, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := doc.Load().(string)
		if r.Host != domain || r.URL.Path != "/.well-known/xmpp-client.xml" || body == "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, body)
	}))
	return &doc
}

// cliProxy is "hacx proxy" run by a test on a free loopback address: the
// test CA trusted, a local STARTTLS certificate from it, DNS from the
// test's server, no cache.
type cliProxy struct {
	addr   string
	stderr *testbed.SyncBuffer
	exited chan int
	stop   context.CancelFunc
}

func startCLIProxy(t *testing.T, ctx context.Context, ca *hacxtest.CA, resolver string) *cliProxy {
	t.Helper()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	local, err := ca.Issue("localhost")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := writeCert(t, dir, "proxy", local)
	px := &cliProxy{addr: freeLoopbackAddr(t), stderr: &testbed.SyncBuffer{}, exited: make(chan int, 1)}
	pctx, stop := context.WithCancel(ctx)
	px.stop = stop
	go func() {
		px.exited <- run(pctx, []string{"proxy", "--listen", px.addr, "--tls-cert", certFile, "--tls-key", keyFile,
			"--ca-file", caFile, "--resolver", resolver, "--no-cache", "--state-dir", dir, "--socks", "none"},
			&stdio{in: strings.NewReader(""), out: io.Discard, err: px.stderr})
	}()
	waitListening(t, px.addr, px.exited, px.stderr)
	t.Cleanup(stop)
	return px
}

// shutdown stops the proxy as a signal would and wants exit 0.
func (px *cliProxy) shutdown(t *testing.T) {
	t.Helper()
	px.stop()
	select {
	case code := <-px.exited:
		if code != exitOK {
			t.Errorf("hacx proxy exit %d after the signal, want 0\n%s", code, px.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("hacx proxy did not shut down")
	}
}

// storeHas reports whether a file under dir (Prosody's data) holds text.
func storeHas(dir, text string) bool {
	found := false
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found {
			return nil
		}
		if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte(text)) {
			found = true
		}
		return nil
	})
	return found
}

// freeLoopbackAddr returns a loopback address with a port that was free.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	// Not 127.0.0.1, where other packages' tests open listeners all the
	// time: one of them could take the port before the command binds it.
	ln, err := net.Listen("tcp", "127.0.0.95:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// waitListening waits until the proxy accepts connections on addr.
func waitListening(t *testing.T, addr string, exited <-chan int, stderr *testbed.SyncBuffer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		select {
		case code := <-exited:
			t.Fatalf("hacx proxy exited %d: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("hacx proxy not listening on %s: %s", addr, stderr.String())
		}
		time.Sleep(10 * time.Millisecond) // polling the port
	}
}

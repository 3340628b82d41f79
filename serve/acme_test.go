package serve

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"hacx.dev/hacx"
	"hacx.dev/hacx/hacxtest"
)

// pebble is Let's Encrypt's test ACME server (Debian package pebble) on
// loopback.
type pebble struct {
	dir, mgmt string       // ACME directory URL, management base URL
	client    *http.Client // trusts pebble's own HTTPS certificate
}

// startPebble runs pebble on loopback with every challenge accepted
// unvalidated (PEBBLE_VA_ALWAYS_VALID), so no validation connection is
// ever made, and its DNS pointed at a closed loopback port for the same
// reason.
func startPebble(t *testing.T) *pebble {
	t.Helper()
	bin, err := exec.LookPath("pebble")
	if err != nil {
		hacxtest.Require(t, errors.New("pebble is not installed (apt-get install pebble)"))
	}
	ca, err := hacxtest.NewCA("pebble-https")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, _ := hacxtest.CertPEM(cert)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o644)
	os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600)
	// Five distinct free ports: all held open while choosing, released
	// just before pebble starts.
	ports := make([]int, 5)
	var held []net.Listener
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	for _, l := range held {
		l.Close()
	}
	conf, _ := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress":                  fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"managementListenAddress":        fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"certificate":                    filepath.Join(dir, "cert.pem"),
		"privateKey":                     filepath.Join(dir, "key.pem"),
		"httpPort":                       ports[2],
		"tlsPort":                        ports[3],
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
	}})
	os.WriteFile(filepath.Join(dir, "pebble.json"), conf, 0o644)
	var out bytes.Buffer
	cmd := exec.Command(bin, "-config", filepath.Join(dir, "pebble.json"), "-dnsserver", fmt.Sprintf("127.0.0.1:%d", ports[4]))
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_VA_ALWAYS_VALID=1", "PEBBLE_WFE_NONCEREJECT=0")
	cmd.Stdout, cmd.Stderr = &out, &out
	pb := &pebble{
		dir:  fmt.Sprintf("https://127.0.0.1:%d/dir", ports[0]),
		mgmt: fmt.Sprintf("https://127.0.0.1:%d", ports[1]),
		client: &http.Client{
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, Proxy: nil},
			Timeout:   30 * time.Second,
		},
	}
	return pb.start(t, cmd, &out)
}

func (pb *pebble) start(t *testing.T, cmd *exec.Cmd, out *bytes.Buffer) *pebble {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := pb.client.Get(pb.dir)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return pb
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("pebble exited during start-up: %v\n%s", err, out)
		case <-time.After(20 * time.Millisecond): // poll interval, not a timing assumption
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble does not answer at %s: %v\n%s", pb.dir, err, out)
		}
	}
}

// TestServer_ACMEFromPebble gets a certificate for example.test from a
// local ACME server through autocert, serves the HACX document over it
// (P1), and reports the certificate's expiry in the metrics.
func TestServer_ACMEFromPebble_P1(t *testing.T) {
	pb := startPebble(t)
	s := &Server{
		Load: func() (*Config, error) {
			return ParseConfig([]byte(`
[[domain]]
name = "example.test"
ttl = 90
[[domain.client]]
method = "websocket"
ip = "127.0.0.1"
port = 443
priority = 1
url = "wss://example.test/xmpp-websocket"
`), "")
		},
		ACME: &autocert.Manager{
			Prompt: autocert.AcceptTOS,
			Cache:  autocert.DirCache(t.TempDir()),
			Client: &acme.Client{DirectoryURL: pb.dir, HTTPClient: pb.client},
		},
		PollInterval: -1,
	}
	var lns [2]net.Listener
	for i := range lns {
		var err error
		if lns[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lns[0], nil, lns[1]) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	// The client trusts only pebble's issuing root.
	res, err := pb.client.Get(pb.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	rootPEM, _ := io.ReadAll(res.Body)
	res.Body.Close()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPEM) {
		t.Fatalf("no root from pebble: %q", rootPEM)
	}
	addr := lns[0].Addr().String()
	c := &http.Client{
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
		},
		Timeout: 60 * time.Second, // the first handshake waits for issuance
	}
	res, err = c.Get("https://example.test/.well-known/xmpp-client.xml")
	if err != nil {
		t.Fatalf("fetch over the ACME certificate: %v", err)
	}
	doc, err := hacx.ParseReader(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || doc.TTL != 90 || len(doc.Records) != 1 {
		t.Fatalf("status %d, %v, %+v", res.StatusCode, err, doc)
	}
	leaf := res.TLS.PeerCertificates[0]
	if leaf.VerifyHostname("example.test") != nil || leaf.Issuer.String() == leaf.Subject.String() {
		t.Fatalf("served certificate %s issued by %s", leaf.Subject, leaf.Issuer)
	}

	// Another name is not a configured domain: autocert must not ask.
	_, err = tls.Dial("tcp", addr, &tls.Config{ServerName: "other.test", RootCAs: roots})
	if err == nil {
		t.Error("a certificate was served for an unconfigured name")
	}

	res, err = http.Get("http://" + lns[1].Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := regexp.MustCompile(`(?m)^hacx_serve_cert_expiry_seconds\{cert="example.test"\} (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no expiry metric for the ACME certificate:\n%s", body)
	}
	got, _ := strconv.ParseFloat(string(m[1]), 64)
	if want := time.Until(leaf.NotAfter).Seconds(); got <= 0 || math.Abs(got-want) > 60 {
		t.Errorf("expiry metric %v s, want about %v s", got, want)
	}
}

package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hacx.dev/hacx"
	"hacx.dev/hacx/hacxtest"
)

func serverTOML(ttl string) string {
	return `
[[domain]]
name = "example.org"
ttl = ` + ttl + `
[[domain.client]]
method = "websocket"
ip = "127.0.0.1"
port = 443
priority = 1
url = "wss://example.org/ws"
`
}

type testServer struct {
	s                    *Server
	rec                  *recorder // the server's Metrics and MetricsHandler
	ca                   *hacxtest.CA
	dir, cfgPath         string
	addr, httpAddr, mets string
	cancel               context.CancelFunc
	done                 chan error
}

func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func writeCert(t *testing.T, ca *hacxtest.CA, dir string, names ...string) *tls.Certificate {
	t.Helper()
	c, err := ca.Issue(names...)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := hacxtest.CertPEM(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	ca, err := hacxtest.NewCAWithIntermediate("serve")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{ca: ca, dir: t.TempDir(), done: make(chan error, 1), rec: new(recorder)}
	writeCert(t, ca, ts.dir, "example.org")
	ts.cfgPath = filepath.Join(ts.dir, "hacx.toml")
	if err := WriteFile(ts.cfgPath, []byte(serverTOML("60")), 0o644); err != nil {
		t.Fatal(err)
	}
	ts.s = &Server{
		Load:         func() (*Config, error) { return LoadConfig(ts.cfgPath) },
		Watch:        []string{ts.cfgPath},
		PollInterval: -1, // tests call CheckFiles themselves
		CertFile:     filepath.Join(ts.dir, "cert.pem"),
		KeyFile:      filepath.Join(ts.dir, "key.pem"),
		Metrics:      ts.rec,
		// The plain-HTTP and metrics listeners are fields, as the
		// HTTPS one is Serve's argument.
		HTTPListener:    listenLoopback(t),
		MetricsListener: listenLoopback(t),
		MetricsHandler:  ts.rec,
	}
	ln := listenLoopback(t)
	ts.addr, ts.httpAddr, ts.mets = ln.Addr().String(), ts.s.HTTPListener.Addr().String(), ts.s.MetricsListener.Addr().String()
	ts.s.Addr = ts.addr // the port redirects name
	var ctx context.Context
	ctx, ts.cancel = context.WithCancel(context.Background())
	go func() { ts.done <- ts.s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		ts.cancel()
		if err := <-ts.done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	// Serve loads the certificate before it accepts; a completed handshake
	// proves that load is over, so tests that rewrite the files next cannot
	// race it. (The handshake reaches no handler: metrics stay at zero.)
	conn, err := tls.Dial("tcp", ts.addr, &tls.Config{ServerName: "example.org", RootCAs: ts.ca.Pool()})
	if err != nil {
		t.Fatalf("server not serving: %v", err)
	}
	conn.Close()
	return ts
}

// client returns an HTTPS client that trusts only the test CA and sends
// every connection to the test server whatever the URL host: the URL host
// still drives SNI, Host and certificate name checks, as for a real domain.
func (ts *testServer) client() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: ts.ca.Pool()},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, ts.addr)
			},
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (ts *testServer) fetchTTL(t *testing.T) uint32 {
	t.Helper()
	res, err := ts.client().Get("https://example.org/.well-known/xmpp-client.xml")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	doc, err := hacx.ParseReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Records) != 1 || doc.Records[0].URL != "wss://example.org/ws" {
		t.Fatalf("records = %v", doc.Records)
	}
	return doc.TTL
}

func TestServer_RealTLS_ClientParses_H1_P1(t *testing.T) {
	ts := startServer(t)
	if ttl := ts.fetchTTL(t); ttl != 60 {
		t.Fatalf("ttl = %d, want 60", ttl)
	}
	// Unknown domain over the same TLS listener: 404 (H4). The certificate
	// does not name it, so check the status with name checks relaxed.
	c := ts.client()
	c.Transport.(*http.Transport).TLSClientConfig.InsecureSkipVerify = true
	res, err := c.Get("https://other.example/.well-known/xmpp-client.xml")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Errorf("unknown domain status = %d, want 404", res.StatusCode)
	}
}

// TestServer_ReloadKeepsOldConfigOnBadFile: a broken file never replaces a
// working configuration; a good one replaces it without a restart.
func TestServer_ReloadKeepsOldConfigOnBadFile(t *testing.T) {
	ts := startServer(t)
	if err := WriteFile(ts.cfgPath, []byte("[[domain]]\nname = \"example.org\"\nttl = -5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	changed, err := ts.s.CheckFiles()
	var re *ReloadError
	if !changed || !errors.As(err, &re) || re.Part != "config" || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("CheckFiles = %v, %v; want a config ReloadError citing line 3", changed, err)
	}
	if ttl := ts.fetchTTL(t); ttl != 60 {
		t.Fatalf("after bad reload ttl = %d, want the old 60", ttl)
	}
	// Metrics heard the first load succeed and this one fail, with the
	// error the reload returned.
	ts.rec.mu.Lock()
	reloads := append([]error(nil), ts.rec.reloads...)
	ts.rec.mu.Unlock()
	if len(reloads) != 2 || reloads[0] != nil || !errors.As(reloads[1], &re) {
		t.Errorf("Metrics.Reload got %v, want nil then the ReloadError", reloads)
	}
	if changed, _ := ts.s.CheckFiles(); changed {
		t.Error("CheckFiles reloaded again although nothing changed")
	}
	if err := WriteFile(ts.cfgPath, []byte(serverTOML("3600")), 0o644); err != nil {
		t.Fatal(err)
	}
	if changed, err := ts.s.CheckFiles(); !changed || err != nil {
		t.Fatalf("CheckFiles = %v, %v", changed, err)
	}
	if ttl := ts.fetchTTL(t); ttl != 3600 {
		t.Fatalf("after good reload ttl = %d, want 3600", ttl)
	}
}

func TestServer_CertReload(t *testing.T) {
	ts := startServer(t)
	newCert := writeCert(t, ts.ca, ts.dir, "example.org", "xmpp.example.org")
	if err := ts.s.Reload(); err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", ts.addr, &tls.Config{ServerName: "example.org", RootCAs: ts.ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := conn.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(newCert.Leaf.SerialNumber) != 0 {
		t.Errorf("served serial %v, want the reloaded %v", got, newCert.Leaf.SerialNumber)
	}
	if got, want := ts.rec.inService(), "example.org@"+newCert.Leaf.SerialNumber.String(); len(got) != 1 || got[0] != want {
		t.Errorf("Metrics.Certificates last heard %v, want only %s", got, want)
	}
	// A broken key file keeps the working certificate.
	if err := os.WriteFile(filepath.Join(ts.dir, "key.pem"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	var re *ReloadError
	if err := ts.s.Reload(); !errors.As(err, &re) || re.Part != "certificate" {
		t.Fatalf("Reload = %v, want a certificate ReloadError", err)
	}
	ts.fetchTTL(t)
	if got, want := ts.rec.inService(), "example.org@"+newCert.Leaf.SerialNumber.String(); len(got) != 1 || got[0] != want {
		t.Errorf("after the refused key, Metrics.Certificates last heard %v, want still %s", got, want)
	}
}

// TestServer_HTTPRedirectAndMetrics: plain HTTP only redirects (H1), and
// the metrics listener serves MetricsHandler at /metrics alone, showing
// what the Server told its Metrics.
func TestServer_HTTPRedirectAndMetrics(t *testing.T) {
	ts := startServer(t)
	ts.fetchTTL(t)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", "http://"+ts.httpAddr+"/.well-known/xmpp-client.xml", nil)
	req.Host = "example.org"
	res, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	_, port, _ := net.SplitHostPort(ts.addr)
	if want := "https://example.org:" + port + "/.well-known/xmpp-client.xml"; res.StatusCode != 301 || res.Header.Get("Location") != want {
		t.Errorf("HTTP answer %d %q, want 301 to %s", res.StatusCode, res.Header.Get("Location"), want)
	}
	req.Host = "other.example"
	if res, err = noFollow.Do(req); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Errorf("HTTP for unknown domain: %d, want 404", res.StatusCode)
	}

	res, err = http.Get("http://" + ts.mets + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	cert, err := tls.LoadX509KeyPair(ts.s.CertFile, ts.s.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"request xmpp-client.xml 200 default 1\n",
		"reload true\n",
		fmt.Sprintf("cert example.org %d\n", cert.Leaf.NotAfter.Unix()),
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	// Plain HTTP requests are redirects, not discovery answers: not
	// counted as requests.
	if strings.Count(string(body), "request ") != 1 {
		t.Errorf("metrics count other requests than the one HTTPS fetch:\n%s", body)
	}
	if res, err = http.Get("http://" + ts.mets + "/other"); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Errorf("metrics listener answers /other with %d, want 404", res.StatusCode)
	}
}

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/testenv"
	"hacx.dev/hacx/serve"
)

// nginxTOML exercises every kind of answer: records with a ttl, HPKP, a
// redirect (P1), a domain without CORS or host-meta whose unpublished
// files are 404s.
const nginxTOML = `
[[domain]]
name = "example.test"
ttl = 300
[domain.hsts]
max-age = 600
include-subdomains = true
[domain.hpkp]
max-age = 60
pins = ["sha-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "sha-256=E9CZ9INDbd+2eRQozYqqbQ2yXLVKB9+xcprMF+44U1g="]
[domain.redirect]
server = "https://elsewhere.example.test/xmpp-server.xml"
[[domain.client]]
method = "tls"
ip = "127.0.0.1"
port = 5223
priority = 10
sni = "xmpp.example.test"
alpn = "xmpp-client"
[[domain.client]]
method = "websocket"
ip = "127.0.0.1"
port = 443
priority = 20
url = "wss://example.test/xmpp-websocket"

[[domain]]
name = "other.test"
cors = false
host-meta = false
[[domain.server]]
method = "tls"
ip = "127.0.0.2"
port = 5270
priority = 1
`

// nginxAvailable says why Debian's nginx cannot run here, or nil.
func nginxAvailable() (string, error) {
	for _, p := range []string{"/usr/sbin/nginx", "nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path, nil
		}
	}
	return "", errors.New("nginx is not installed (apt-get install nginx)")
}

// nginxIP is a loopback address no other test listens on: a port picked
// free on it cannot meanwhile be taken by another test's 127.0.0.1:0
// listener, which a plain connect would then mistake for nginx.
const nginxIP = "127.0.0.93"

// startNginx runs nginx in the foreground with prefix dir, serving the
// given server blocks on nginxIP, and returns its address once it accepts
// connections. A port taken between picking and binding is retried with
// another, at most three times.
func startNginx(t *testing.T, bin, dir, servers string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; ; attempt++ {
		addr, taken := tryNginx(t, bin, dir, servers)
		if !taken {
			return addr
		}
		if attempt == 3 {
			t.Fatalf("nginx: %s and two other ports were taken before nginx bound them", addr)
		}
	}
}

// tryNginx starts nginx once; taken reports that its port was in use.
func tryNginx(t *testing.T, bin, dir, servers string) (addr string, taken bool) {
	t.Helper()
	l, err := net.Listen("tcp", nginxIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	addr = l.Addr().String()
	l.Close()
	user := ""
	if os.Geteuid() == 0 {
		// Workers would run as nobody, who cannot read the test's
		// private temporary directory.
		user = "user root;"
	}
	conf := fmt.Sprintf(`%s
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log;
events { worker_connections 128; }
http {
	access_log off;
	client_body_temp_path %[2]s/body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
%[3]s
}
`, user, dir, strings.ReplaceAll(servers, "LISTEN", addr))
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	errorLog := filepath.Join(dir, "error.log")
	os.Remove(errorLog)
	var out bytes.Buffer
	cmd := exec.Command(bin, "-p", dir, "-e", errorLog, "-c", confPath, "-g", "daemon off;")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Signal(os.Interrupt) // nginx: fast shutdown
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			t.Cleanup(stop)
			return addr, false
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(errorLog)
			if bytes.Contains(log, []byte("Address already in use")) || strings.Contains(out.String(), "Address already in use") {
				return addr, true
			}
			t.Fatalf("nginx exited during start-up: %v\n%s%s", err, out.String(), log)
		case <-time.After(20 * time.Millisecond): // poll interval, not a timing assumption
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("nginx does not listen on %s", addr)
		}
	}
}

// pinnedClient sends every request to addr, trusting only ca; the URL host
// drives SNI, Host and the certificate name check.
func pinnedClient(ca *hacxtest.CA, addr string) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: ca.Pool()},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
			DisableCompression: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func fetch(t *testing.T, c *http.Client, method, url string, hdr map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{res.StatusCode, res.Header, body}
}

// TestGen_NginxServesLikeHacxServe_P1_P2_P3 publishes one configuration
// twice, through hacx gen --nginx and Debian's nginx, and through hacx
// serve, and requires the same answers from both: status, body and the
// headers clients and browsers act on.
func TestGen_NginxServesLikeHacxServe_P1_P2_P3(t *testing.T) {
	bin, err := nginxAvailable()
	testenv.Require(t, err)

	dir := t.TempDir()
	ca, err := hacxtest.NewCAWithIntermediate("nginx")
	if err != nil {
		t.Fatal(err)
	}
	// hacx serve wants one pin of the served chain (P2): the intermediate.
	inter, err := hacx.NewPin(ca.Intermediate)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "hacx.toml")
	conf := strings.Replace(nginxTOML, "sha-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", inter.String(), 1)
	if err := os.WriteFile(cfgPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("example.test", "other.test")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := writeCert(t, dir, "cert", cert)

	www, snippets := filepath.Join(dir, "www"), filepath.Join(dir, "nginx-hacx")
	code, out, errs := runCmd(t, "", "gen", "--config", cfgPath, "--out", www, "--nginx", snippets)
	if code != exitOK {
		t.Fatalf("gen: exit %d: %s", code, errs)
	}
	for _, d := range []string{"example.test", "other.test"} {
		if !strings.Contains(out, filepath.Join(snippets, d+".conf")) {
			t.Errorf("gen does not list the snippet of %s:\n%s", d, out)
		}
	}

	var servers strings.Builder
	for _, d := range []string{"example.test", "other.test"} {
		fmt.Fprintf(&servers, `	server {
		listen LISTEN ssl;
		server_name %s;
		ssl_certificate %s;
		ssl_certificate_key %s;
		include %s;
		location / { return 404; }
	}
`, d, certFile, keyFile, filepath.Join(snippets, d+".conf"))
	}
	nginxAddr := startNginx(t, bin, filepath.Join(dir, "nginx"), servers.String())

	// hacx serve, from the same configuration and certificate.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &serve.Server{
		Load:     func() (*serve.Config, error) { return serve.LoadConfig(cfgPath) },
		CertFile: certFile, KeyFile: keyFile, PollInterval: -1,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	ngx, hx := pinnedClient(ca, nginxAddr), pinnedClient(ca, ln.Addr().String())
	// What clients and browsers act on (P2, P3); Content-Length is
	// compared where a body is sent.
	compared := []string{"Content-Type", "Cache-Control", "Strict-Transport-Security", "Public-Key-Pins",
		"Access-Control-Allow-Origin", "X-Content-Type-Options", "Location"}
	for _, domain := range []string{"example.test", "other.test"} {
		for _, p := range serve.Paths {
			url := "https://" + domain + p
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				name := method + " " + url
				a, b := fetch(t, hx, method, url, nil), fetch(t, ngx, method, url, nil)
				// The configuration must make the compared headers differ
				// between domains, or equal answers would prove little.
				if hpkp := a.header.Get("Public-Key-Pins") != ""; hpkp != (domain == "example.test") {
					t.Errorf("%s: hacx serve Public-Key-Pins %q", name, a.header.Get("Public-Key-Pins"))
				}
				if a.status != b.status {
					t.Errorf("%s: hacx serve %d, nginx %d", name, a.status, b.status)
					continue
				}
				for _, h := range compared {
					if a.status != http.StatusOK && (h == "Content-Type" || h == "X-Content-Type-Options") {
						continue // 302 and 404 bodies are for humans; clients read status and Location (H3, H4)
					}
					if got, want := b.header.Values(h), a.header.Values(h); strings.Join(got, "\n") != strings.Join(want, "\n") {
						t.Errorf("%s: %s: nginx %q, hacx serve %q", name, h, got, want)
					}
				}
				if a.status != http.StatusOK {
					continue // a redirect's or 404's body is for humans
				}
				if !bytes.Equal(a.body, b.body) {
					t.Errorf("%s: bodies differ:\nhacx serve: %s\nnginx: %s", name, a.body, b.body)
				}
				if a.header.Get("Content-Length") != b.header.Get("Content-Length") {
					t.Errorf("%s: Content-Length: nginx %q, hacx serve %q", name, b.header.Get("Content-Length"), a.header.Get("Content-Length"))
				}
				// ETag semantics: each server's own tag gives 304 (with
				// the caching headers, P3), a weak form of it too, and a
				// different tag gives the document again.
				for who, c := range map[string]*http.Client{"hacx serve": hx, "nginx": ngx} {
					first := a
					if who == "nginx" {
						first = b
					}
					etag := first.header.Get("ETag")
					if etag == "" {
						t.Errorf("%s: %s sends no ETag", name, who)
						continue
					}
					for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag} {
						nm := fetch(t, c, method, url, map[string]string{"If-None-Match": inm})
						if nm.status != http.StatusNotModified || len(nm.body) != 0 {
							t.Errorf("%s: %s with If-None-Match %s: %d, want 304 without body", name, who, inm, nm.status)
						}
						if nm.header.Get("ETag") != etag || nm.header.Get("Cache-Control") != a.header.Get("Cache-Control") ||
							nm.header.Get("Strict-Transport-Security") != a.header.Get("Strict-Transport-Security") {
							t.Errorf("%s: %s 304 headers %v", name, who, nm.header)
						}
					}
					miss := fetch(t, c, method, url, map[string]string{"If-None-Match": `"not-the-tag"`})
					if miss.status != http.StatusOK || (method == http.MethodGet && !bytes.Equal(miss.body, a.body)) {
						t.Errorf("%s: %s with a stale If-None-Match: %d", name, who, miss.status)
					}
				}
			}
		}
	}
}

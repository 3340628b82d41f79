package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/testbed"
)

// TestServe_PrometheusMetrics: hacx serve --metrics publishes what package
// serve counts under the names operators' dashboards and alerts use:
// requests by file, status and variant, reloads by result, and the time
// left on the served certificate; /metrics only, on its own listener.
func TestServe_PrometheusMetrics(t *testing.T) {
	ca, cert, certFile, keyFile := certFiles(t, "metrics", t.TempDir())
	addr, mets := freeLoopbackAddr(t), freeLoopbackAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var errs testbed.SyncBuffer
	go func() {
		done <- run(ctx, []string{"serve", "--doc", "example.org=../../testdata/valid/draft-example-fixed.xml",
			"--cert", certFile, "--key", keyFile, "--listen", addr, "--http-listen", "", "--metrics", mets, "--poll", "0"},
			&stdio{in: strings.NewReader(""), out: io.Discard, err: &errs})
	}()
	waitListening(t, mets, done, &errs) // bound last, after the HTTPS listener

	c := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool()},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
	for path, status := range map[string]int{"/.well-known/xmpp-client.xml": 200, "/.well-known/xmpp-server.xml": 404} {
		res, err := c.Get("https://example.org" + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != status {
			t.Fatalf("%s: status %d, want %d", path, res.StatusCode, status)
		}
	}

	res, err := http.Get("http://" + mets + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{
		`hacx_serve_requests_total{file="xmpp-client.xml",status="200",variant="default"} 1`,
		`hacx_serve_requests_total{file="xmpp-server.xml",status="404",variant="default"} 1`,
		`hacx_serve_config_reloads_total{result="ok"} 1`,
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	m := regexp.MustCompile(`(?m)^hacx_serve_cert_expiry_seconds\{cert="example.org"\} (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Errorf("no expiry metric for the served certificate:\n%s", body)
	} else if got, _ := strconv.ParseFloat(string(m[1]), 64); math.Abs(got-time.Until(cert.Leaf.NotAfter).Seconds()) > 60 {
		t.Errorf("expiry metric %v s, want about %v s", got, time.Until(cert.Leaf.NotAfter).Seconds())
	}
	if res, err = http.Get("http://" + mets + "/"); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Errorf("metrics listener answers / with %d, want 404", res.StatusCode)
	}

	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("exit %d: %s", code, errs.String())
	}
}

// TestServeMetrics_FailedReload: a failed load counts as failed, and the
// certificates reported replace the previous set (one certificate file in
// service at a time).
func TestServeMetrics_FailedReload(t *testing.T) {
	ca, err := hacxtest.NewCA("metrics unit")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := ca.Issue("a.example")
	b, _ := ca.Issue("b.example")
	reg := prometheus.NewRegistry()
	m, err := newServeMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.Reload(nil)
	m.Reload(io.ErrUnexpectedEOF)
	m.Reload(io.ErrUnexpectedEOF)
	m.Certificates([]*x509.Certificate{a.Leaf, b.Leaf})
	m.Certificates([]*x509.Certificate{b.Leaf})
	text := gather(t, reg)
	for _, want := range []string{
		`hacx_serve_config_reloads_total{result="ok"} 1`,
		`hacx_serve_config_reloads_total{result="failed"} 2`,
		`hacx_serve_cert_expiry_seconds{cert="b.example"}`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s:\n%s", want, text)
		}
	}
	if strings.Contains(text, `cert="a.example"`) {
		t.Errorf("a replaced certificate is still reported:\n%s", text)
	}
}

// certFiles makes a CA named label and a certificate for example.org
// from it, written as PEM files in dir for --cert and --key.
func certFiles(t *testing.T, label, dir string) (ca *hacxtest.CA, cert *tls.Certificate, certFile, keyFile string) {
	t.Helper()
	ca, err := hacxtest.NewCA(label)
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = ca.Issue("example.org"); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = writeCert(t, dir, "example.org", cert)
	return ca, cert, certFile, keyFile
}

// gather renders reg as /metrics would.
func gather(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	w := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != 200 {
		t.Fatalf("/metrics: %d %s", w.Code, w.Body)
	}
	return w.Body.String()
}

package serve

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"hacx.dev/hacx"
	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/internal/testenv"
)

// TestServer_ACMEFromPebble gets a certificate for example.test from a
// local ACME server through autocert, serves the HACX document over it
// (P1), and reports the certificate's expiry in the metrics.
func TestServer_ACMEFromPebble_P1(t *testing.T) {
	testenv.Require(t, testbed.PebbleAvailable())
	pb, err := testbed.StartPebble(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer pb.Close()
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
			Client: &acme.Client{DirectoryURL: pb.DirectoryURL, HTTPClient: pb.Client},
		},
		PollInterval: -1,
	}
	rec := new(recorder)
	s.Metrics, s.MetricsHandler = rec, rec
	lns := [2]net.Listener{listenLoopback(t), listenLoopback(t)}
	s.MetricsListener = lns[1]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lns[0]) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	// The client trusts only pebble's issuing root.
	roots, err := pb.Roots(context.Background())
	if err != nil {
		t.Fatal(err)
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
	res, err := c.Get("https://example.test/.well-known/xmpp-client.xml")
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
	m := regexp.MustCompile(`(?m)^cert example.test (\d+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no expiry reported for the ACME certificate:\n%s", body)
	}
	if got, _ := strconv.ParseInt(string(m[1]), 10, 64); got != leaf.NotAfter.Unix() {
		t.Errorf("reported expiry %d, want the served certificate's %d", got, leaf.NotAfter.Unix())
	}
	// Only served certificates are reported, never a tls-alpn-01
	// challenge answer: operators watch the expiry of what clients get.
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, set := range rec.certs {
		for _, c := range set {
			if !c.Equal(leaf) {
				t.Errorf("reported certificate %s (serial %v) is not the one served", c.Subject, c.SerialNumber)
			}
		}
	}
}

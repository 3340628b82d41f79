package main

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"hacx.dev/hacx/hacxtest"
)

// refusedIP is the loopback address where tests find ports nothing
// listens on (hacxtest.RefusedAddr); nothing is ever started there.
const refusedIP = "127.0.0.250"

// publish serves h over TLS with cert on loopback and points every HTTPS
// connection the command makes (discovery's DOMAIN:443) at it, until the
// test ends; routes are still dialed at their own ip:port (A8).
func publish(t *testing.T, cert *tls.Certificate, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	testDialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}
	t.Cleanup(func() { testDialContext = nil })
	return srv
}

// testCert makes a CA named label and a certificate from it for names.
func testCert(t *testing.T, label string, names ...string) (*hacxtest.CA, *tls.Certificate) {
	t.Helper()
	ca, err := hacxtest.NewCA(label)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(names...)
	if err != nil {
		t.Fatal(err)
	}
	return ca, cert
}

// writeCert writes cert's chain and key as PEM files named base.crt and
// base.key in dir, for the --cert/--key and --tls-cert/--tls-key flags.
func writeCert(t *testing.T, dir, base string, cert *tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	certPEM, keyPEM, err := hacxtest.CertPEM(cert)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, base+".crt"), filepath.Join(dir, base+".key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

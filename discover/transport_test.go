package discover

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/socks"
	"hacx.dev/hacx/trust"
)

// With a caller's Transport the Resolver's own TLS dialer never runs, so
// neither HPKP nor DANE is checked on that connection: the result must
// not claim enforcement, and headers from it must not be stored (X5, X6:
// only from a connection the Resolver validated itself).
func TestCustomTransport_NoHPKPClaimNoStore_X5_X6(t *testing.T) {
	w := newWorld(t)
	backup := sha256.Sum256([]byte("a backup key kept offline"))
	cert, err := w.ca.Issue("example.test")
	if err != nil {
		t.Fatal(err)
	}
	leafPin := sha256.Sum256(cert.Leaf.RawSubjectPublicKeyInfo)
	w.serveCert(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Strict-Transport-Security", "max-age=31536000")
		rw.Header().Set("Public-Key-Pins", `pin-sha256="`+b64(leafPin[:])+`"; pin-sha256="`+b64(backup[:])+`"; max-age=600`)
		rw.Write([]byte(docA))
	}), cert, "example.test")

	custom := &http.Transport{
		Proxy:           nil,
		DialContext:     w.dial,
		TLSClientConfig: &tls.Config{RootCAs: w.ca.Pool()},
	}
	t.Cleanup(custom.CloseIdleConnections)
	hsts := &trust.HSTSStore{Path: filepath.Join(t.TempDir(), "hsts.json")}
	hpkp := &trust.HPKPStore{}
	r := w.resolver()
	r.Transport = custom
	r.HSTS, r.HPKP = hsts, hpkp
	res, err := lookupNever(t, r, "example.test")
	if err != nil {
		t.Fatal(err)
	}
	s := res.Sources[0]
	if !strings.Contains(s.HPKP, "not enforced (custom transport)") {
		t.Errorf("HPKP = %q, want not enforced (custom transport)", s.HPKP)
	}
	if !strings.Contains(s.DANE, "custom transport") {
		t.Errorf("DANE = %q, want not checked (custom transport)", s.DANE)
	}
	if !strings.Contains(s.HSTS, "not stored") {
		t.Errorf("HSTS = %q, want not stored", s.HSTS)
	}
	if hsts.Known("example.test") {
		t.Error("HSTS stored from a connection the Resolver did not check")
	}
	other, err := w.ca.Issue("example.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := hpkp.Check("example.test", []*x509.Certificate{other.Leaf}); err != nil {
		t.Errorf("HPKP pins stored from a connection the Resolver did not check: %v", err)
	}

	// The control: the Resolver's own transport enforces and stores.
	r = w.resolver()
	r.HSTS, r.HPKP = hsts, hpkp
	res, err = lookupNever(t, r, "example.test")
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Sources[0]; s.HPKP != "observed" || s.HSTS != "observed" {
		t.Errorf("own transport: HPKP = %q, HSTS = %q", s.HPKP, s.HSTS)
	}
	if !hsts.Known("example.test") {
		t.Error("own transport: HSTS not stored")
	}
	if err := hpkp.Check("example.test", []*x509.Certificate{other.Leaf}); err == nil {
		t.Error("own transport: HPKP pins not stored")
	}
}

// The Resolver's own transport carries https only; a plain http:// request
// must be refused, not sent with Go's default dialer around the proxy and
// around DialContext (T1).
func TestOwnTransport_PlainHTTPRefused_T1(t *testing.T) {
	var hits atomic.Int64
	plain := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		hits.Add(1)
	}))
	defer plain.Close()
	srv, err := loopback.NewSOCKSServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var dials atomic.Int64
	for _, r := range []*Resolver{
		{Proxy: &socks.Proxy{Addr: srv.Addr}},
		{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return nil, errUnknownHost(addr)
		}},
	} {
		req, err := http.NewRequest(http.MethodGet, plain.URL+"/.well-known/xmpp-client.xml", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := r.transport().RoundTrip(req)
		if err == nil {
			resp.Body.Close()
			t.Errorf("http:// request answered (status %d)", resp.StatusCode)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("plain HTTP server reached %d times", n)
	}
	if n := len(srv.Connects()); n != 0 || dials.Load() != 0 {
		t.Errorf("plain HTTP dialed: %d CONNECTs, %d DialContext calls", n, dials.Load())
	}
}

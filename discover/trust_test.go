package discover

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"path/filepath"
	"testing"

	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/trust"
)

func TestDANE_SecureMatchAuthenticatesSelfSigned_X4(t *testing.T) {
	w := newWorld(t)
	self, err := hacxtest.SelfSigned("example.test")
	if err != nil {
		t.Fatal(err)
	}
	// Serve with a certificate outside the test CA: only DANE-EE can
	// authenticate it.
	w.serveCert(files{"/.well-known/xmpp-client.xml": docA}, self, "example.test")
	sum := sha256.Sum256(self.Leaf.RawSubjectPublicKeyInfo)
	w.dns.SetAD(true)
	mustAdd(t, w, "_443._tcp.example.test. 60 IN TLSA 3 1 1 "+hex.EncodeToString(sum[:]))
	r := w.resolver()
	r.DNSSEC = DNSSECResolver // the AD bit of the test server (X4)
	res, err := lookupNever(t, r, "example.test")
	if err != nil {
		t.Fatal(err)
	}
	if res.Sources[0].DANE != "verified" {
		t.Errorf("DANE = %q, want verified", res.Sources[0].DANE)
	}
	// Without the AD bit the same records are not trusted: WebPKI fails.
	w.dns.SetAD(false)
	r = w.resolver()
	r.DNSSEC = DNSSECResolver
	if _, err := lookupNever(t, r, "example.test"); err == nil {
		t.Error("unsigned TLSA authenticated a self-signed certificate")
	}
	// Validating in process, the AD bit counts for nothing at all (D1).
	w.dns.SetAD(true)
	if _, err := lookupNever(t, w.resolver(), "example.test"); err == nil {
		t.Error("an AD bit authenticated a self-signed certificate while validating in process")
	}
}

func TestHSTS_ObservedIntoStore_X5(t *testing.T) {
	w := newWorld(t)
	w.serve(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		rw.Write([]byte(docA))
	}), []string{"example.test"}, "example.test")
	store := &trust.HSTSStore{Path: filepath.Join(t.TempDir(), "hsts.json")}
	r := w.resolver()
	r.HSTS = store
	res, err := lookupNever(t, r, "example.test")
	if err != nil {
		t.Fatal(err)
	}
	if res.Sources[0].HSTS != "observed" || !store.Known("sub.example.test") {
		t.Errorf("HSTS = %q, known = %v", res.Sources[0].HSTS, store.Known("sub.example.test"))
	}
}

func TestHPKP_StoredPinEnforced_X6(t *testing.T) {
	w := newWorld(t)
	backup := sha256.Sum256([]byte("a backup key kept offline"))
	cert, err := w.ca.Issue("example.test")
	if err != nil {
		t.Fatal(err)
	}
	leafPin := sha256.Sum256(cert.Leaf.RawSubjectPublicKeyInfo)
	goodHeader := `pin-sha256="` + b64(leafPin[:]) + `"; pin-sha256="` + b64(backup[:]) + `"; max-age=600`
	w.serveCert(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Public-Key-Pins", goodHeader)
		rw.Write([]byte(docA))
	}), cert, "example.test")
	store := &trust.HPKPStore{}
	r := w.resolver()
	r.HPKP = store
	if _, err := lookupNever(t, r, "example.test"); err != nil {
		t.Fatal(err)
	}
	if err := store.Check("example.test", []*x509.Certificate{cert.Leaf}); err != nil {
		t.Fatalf("stored policy rejects the chain it came from: %v", err)
	}
	// A later server for the same host with another key is refused.
	w2 := newWorld(t)
	w2.serve(files{"/.well-known/xmpp-client.xml": docA}, []string{"example.test"}, "example.test")
	r2 := w2.resolver()
	r2.HPKP = store
	_, err = lookupNever(t, r2, "example.test")
	var te *TLSError
	if !errors.As(err, &te) || te.Check != "hpkp" {
		t.Fatalf("err = %v, want hpkp TLSError", err)
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

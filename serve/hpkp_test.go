package serve

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme/autocert"

	"hacx.dev/hacx/hacxtest"
)

func spkiPin(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return "sha-256=" + base64.StdEncoding.EncodeToString(sum[:])
}

// issueWithKey issues a leaf for name on key, signed by ca's intermediate:
// what an operator's switch to the backup key produces.
func issueWithKey(t *testing.T, ca *hacxtest.CA, key *ecdsa.PrivateKey, name string) *tls.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{name},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Intermediate, key.Public(), ca.IntermediateKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return &tls.Certificate{Certificate: [][]byte{der, ca.Intermediate.Raw}, PrivateKey: key, Leaf: leaf}
}

func hpkpTOML(pins ...string) string {
	return `[[domain]]
name = "example.org"
[[domain.client]]
method = "tls"
ip = "127.0.0.1"
port = 5223
priority = 1

[domain.hpkp]
max-age = 600
pins = ["` + strings.Join(pins, `", "`) + `"]
`
}

func TestCheckChain_NoBackupPinRefused_P2(t *testing.T) {
	ca, err := hacxtest.NewCAWithIntermediate("hpkp")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("example.org")
	if err != nil {
		t.Fatal(err)
	}
	chain, _ := certChain(cert)
	backup, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafPin, interPin, backupPin := spkiPin(t, cert.Leaf.PublicKey), spkiPin(t, ca.Intermediate.PublicKey), spkiPin(t, backup.Public())

	dir := t.TempDir()
	path := filepath.Join(dir, "hacx.toml")
	backup2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	backup2Pin := spkiPin(t, backup2.Public())
	for _, tt := range []struct {
		name string
		pins []string
		ok   bool
		msg  string // in the refusal
	}{
		{"leaf and backup", []string{leafPin, backupPin}, true, ""},
		{"intermediate and backup", []string{interPin, backupPin}, true, ""},
		{"leaf and intermediate: both served", []string{leafPin, interPin}, false, "every HPKP pin"},
		// RFC 7469 section 2.5: a client stores a policy only when one of
		// its pins matches the chain it validated; X6 does the same.
		{"two backups: none served", []string{backupPin, backup2Pin}, false, "no HPKP pin"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			os.WriteFile(path, []byte(hpkpTOML(tt.pins...)), 0o644)
			cfg, err := LoadConfig(path)
			if err != nil {
				t.Fatal(err) // two distinct pins: fine without a chain
			}
			err = cfg.CheckChain(chain)
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) != 1 {
				t.Fatalf("got %v, want one *ConfigError problem", err)
			}
			p := ce.Problems[0]
			if p.Line != 11 || p.Key != "domain[0].hpkp.pins" || p.Rule != "P2" || ce.File != path {
				t.Errorf("problem %+v in %q, want line 11, domain[0].hpkp.pins, P2, %s", p, ce.File, path)
			}
			if !strings.Contains(err.Error(), path+": line 11: domain[0].hpkp.pins: "+tt.msg) {
				t.Errorf("message %q", err)
			}
			if cfg.CheckChain(nil) != nil {
				t.Error("no chain known (ACME before issuance): nothing to check against")
			}
		})
	}
}

func TestServer_HPKPBackupPinAgainstServedChain_P2(t *testing.T) {
	ca, err := hacxtest.NewCAWithIntermediate("hpkp-server")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert := writeCert(t, ca, dir, "example.org")
	backup, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cfgPath := filepath.Join(dir, "hacx.toml")
	WriteFile(cfgPath, []byte(hpkpTOML(spkiPin(t, cert.Leaf.PublicKey), spkiPin(t, ca.Intermediate.PublicKey))), 0o644)
	s := &Server{
		Load:     func() (*Config, error) { return LoadConfig(cfgPath) },
		CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem"),
		PollInterval: -1,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Serving refuses to start with a policy that pins only served keys.
	err = s.Serve(context.Background(), ln)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Problems[0].Line != 11 {
		t.Fatalf("Serve with no backup pin: %v, want a ConfigError at line 11", err)
	}

	// The intermediate plus an offline backup key: served.
	WriteFile(cfgPath, []byte(hpkpTOML(spkiPin(t, ca.Intermediate.PublicKey), spkiPin(t, backup.Public()))), 0o644)
	if err := s.Reload(); err != nil {
		t.Fatalf("valid policy refused: %v", err)
	}
	// A certificate on the backup key leaves the policy without a backup:
	// the certificate is refused and the old one stays in service.
	certPEM, keyPEM, _ := hacxtest.CertPEM(issueWithKey(t, ca, backup, "example.org"))
	WriteFile(s.CertFile, certPEM, 0o644)
	WriteFile(s.KeyFile, keyPEM, 0o600)
	err = s.Reload()
	certRefused := false
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			var re *ReloadError
			certRefused = certRefused || errors.As(e, &re) && re.Part == "certificate" && errors.As(e, &ce)
		}
	}
	if !certRefused {
		t.Fatalf("reload onto the backup key with the old policy: %v, want a certificate ReloadError", err)
	}
	if got := s.cert.Load().Leaf; !got.Equal(cert.Leaf) {
		t.Error("the refused certificate went into service")
	}
	// Rotating properly, a new backup pin in the same reload, is accepted.
	next, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	WriteFile(cfgPath, []byte(hpkpTOML(spkiPin(t, backup.Public()), spkiPin(t, next.Public()))), 0o644)
	if err := s.Reload(); err != nil {
		t.Fatalf("rotation with a new backup pin: %v", err)
	}
	if got := s.cert.Load().Leaf; got.Equal(cert.Leaf) {
		t.Error("the new certificate is not in service")
	}
}

// TestServer_HPKPWithACMERefused_P2: autocert makes a new key at every
// renewal, so any pin of the served chain (leaf or issuer, which the CA
// may change) would lock clients out at the next renewal. A configuration
// with an HPKP policy is refused when certificates come from ACME.
func TestServer_HPKPWithACMERefused_P2(t *testing.T) {
	backup, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	backup2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	path := filepath.Join(t.TempDir(), "hacx.toml")
	os.WriteFile(path, []byte(hpkpTOML(spkiPin(t, backup.Public()), spkiPin(t, backup2.Public()))), 0o644)
	s := &Server{
		Load:         func() (*Config, error) { return LoadConfig(path) },
		ACME:         &autocert.Manager{Prompt: autocert.AcceptTOS, Cache: autocert.DirCache(t.TempDir())},
		PollInterval: -1,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// A done context: were the configuration accepted, Serve would start
	// and stop at once and return nil.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = s.Serve(ctx, ln)
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Problems) != 1 {
		t.Fatalf("Serve with HPKP and ACME: %v, want one *ConfigError problem", err)
	}
	if p := ce.Problems[0]; p.Line != 11 || p.Key != "domain[0].hpkp.pins" || p.Rule != "P2" || !strings.Contains(p.Msg, "ACME") {
		t.Errorf("problem %+v, want line 11, domain[0].hpkp.pins, P2, naming ACME", p)
	}
	if s.Handler.Serves("example.org") {
		t.Error("the refused configuration went into service")
	}

	// The same domain without HPKP is served.
	os.WriteFile(path, []byte(strings.Split(hpkpTOML(), "[domain.hpkp]")[0]), 0o644)
	if err := s.Reload(); err != nil {
		t.Fatalf("without HPKP: %v", err)
	}
	if !s.Handler.Serves("example.org") {
		t.Error("configuration without HPKP not in service")
	}
}

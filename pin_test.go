package hacx_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"

	"hacx.dev/hacx"
	"hacx.dev/hacx/hacxtest"
)

// TestKeySHA256_IsThePinValue_A9: the sha-256 pin of a key is the digest
// of its DER SubjectPublicKeyInfo, as NewPin makes it and RFC 7469
// defines pin-sha256.
func TestKeySHA256_IsThePinValue_A9(t *testing.T) {
	ca, err := hacxtest.NewCA("key sha-256")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("example.org")
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(cert.Leaf.RawSubjectPublicKeyInfo)
	if got := hacx.KeySHA256(cert.Leaf); !bytes.Equal(got, want[:]) {
		t.Errorf("KeySHA256 = %x, want %x", got, want)
	}
	p, err := hacx.NewPin(cert.Leaf, "sha-512", "sha-256")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Digest("SHA-256"); !bytes.Equal(got, want[:]) {
		t.Errorf("Digest(SHA-256) = %x, want %x (hash names are case-insensitive)", got, want)
	}
	if got := p.Digest("sha-384"); got != nil {
		t.Errorf("Digest(sha-384) = %x for a pin without one", got)
	}
	if got := p.Digest("no-such-hash"); got != nil {
		t.Errorf("Digest of an unregistered name = %x", got)
	}
	if got, want := hacx.EncodeDigest(want[:]), base64.StdEncoding.EncodeToString(want[:]); got != want {
		t.Errorf("EncodeDigest = %s, want padded standard base64 %s", got, want)
	}
}

// TestDecodeDigest_OneSpelling: a digest read back from its text has one
// spelling; stray padding bits are refused.
func TestDecodeDigest_OneSpelling(t *testing.T) {
	sum := sha256.Sum256([]byte("key"))
	canonical := hacx.EncodeDigest(sum[:])
	got, err := hacx.DecodeDigest(canonical)
	if err != nil || !bytes.Equal(got, sum[:]) {
		t.Fatalf("DecodeDigest(%s) = %x, %v", canonical, got, err)
	}
	if _, err := hacx.DecodeDigest(strayBits(t, canonical)); err == nil {
		t.Errorf("DecodeDigest accepted %s, a second spelling of %s", strayBits(t, canonical), canonical)
	}
}

// strayBits returns b64 (32 bytes, one '=') with a padding bit set in its
// last character: the same bytes to a lenient decoder, not canonical.
func strayBits(t *testing.T, b64 string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	i := len(b64) - 2
	v := strings.IndexByte(alphabet, b64[i])
	if v < 0 || b64[i+1] != '=' || v&3 != 0 {
		t.Fatalf("%s is not a canonical 32-byte digest", b64)
	}
	return b64[:i] + string(alphabet[v|1]) + "="
}

// TestParsePin_ReadsString_A9: ParsePin reads what Pin.String writes, so
// a pin printed by hacx pin pastes into a configuration.
func TestParsePin_ReadsString_A9(t *testing.T) {
	p, err := hacx.NewPinSPKI([]byte("a SubjectPublicKeyInfo"), "sha-256", "sha-512")
	if err != nil {
		t.Fatal(err)
	}
	got, err := hacx.ParsePin(p.String())
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != p.String() {
		t.Errorf("ParsePin(%q).String() = %q", p.String(), got.String())
	}
	// Names in any case; extra spaces; values read leniently as pasted.
	v := hacx.EncodeDigest(p.Digest("sha-256"))
	got, err = hacx.ParsePin("  SHA-256=" + strayBits(t, v) + "  ")
	if err != nil || got.Digests[0].Hash != "sha-256" || !bytes.Equal(got.Digests[0].Value, p.Digest("sha-256")) {
		t.Errorf("ParsePin of an upper-case name and stray bits = %+v, %v", got, err)
	}
}

func TestParsePin_Refuses_A9(t *testing.T) {
	sum := sha256.Sum256([]byte("key"))
	good := "sha-256=" + hacx.EncodeDigest(sum[:])
	for _, tt := range []struct {
		in, want string
	}{
		{"", "no digest"},
		{"sha-1=2jmj7l5rSw0yVb/vlWAYkK/YBwk=", "sha-1 is too weak"},
		{"MD5=1B2M2Y8AsgTpgAmY7PhCfg==", "md5 is too weak"},
		{good + " blake3=AAAA", `"blake3" is not an IANA hash name`},
		{"sha-256=not-base64!", "sha-256 value is not base64"},
		{"sha-256=AAAA", "sha-256 value is 3 bytes, want 32"},
		{"sha-256", "sha-256 value is 0 bytes, want 32"},
	} {
		_, err := hacx.ParsePin(tt.in)
		se, ok := errors.AsType[*hacx.PinSyntaxError](err)
		if !ok || se.Text != tt.in || !strings.Contains(se.Msg, tt.want) {
			t.Errorf("ParsePin(%q) = %v, want a *PinSyntaxError saying %q", tt.in, err, tt.want)
			continue
		}
		if !strings.HasPrefix(err.Error(), "hacx: pin ") {
			t.Errorf("error %q lacks the package prefix", err)
		}
	}
}

// TestPinsFromPEM_EveryKey_A9: every certificate of a chain, public key
// and private key (by its public half) is pinned, in file order; blocks
// without a key are skipped; data without a key is an error.
func TestPinsFromPEM_EveryKey_A9(t *testing.T) {
	ca, err := hacxtest.NewCAWithIntermediate("pem")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("xmpp.example.org")
	if err != nil {
		t.Fatal(err)
	}
	chainPEM, keyPEM, err := hacxtest.CertPEM(cert)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pubDER, _ := x509.MarshalPKIXPublicKey(pub.Public())
	data := bytes.Join([][]byte{
		chainPEM,
		pem.EncodeToMemory(&pem.Block{Type: "DH PARAMETERS", Bytes: []byte("not a key")}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}),
		keyPEM,
	}, nil)
	kps, err := hacx.PinsFromPEM(data, "sha-256", "sha-384")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		subject string
		spki    []byte
	}{
		{"xmpp.example.org", cert.Leaf.RawSubjectPublicKeyInfo},
		{ca.Intermediate.Subject.CommonName, ca.Intermediate.RawSubjectPublicKeyInfo},
		{"public key", pubDER},
		{"private key (public half)", cert.Leaf.RawSubjectPublicKeyInfo},
	}
	if len(kps) != len(want) {
		t.Fatalf("%d pins, want %d: %+v", len(kps), len(want), kps)
	}
	for i, w := range want {
		k := kps[i]
		sum := sha256.Sum256(w.spki)
		if k.Subject != w.subject || !bytes.Equal(k.SPKI, w.spki) || !bytes.Equal(k.Pin.Digest("sha-256"), sum[:]) || len(k.Pin.Digests) != 2 {
			t.Errorf("pin %d = %q %s, want %q with sha-256 and sha-384 of its key", i+1, k.Subject, k.Pin, w.subject)
		}
	}

	for _, tt := range []struct {
		name string
		data []byte
		want string
	}{
		{"no PEM", []byte("not PEM\n"), "hacx: no certificate or key found in PEM data"},
		{"no key", pem.EncodeToMemory(&pem.Block{Type: "DH PARAMETERS", Bytes: []byte("x")}), "hacx: no certificate or key found"},
		{"bad certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("x")}), "hacx: PEM block 1: bad certificate"},
		{"bad key", append(chainPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte("x")})...), "hacx: PEM block 3: bad EC PRIVATE KEY"},
	} {
		if _, err := hacx.PinsFromPEM(tt.data); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, err := hacx.PinsFromPEM(chainPEM, "md5"); err == nil {
		t.Error("a weak hash made a pin")
	}
}

func TestPinsFromCerts_ChainOrder(t *testing.T) {
	ca, err := hacxtest.NewCAWithIntermediate("certs")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("xmpp.example.org")
	if err != nil {
		t.Fatal(err)
	}
	noName := *ca.Intermediate
	noName.Subject.CommonName = ""
	kps, err := hacx.PinsFromCerts([]*x509.Certificate{cert.Leaf, &noName})
	if err != nil {
		t.Fatal(err)
	}
	if len(kps) != 2 || kps[0].Subject != "xmpp.example.org" || kps[1].Subject != "certificate 2" ||
		!kps[0].Pin.MatchesCert(cert.Leaf) || !kps[1].Pin.MatchesCert(ca.Intermediate) {
		t.Errorf("pins %+v, want the leaf's then the unnamed intermediate's as certificate 2", kps)
	}
}

func ExamplePinsFromPEM() {
	// A public key in PEM, as "openssl pkey -pubout" writes it.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(key.Public())
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})

	pins, err := hacx.PinsFromPEM(pub, "sha-256")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(pins), pins[0].Subject, pins[0].Pin.MatchesSPKI(der))
	fmt.Println(pins[0].Pin.Element()[:25])
	// Output:
	// 1 public key true
	// <public-key-pin sha-256="
}

func ExampleParsePin() {
	_, err := hacx.ParsePin("sha-1=2jmj7l5rSw0yVb/vlWAYkK/YBwk=")
	fmt.Println(err)
	p, _ := hacx.ParsePin("sha-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
	fmt.Println(p.Element())
	// Output:
	// hacx: pin "sha-1=2jmj7l5rSw0yVb/vlWAYkK/YBwk=": sha-1 is too weak to pin with (A9); use sha-256
	// <public-key-pin sha-256="47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="/>
}

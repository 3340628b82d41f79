package ech

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestGenerateKey_RoundTripsThroughKeyFile_E4(t *testing.T) {
	k, err := GenerateKey("public.example")
	if err != nil {
		t.Fatal(err)
	}
	c := k.Config
	if c.PublicName != "public.example" || c.KEM != KEMX25519HKDFSHA256 ||
		len(c.Suites) != 1 || c.Suites[0] != (Suite{KDFHKDFSHA256, AEADAES128GCM}) || len(c.PublicKey) != 32 {
		t.Fatalf("config = %+v", c)
	}
	path := filepath.Join(t.TempDir(), "ech.pem")
	if err := k.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
	k2, err := ReadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k2.ConfigList(), k.ConfigList()) || !k2.PrivateKey.Equal(k.PrivateKey) || !k2.Created.Equal(k.Created) {
		t.Fatal("key file does not round-trip")
	}
}

func TestParseKey_MismatchedConfigRefused(t *testing.T) {
	a, _ := GenerateKey("a.example")
	b, _ := GenerateKey("b.example")
	pa, _ := a.MarshalPEM()
	pb, _ := b.MarshalPEM()
	// a's private key with b's configuration.
	mixed := append(pa[:bytes.Index(pa, []byte("-----BEGIN ECHCONFIG"))], pb[bytes.Index(pb, []byte("-----BEGIN ECHCONFIG")):]...)
	if _, err := ParseKey(mixed); err == nil {
		t.Fatal("a configuration for another key was accepted")
	}
	if _, err := ParseKey(pa[:bytes.Index(pa, []byte("-----BEGIN ECHCONFIG"))]); err == nil {
		t.Fatal("a file without configuration was accepted")
	}
}

func TestKeys_AllAcceptedNewestRetried_E4(t *testing.T) {
	old, _ := GenerateKey("p.example")
	cur, _ := GenerateKey("p.example")
	old.Created = cur.Created.Add(-time.Hour)
	ks := Keys{cur, old}
	if ks.Newest() != cur {
		t.Fatal("Newest is not the latest created")
	}
	tk := ks.TLS()
	if len(tk) != 2 || !tk[0].SendAsRetry || tk[1].SendAsRetry {
		t.Fatalf("TLS keys = %+v", tk)
	}
}

func TestParseConfigList_Invalid(t *testing.T) {
	k, _ := GenerateKey("p.example")
	good := k.ConfigList()
	other := MarshalList([]byte{0xfe, 0x0a, 0, 1, 0}) // another version, skipped
	withIP, _ := GenerateKey("p.example")
	ipList := bytes.Replace(withIP.ConfigList(), []byte("\x09p.example"), []byte("\x091.2.3.4.5"), 1)
	for name, b := range map[string][]byte{
		"empty":          {},
		"short length":   good[:len(good)-1],
		"trailing":       append(append([]byte(nil), good...), 0),
		"empty list":     {0, 0},
		"only other":     other,
		"ip public name": ipList,
	} {
		if _, err := ParseConfigList(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	both := MarshalList([]byte{0xfe, 0x0a, 0, 1, 0}, k.Config.Raw)
	cs, err := ParseConfigList(both)
	if err != nil || len(cs) != 1 || !bytes.Equal(cs[0].Raw, k.Config.Raw) {
		t.Fatalf("list with an unknown version first: %v %v", cs, err)
	}
	if _, _, err := DecodeList(base64.StdEncoding.EncodeToString(good)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := DecodeList("not base64!"); err == nil {
		t.Fatal("bad base64 accepted")
	}
}

func TestCheckPublicName(t *testing.T) {
	for name, ok := range map[string]bool{
		"example.org": true, "a-b.example": true, "example.org.": true,
		"": false, "192.0.2.1": false, "::1": false, "a..b": false, "-a.b": false,
		"a_b.example": false, "host.0x1f": false,
	} {
		if err := CheckPublicName(name); (err == nil) != ok {
			t.Errorf("%q: err = %v", name, err)
		}
	}
}

// FuzzParseConfigList: the parser never panics, and what it accepts
// re-serialises to the same bytes (each Raw joined back is the input minus
// skipped configurations).
func FuzzParseConfigList(f *testing.F) {
	k, _ := GenerateKey("p.example")
	f.Add(k.ConfigList())
	f.Add(MarshalList([]byte{0xfe, 0x0a, 0, 1, 0}, k.Config.Raw))
	f.Add([]byte{0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := ParseConfigList(b)
		if err != nil {
			return
		}
		var raws [][]byte
		for _, c := range cs {
			if CheckPublicName(c.PublicName) != nil || len(c.Suites) == 0 {
				t.Fatalf("accepted %+v", c)
			}
			raws = append(raws, c.Raw)
		}
		again, err := ParseConfigList(MarshalList(raws...))
		if err != nil || len(again) != len(cs) {
			t.Fatalf("re-parse: %v", err)
		}
	})
}

// TestSelect: the configuration a client uses is the first it supports;
// an unknown KEM or a mandatory extension it does not know is skipped.
func TestSelect(t *testing.T) {
	k, _ := GenerateKey("p.example")
	unknownKEM := bytes.Clone(k.Config.Raw)
	unknownKEM[5], unknownKEM[6] = 0x7f, 0x7f // kem_id after version, length, config_id
	mandatory := bytes.Clone(k.Config.Raw)
	mandatory = append(mandatory[:len(mandatory)-2], 0, 4, 0xfa, 0xce, 0, 0) // one mandatory extension
	mandatory[2], mandatory[3] = byte((len(mandatory)-4)>>8), byte(len(mandatory)-4)
	cs, err := ParseConfigList(MarshalList(unknownKEM, mandatory, k.Config.Raw))
	if err != nil || len(cs) != 3 {
		t.Fatalf("%v %v", cs, err)
	}
	c, err := Select(cs)
	if err != nil || !bytes.Equal(c.Raw, k.Config.Raw) {
		t.Fatalf("Select = %x, %v; want the third configuration", c.Raw, err)
	}
	if _, err := Select(cs[:2]); err == nil {
		t.Fatal("Select chose an unusable configuration")
	}
}

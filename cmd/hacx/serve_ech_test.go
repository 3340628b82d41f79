package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hacx.dev/hacx/ech"
)

// TestServeCheckConfig_ECHKey_E4: --check-config reads every --ech-key
// file: a good one passes, one that is not a key file is bad input.
func TestServeCheckConfig_ECHKey_E4(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "hacx.toml")
	if err := os.WriteFile(conf, []byte("[[domain]]\nname = \"example.org\"\n[[domain.client]]\nmethod = \"tls\"\nip = \"192.0.2.1\"\nport = 443\npriority = 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	k, err := ech.GenerateKey("example.org")
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "ech.pem")
	if err := k.WriteFile(good); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCmd(t, "", "serve", "--check-config", "--config", conf, "--ech-key", good); code != exitOK {
		t.Fatalf("good key: exit %d\n%s%s", code, out, errOut)
	}
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCmd(t, "", "serve", "--check-config", "--config", conf, "--ech-key", good, "--ech-key", bad)
	if code != exitUsage || !strings.Contains(errOut, "bad.pem") {
		t.Errorf("bad key: exit %d, stderr %q", code, errOut)
	}
}

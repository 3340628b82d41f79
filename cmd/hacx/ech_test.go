package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hacx.dev/hacx/ech"
)

// TestECHKeygen_E4: keygen writes a 0600 key file and prints the
// ECHConfigList it holds; a bad public name is a usage error; an existing
// file is kept without --force.
func TestECHKeygen_E4(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ech.pem")
	code, out, errOut := runCmd(t, "", "ech", "keygen", "--public-name", "front.example.test", "--out", path)
	if code != exitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	k, err := ech.ReadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	if strings.TrimSpace(out) != base64.StdEncoding.EncodeToString(k.ConfigList()) || k.Config.PublicName != "front.example.test" {
		t.Errorf("printed %q, file holds %s", out, k.Config.PublicName)
	}

	code, _, errOut = runCmd(t, "", "ech", "keygen", "--public-name", "front.example.test", "--out", path)
	if code != exitFail || !strings.Contains(errOut, "--force") {
		t.Errorf("existing file: exit %d, stderr %q", code, errOut)
	}
	if k2, _ := ech.ReadKeyFile(path); k2 == nil || !k2.PrivateKey.Equal(k.PrivateKey) {
		t.Error("the existing key was replaced")
	}
	code, out, _ = runCmd(t, "", "ech", "keygen", "--public-name", "front.example.test", "--out", path, "--force", "--json")
	var j echKeygenJSON
	if err := json.Unmarshal([]byte(out), &j); code != exitOK || err != nil || j.File != path || j.PublicName != "front.example.test" {
		t.Fatalf("--json: exit %d, %q", code, out)
	}
	if k3, _ := ech.ReadKeyFile(path); k3 == nil || base64.StdEncoding.EncodeToString(k3.ConfigList()) != j.ECH || k3.Config.ConfigID != j.ConfigID {
		t.Error("--json does not describe the file written")
	}

	for _, args := range [][]string{
		{"ech", "keygen", "--public-name", "192.0.2.1", "--out", path + "2"},
		{"ech", "keygen", "--out", path + "2"},
		{"ech", "nonsense"},
	} {
		if code, out, _ := runCmd(t, "", args...); code != exitUsage || out != "" {
			t.Errorf("%v: exit %d, stdout %q", args, code, out)
		}
	}
	if _, err := os.Stat(path + "2"); err == nil {
		t.Error("a file was written for a refused command")
	}
}

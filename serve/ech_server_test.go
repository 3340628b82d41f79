package serve

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/ech"
)

// echTOML is serverTOML with ech key files and the record's ech.
func echTOML(list []byte, keyFiles ...string) string {
	return `ech-keys = ["` + strings.Join(keyFiles, `", "`) + `"]
[[domain]]
name = "example.org"
ttl = 60
[[domain.client]]
method = "websocket"
ip = "127.0.0.1"
port = 443
priority = 1
url = "wss://example.org/ws"
ech = "` + base64.StdEncoding.EncodeToString(list) + `"
`
}

func writeECHKey(t *testing.T, dir, name string, created time.Time) *ech.Key {
	t.Helper()
	k, err := ech.GenerateKey("example.org")
	if err != nil {
		t.Fatal(err)
	}
	k.Created = created
	if err := k.WriteFile(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
	return k
}

// echDial is a TLS 1.3 handshake with ECH to the test server; the inner
// name is the domain and the public name the same (the test certificate
// names only example.org).
func (ts *testServer) echDial(t *testing.T, list []byte) (tls.ConnectionState, error) {
	t.Helper()
	c, err := tls.Dial("tcp", ts.addr, &tls.Config{ServerName: "example.org", RootCAs: ts.ca.Pool(),
		MinVersion: tls.VersionTLS13, EncryptedClientHelloConfigList: list})
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	return c.ConnectionState(), nil
}

// TestServer_ECHKeys_E4: with ech-keys, the TLS listener accepts ECH with
// every key (rotation), sends the newest as retry configuration to a
// client with an unknown one, and the records publish the ech configured;
// a key file that fails to load keeps the keys in service.
func TestServer_ECHKeys_E4(t *testing.T) {
	ts := startServer(t)
	if _, err := ts.echDial(t, mustKey(t).ConfigList()); err == nil {
		t.Fatal("ECH accepted by a server without keys")
	}
	now := time.Now().UTC().Truncate(time.Second)
	old := writeECHKey(t, ts.dir, "old.pem", now.Add(-time.Hour))
	cur := writeECHKey(t, ts.dir, "cur.pem", now)
	if err := WriteFile(ts.cfgPath, []byte(echTOML(cur.ConfigList(), "cur.pem", "old.pem")), 0o644); err != nil {
		t.Fatal(err)
	}
	if changed, err := ts.s.CheckFiles(); !changed || err != nil {
		t.Fatalf("CheckFiles = %v, %v", changed, err)
	}
	if !bytes.Equal(ts.s.ECHConfigList(), cur.ConfigList()) {
		t.Error("ECHConfigList is not the newest key's")
	}
	for name, k := range map[string]*ech.Key{"current": cur, "previous": old} {
		cs, err := ts.echDial(t, k.ConfigList())
		if err != nil || !cs.ECHAccepted {
			t.Errorf("%s key: accepted=%v err=%v", name, cs.ECHAccepted, err)
		}
	}
	_, err := ts.echDial(t, mustKey(t).ConfigList())
	var rej *tls.ECHRejectionError
	if !errors.As(err, &rej) || !bytes.Equal(rej.RetryConfigList, cur.ConfigList()) {
		t.Fatalf("unknown key: %v; want a rejection carrying the newest configuration", err)
	}

	res, err := ts.client().Get("https://example.org/.well-known/xmpp-client.xml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := hacx.ParseReader(res.Body)
	res.Body.Close()
	if err != nil || len(doc.Records) != 1 || !bytes.Equal(doc.Records[0].ECH, cur.ConfigList()) {
		t.Fatalf("published %v, %v; want the record with ech", doc, err)
	}

	if err := os.WriteFile(filepath.Join(ts.dir, "cur.pem"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(ts.cfgPath, []byte(echTOML(cur.ConfigList(), "cur.pem", "old.pem")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.s.CheckFiles(); err == nil || !strings.Contains(err.Error(), "ech-keys") {
		t.Fatalf("broken key file: %v", err)
	}
	if cs, err := ts.echDial(t, cur.ConfigList()); err != nil || !cs.ECHAccepted {
		t.Errorf("after a failed reload the keys in service were lost: %v", err)
	}
}

func mustKey(t *testing.T) *ech.Key {
	t.Helper()
	k, err := ech.GenerateKey("example.org")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestConfig_ECHRecord_E4: a record's ech must be a base64 ECHConfigList.
func TestConfig_ECHKeyFiles_E4(t *testing.T) {
	_, err := ParseConfig([]byte(echTOML(mustKey(t).ConfigList(), "missing.pem")), t.TempDir())
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "ech-keys") || !strings.Contains(err.Error(), "E4") {
		t.Errorf("missing key file: %v", err)
	}
}

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/discover"
	"hacx.dev/hacx/ech"
	"hacx.dev/hacx/hacxtest"
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

// TestCheck_ECHReported_E4: check reports per attempt whether ECH was
// accepted or rejected and the outer name, in text and JSON; an ech route
// offers no ALPN; a route without ech says none.
func TestCheck_ECHReported_E4(t *testing.T) {
	ca, _ := hacxtest.NewCA("check")
	cert, _ := ca.Issue(checkDomain, "front.example.test")
	k, err := ech.GenerateKey("front.example.test")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ech.GenerateKey("front.example.test")
	srv, err := hacxtest.StartXMPP("127.0.0.1:0", cert, hacxtest.XMPPConfig{ECHKeys: []tls.EncryptedClientHelloKey{{Config: k.Config.Raw, PrivateKey: k.PrivateKey.Bytes()}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	env := checkWorld(ca, nil, srv.Addr(), srv.Addr(), srv.Addr())
	lookup := env.lookup
	env.lookup = func(ctx context.Context, domain string, kind hacx.Kind) (*discover.Result, error) {
		res, err := lookup(ctx, domain, kind)
		res.Routes[0].ECH = other.ConfigList() // rejected, no retry configuration
		res.Routes[1].ECH = k.ConfigList()
		return res, err
	}
	code, out, _ := runCheckEnv(t, env, true, true)
	var rep checkReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Attempts) != 3 {
		t.Fatalf("exit %d, %v\n%s", code, err, out)
	}
	want := []struct {
		ok    bool
		ech   dial.ECHResult
		outer string
	}{{false, dial.ECHRejected, "front.example.test"}, {true, dial.ECHAccepted, "front.example.test"}, {true, dial.ECHNone, ""}}
	for i, w := range want {
		a := rep.Attempts[i]
		if a.OK != w.ok || a.ECH != w.ech || a.ECHOuter != w.outer {
			t.Errorf("attempt %d: ok=%v ech=%q outer=%q, want %+v (%s)", i+1, a.OK, a.ECH, a.ECHOuter, w, a.Error)
		}
		if (i < 2) != (a.ALPNSent == nil) {
			t.Errorf("attempt %d: alpn_sent %v", i+1, a.ALPNSent)
		}
	}
	var html bytes.Buffer
	if err := renderHTMLReport(&html, &rep, time.Now()); err != nil || !strings.Contains(html.String(), "ech accepted (outer sni front.example.test)") {
		t.Errorf("the HTML report does not show ECH (%v)", err)
	}
	_, text, _ := runCheckEnv(t, env, true, false)
	for _, s := range []string{"prio=1 weight=0 sni=xmpp.example.test alpn=xmpp-client ech\n", "ech rejected (outer sni front.example.test)", "ech accepted (outer sni front.example.test)", "ech none", "did not accept Encrypted Client Hello"} {
		if !strings.Contains(text, s) {
			t.Errorf("text report lacks %q:\n%s", s, text)
		}
	}
}

// TestLintAndFmt_ECH_E4: lint accepts a valid ech and reports a bad one as
// an E4 error; fmt keeps ech as it is.
func TestLintAndFmt_ECH_E4(t *testing.T) {
	doc, err := os.ReadFile("../../testdata/valid/ech.xml")
	if err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCmd(t, string(doc), "lint", "--strict", "-"); code != exitOK {
		t.Errorf("lint of a valid ech: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ := runCmd(t, string(doc), "fmt", "-")
	if code != exitOK || strings.Count(out, ` ech="AEX+DQ`) != 3 {
		t.Errorf("fmt: exit %d\n%s", code, out)
	}
	bad := `<hacx><tls ip="192.0.2.1" port="443" priority="0" ech="AAECAwQ="/></hacx>`
	code, out, errOut := runCmd(t, bad, "lint", "-")
	if code != exitUsage || !strings.Contains(out+errOut, "E4") {
		t.Errorf("lint of a bad ech: exit %d\n%s%s", code, out, errOut)
	}
}

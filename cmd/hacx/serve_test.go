package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/internal/testenv"
)

func TestServe_CheckConfig(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[[domain]]\nname = \"example.org\"\n[[domain.client]]\nmethod = \"tls\"\nip = \"xmpp.example.org\"\nport = 5223\n"), 0o644)
	tests := []struct {
		name string
		args []string
		code int
		out  string // in stdout+stderr
	}{
		{"example config", []string{"serve", "--check-config", "--config", "../../examples/hacx.toml"}, exitOK, "configuration OK: 1 domain"},
		{"bad ip with line_A1", []string{"serve", "--check-config", "--config", bad}, exitUsage, "line 5: domain[0].client[0].ip"},
		{"missing file", []string{"serve", "--check-config", "--config", filepath.Join(dir, "nope.toml")}, exitUsage, "no such file"},
		{"doc mode", []string{"serve", "--check-config", "--doc", "example.org=../../testdata/valid/draft-example-fixed.xml"}, exitOK, "1 domain"},
		{"no source", []string{"serve"}, exitUsage, "need --config"},
		{"both sources", []string{"serve", "--config", "x", "--doc", "a=b"}, exitUsage, "exclude"},
		{"bad doc flag", []string{"serve", "--doc", "nodomain"}, exitUsage, "DOMAIN=PATH"},
		{"no cert", []string{"serve", "--config", "../../examples/hacx.toml"}, exitUsage, "--acme-cache"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCmd(t, "", tt.args...)
			if code != tt.code || !strings.Contains(out+errs, tt.out) {
				t.Errorf("exit %d, want %d with %q\nstdout: %s\nstderr: %s", code, tt.code, tt.out, out, errs)
			}
		})
	}
}

func TestGen_WritesFilesAtomically_P5(t *testing.T) {
	out := t.TempDir()
	code, stdout, errs := runCmd(t, "", "gen", "--config", "../../examples/hacx.toml", "--out", out)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, name := range []string{"xmpp-client.xml", "xmpp-server.xml", "host-meta", "host-meta.json"} {
		p := filepath.Join(out, "example.org", ".well-known", name)
		if !strings.Contains(stdout, p) {
			t.Errorf("stdout does not list %s", p)
		}
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
	data, err := os.ReadFile(filepath.Join(out, "example.org", ".well-known", "xmpp-client.xml"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := hacx.Parse(data)
	if err != nil || doc.TTL != 300 || len(doc.Records) != 4 {
		t.Fatalf("generated client doc: %v, %+v", err, doc)
	}
	left, _ := filepath.Glob(filepath.Join(out, "example.org", ".well-known", ".*tmp*"))
	if len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}

	code, stdout, _ = runCmd(t, "", "gen", "--config", "../../examples/hacx.toml", "--kind", "server")
	if code != exitOK || !strings.Contains(stdout, `<tls ip="192.0.2.10" port="5270"`) {
		t.Errorf("gen --kind server to stdout: exit %d, %q", code, stdout)
	}
	if code, _, _ = runCmd(t, "", "gen", "--config", "../../examples/hacx.toml"); code != exitUsage {
		t.Errorf("several files to stdout: exit %d, want %d", code, exitUsage)
	}
	if code, _, _ = runCmd(t, "", "gen", "--config", "../../examples/hacx.toml", "--domain", "other.example"); code != exitNothing {
		t.Errorf("unknown domain: exit %d, want %d", code, exitNothing)
	}
}

func TestPin_MatchesNewPin_A9(t *testing.T) {
	ca, err := hacxtest.NewCAWithIntermediate("pin")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("xmpp.example.org")
	if err != nil {
		t.Fatal(err)
	}
	chainPEM, keyPEM, _ := hacxtest.CertPEM(cert)
	dir := t.TempDir()
	chain := filepath.Join(dir, "chain.pem")
	key := filepath.Join(dir, "key.pem")
	os.WriteFile(chain, chainPEM, 0o644)
	os.WriteFile(key, keyPEM, 0o600)

	leafPin, _ := hacx.NewPin(cert.Leaf, "sha-256", "sha-512")
	interPin, _ := hacx.NewPin(ca.Intermediate, "sha-256", "sha-512")
	wantLeaf := `<public-key-pin`
	for _, d := range leafPin.Digests {
		wantLeaf += ` ` + d.Hash + `="` + base64.StdEncoding.EncodeToString(d.Value) + `"`
	}
	wantLeaf += `/>`

	code, out, errs := runCmd(t, "", "pin", chain, "--hash", "sha-256,sha-512")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != exitOK || len(lines) != 2 {
		t.Fatalf("exit %d, %d lines: %s %s", code, len(lines), out, errs)
	}
	if !strings.HasPrefix(lines[0], wantLeaf) {
		t.Errorf("leaf line %q, want prefix %q", lines[0], wantLeaf)
	}

	// The private key file pins the same key as the leaf certificate.
	code, out, _ = runCmd(t, "", "pin", key, "--json")
	var js []pinJSON
	if code != exitOK || json.Unmarshal([]byte(out), &js) != nil || len(js) != 1 {
		t.Fatalf("exit %d, json %s", code, out)
	}
	want256, _ := hacx.NewPin(cert.Leaf)
	if got := "sha-256=" + js[0].Pins["sha-256"]; got != want256.String() {
		t.Errorf("key pin %s, want %s", got, want256)
	}

	// A live TLS server on loopback: the chain it presents, leaf first.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	code, out, errs = runCmd(t, "", "pin", ln.Addr().String(), "--sni", "xmpp.example.org", "--hash", "sha-256,sha-512")
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if code != exitOK || len(lines) != 2 || !strings.HasPrefix(lines[0], wantLeaf) {
		t.Fatalf("live pin: exit %d: %s %s", code, out, errs)
	}
	if !strings.Contains(lines[1], base64.StdEncoding.EncodeToString(interPin.Digests[0].Value)) {
		t.Errorf("second line %q is not the intermediate's pin", lines[1])
	}

	for _, args := range [][]string{{"pin"}, {"pin", "nope"}, {"pin", chain, "--hash", "md5"}} {
		if code, _, _ := runCmd(t, "", args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

// TestPin_Diagnostics_OnePrefix: pin's PEM errors come from package hacx;
// like every diagnostic they start with "hacx pin: " alone, not
// "hacx pin: hacx: " nor with a package prefix after the file name.
func TestPin_Diagnostics_OnePrefix(t *testing.T) {
	refused, err := loopback.RefusedAddr("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(junk, []byte("not PEM\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		arg  string
		code int
		want string
	}{
		{refused.String(), exitFail, "hacx pin: " + refused.String() + ": "},
		{junk, exitUsage, "hacx pin: " + junk + ": no certificate or key found"},
	} {
		code, out, errs := runCmd(t, "", "pin", tt.arg)
		if code != tt.code || out != "" || !strings.HasPrefix(errs, tt.want) || strings.Count(errs, "\n") != 1 || strings.Contains(errs, "serve:") || strings.Contains(errs, ": hacx:") {
			t.Errorf("pin %s: exit %d, stdout %q, stderr %q; want exit %d and one line starting %q", tt.arg, code, out, errs, tt.code, tt.want)
		}
	}
}

func TestServe_CheckConfigWithCert_BackupPin_P2(t *testing.T) {
	ca, err := hacxtest.NewCAWithIntermediate("check")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("example.org")
	if err != nil {
		t.Fatal(err)
	}
	chainPEM, keyPEM, _ := hacxtest.CertPEM(cert)
	dir := t.TempDir()
	chain := filepath.Join(dir, "chain.pem")
	os.WriteFile(chain, chainPEM, 0o644)
	os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600)
	leaf, _ := hacx.NewPin(cert.Leaf)
	inter, _ := hacx.NewPin(ca.Intermediate)
	conf := func(pins ...string) string {
		p := filepath.Join(dir, "hacx.toml")
		os.WriteFile(p, []byte("[[domain]]\nname = \"example.org\"\n[domain.hpkp]\nmax-age = 60\npins = [\""+
			strings.Join(pins, `", "`)+"\"]\n[[domain.client]]\nmethod = \"tls\"\nip = \"127.0.0.1\"\nport = 5223\npriority = 1\n"), 0o644)
		return p
	}
	code, out, errs := runCmd(t, "", "serve", "--check-config", "--config", conf(leaf.String(), inter.String()), "--cert", chain, "--key", "k")
	if code != exitUsage || !strings.Contains(errs, "line 5: domain[0].hpkp.pins: every HPKP pin") {
		t.Errorf("no backup pin: exit %d\n%s%s", code, out, errs)
	}
	const backup, backup2 = "sha-256=E9CZ9INDbd+2eRQozYqqbQ2yXLVKB9+xcprMF+44U1g=", "sha-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
	code, out, errs = runCmd(t, "", "serve", "--check-config", "--config", conf(leaf.String(), backup), "--cert", chain)
	if code != exitOK {
		t.Errorf("with a backup pin: exit %d\n%s%s", code, out, errs)
	}
	// Clients ignore a policy none of whose pins matches the chain they
	// validated (RFC 7469 section 2.5).
	code, out, errs = runCmd(t, "", "serve", "--check-config", "--config", conf(backup, backup2), "--cert", chain)
	if code != exitUsage || !strings.Contains(errs, "line 5: domain[0].hpkp.pins: no HPKP pin") {
		t.Errorf("no pin of the served chain: exit %d\n%s%s", code, out, errs)
	}
	// ACME renews onto new keys: any HPKP policy is refused.
	code, out, errs = runCmd(t, "", "serve", "--check-config", "--config", conf(leaf.String(), backup), "--acme-cache", t.TempDir())
	if code != exitUsage || !strings.Contains(errs, "line 5: domain[0].hpkp.pins: HPKP for example.org cannot be used with ACME") {
		t.Errorf("HPKP with ACME: exit %d\n%s%s", code, out, errs)
	}
	// Without a chain, the policy is valid but not checked: say so.
	code, out, errs = runCmd(t, "", "serve", "--check-config", "--config", conf(leaf.String(), backup))
	if code != exitOK || !strings.Contains(errs, "HPKP policy of example.org not checked") {
		t.Errorf("HPKP without --cert: exit %d\n%s%s", code, out, errs)
	}
}

func TestServe_ACMEDirectory_Pebble_P1(t *testing.T) {
	testenv.Require(t, testbed.PebbleAvailable())
	pb, err := testbed.StartPebble(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer pb.Close()
	addr := freeLoopbackAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errs bytes.Buffer
	go func() {
		done <- run(ctx, []string{"serve", "--config", "../../examples/hacx.toml", "--listen", addr, "--http-listen", "",
			"--acme-cache", t.TempDir(), "--acme-directory", pb.DirectoryURL, "--acme-ca-file", pb.CAFile, "--poll", "0"},
			&stdio{in: strings.NewReader(""), out: io.Discard, err: &errs})
	}()
	defer func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("hacx serve exit %d: %s", code, errs.String())
		}
	}()
	roots, err := pb.Roots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
		},
		Timeout: 60 * time.Second, // the first handshake waits for issuance
	}
	var res *http.Response
	for {
		// hacx serve listens once its configuration is loaded.
		if res, err = c.Get("https://example.org/.well-known/xmpp-server.xml"); err == nil || ctx.Err() != nil {
			break
		}
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" {
			t.Fatalf("fetch: %v\n%s", err, errs.String())
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("hacx serve exited %d: %s", code, errs.String())
		case <-time.After(20 * time.Millisecond): // poll interval, not a timing assumption
		}
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `port="5270"`) {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	if cn := res.TLS.PeerCertificates[0]; cn.VerifyHostname("example.org") != nil {
		t.Errorf("served certificate is not for example.org: %v", cn.DNSNames)
	}
}

// TestServe_StartupBadCertificate_P1: nothing is served yet, so an
// unreadable or invalid certificate or key at start-up is bad input: one
// clear line naming the file, exit 2, and not the reload message about a
// previous certificate that does not exist.
func TestServe_StartupBadCertificate_P1(t *testing.T) {
	ca, cert := testCert(t, "startup", "example.org")
	certPEM, keyPEM, _ := hacxtest.CertPEM(cert)
	other, _ := ca.Issue("example.org")
	_, otherKey, _ := hacxtest.CertPEM(other)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, key := write("cert.pem", certPEM), write("key.pem", keyPEM)
	junk, wrongKey := write("junk.pem", []byte("not a certificate\n")), write("other.key", otherKey)
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name, cert, key, want string
	}{
		{"missing cert", missing, key, "missing.pem: no such file"},
		{"missing key", good, missing, "missing.pem: no such file"},
		{"not PEM", junk, key, "junk.pem"},
		{"key of another certificate", good, wrongKey, "other.key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCmd(t, "", "serve", "--config", "../../examples/hacx.toml", "--cert", tt.cert, "--key", tt.key,
				"--listen", "127.0.0.1:0", "--http-listen", "", "--poll", "0")
			lines := strings.Split(strings.TrimSuffix(errs, "\n"), "\n")
			if code != exitUsage || out != "" || len(lines) != 1 {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 and one line", code, out, errs)
			}
			if !strings.HasPrefix(lines[0], "hacx serve: certificate: ") || !strings.Contains(lines[0], tt.want) {
				t.Errorf("stderr %q, want \"hacx serve: certificate: \" naming %q", lines[0], tt.want)
			}
			if strings.Contains(errs, "reload") || strings.Contains(errs, "previous") {
				t.Errorf("start-up failure worded as a reload: %q", errs)
			}
		})
	}

	// The configuration is checked at start-up the same way: every
	// problem, exit 2.
	badCfg := write("bad.toml", []byte("x = 1\n[[domain]]\nname = \"example.org\"\n"))
	code, _, errs := runCmd(t, "", "serve", "--config", badCfg, "--cert", good, "--key", key,
		"--listen", "127.0.0.1:0", "--http-listen", "", "--poll", "0")
	if code != exitUsage || !strings.Contains(errs, "hacx serve: "+badCfg+": line 1: x: unknown setting") || strings.Contains(errs, "reload") {
		t.Errorf("invalid configuration at start-up: exit %d, stderr %q", code, errs)
	}
}

// TestServe_HTTPListenDefaultsToListenHost_P1: without --http-listen,
// plain HTTP listens on the --listen host, port 80, not on port 80 of
// every address. Port 80 of a loopback address of the test's own is held
// (when the test may), so the command fails to bind it either way and
// says where it tried; the context is cancelled, so a command that bound
// something would stop at once.
func TestServe_HTTPListenDefaultsToListenHost_P1(t *testing.T) {
	const ip = "127.0.0.77"
	if hold, err := net.Listen("tcp", ip+":80"); err == nil {
		defer hold.Close()
	} // else not permitted (not root) or taken: binding fails just the same
	_, _, certFile, keyFile := certFiles(t, "http listen", t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errs bytes.Buffer
	code := run(ctx, []string{"serve", "--doc", "example.org=../../testdata/valid/draft-example-fixed.xml",
		"--cert", certFile, "--key", keyFile, "--listen", ip + ":0", "--poll", "0"},
		&stdio{in: strings.NewReader(""), out: &out, err: &errs})
	if code != exitFail || !strings.Contains(errs.String(), "listen tcp "+ip+":80: ") {
		t.Errorf("exit %d, stderr %q; want exit 1 failing to listen on %s:80", code, errs.String(), ip)
	}
	_, _, help := runCmd(t, "", "serve", "-h")
	if !strings.Contains(help, "default: the --listen host, port 80") {
		t.Errorf("serve -h does not give the --http-listen default:\n%s", help)
	}
}

// TestServe_FilesReadBeforeListening_P1: documents, configuration,
// certificate and key are read before any port is bound: with the HTTPS
// port taken, a missing file is still reported as missing, exit 2.
func TestServe_FilesReadBeforeListening_P1(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	_, _, certFile, keyFile := certFiles(t, "files first", dir)
	missing := filepath.Join(dir, "missing")
	doc := "example.org=../../testdata/valid/draft-example-fixed.xml"
	tests := []struct {
		name string
		args []string
	}{
		{"document", []string{"--doc", "example.org=" + missing, "--cert", certFile, "--key", keyFile}},
		{"configuration", []string{"--config", missing, "--cert", certFile, "--key", keyFile}},
		{"certificate", []string{"--doc", doc, "--cert", missing, "--key", keyFile}},
		{"key", []string{"--doc", doc, "--cert", certFile, "--key", missing}},
	}
	// Cancelled: a command that got past its files would stop at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errs bytes.Buffer
			args := append([]string{"serve", "--listen", taken.Addr().String(), "--http-listen", "", "--poll", "0"}, tt.args...)
			code := run(ctx, args, &stdio{in: strings.NewReader(""), out: &out, err: &errs})
			if code != exitUsage || !strings.Contains(errs.String(), missing+": no such file") || strings.Contains(errs.String(), "address already in use") {
				t.Errorf("exit %d, stderr %q; want exit 2 naming the missing %s", code, errs.String(), tt.name)
			}
		})
	}
}

// TestServe_SelfSigned_P1: --self-signed serves at once with a
// certificate made for the configured domains, says loudly that it is
// not for production, and removes its files on exit.
func TestServe_SelfSigned_P1(t *testing.T) {
	addr := freeLoopbackAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var errs testbed.SyncBuffer
	go func() {
		done <- run(ctx, []string{"serve", "--doc", "example.org=../../testdata/valid/draft-example-fixed.xml", "--self-signed",
			"--listen", addr, "--http-listen", "", "--poll", "0"},
			&stdio{in: strings.NewReader(""), out: io.Discard, err: &errs})
	}()
	waitListening(t, addr, done, &errs)
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "example.org", InsecureSkipVerify: true}) // checked below
	if err != nil {
		t.Fatal(err)
	}
	leaf := c.ConnectionState().PeerCertificates[0]
	c.Close()
	if err := leaf.VerifyHostname("example.org"); err != nil {
		t.Errorf("certificate not for the served domain: %v", err)
	}
	if err := leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil || !bytes.Equal(leaf.RawIssuer, leaf.RawSubject) {
		t.Errorf("certificate not self-signed: %v", err)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("exit %d: %s", code, errs.String())
	}
	warning := errs.String()
	if !strings.Contains(warning, "hacx serve: warning: --self-signed") || !strings.Contains(warning, "NOT FOR PRODUCTION") {
		t.Errorf("no start-up warning that the certificate is not for production:\n%s", warning)
	}
	if _, rest, ok := strings.Cut(warning, "it is in "); ok {
		file, _, _ := strings.Cut(rest, " ")
		if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind after exit (%v)", file, err)
		}
	} else {
		t.Errorf("the warning does not name the certificate file:\n%s", warning)
	}
	_, _, help := runCmd(t, "", "serve", "-h")
	if !strings.Contains(help, "-self-signed") || !strings.Contains(help, "NOT FOR PRODUCTION") {
		t.Errorf("serve -h does not present --self-signed as not for production:\n%s", help)
	}
}

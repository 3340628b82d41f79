package testbed_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/internal/testenv"
)

// TestProsody starts the real server and reads its stream header over
// direct TLS, with and without SNI (A5): the endpoint later tests rely on.
func TestProsody(t *testing.T) {
	if err := testbed.ProsodyAvailable(); err != nil {
		testenv.Require(t, err)
	}
	ca, err := hacxtest.NewCA("prosody")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("example.test")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := testbed.StartProsody(ctx, testbed.ProsodyConfig{Domain: "example.test", IP: "127.0.0.5", Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Register(ctx, "alice", "secret"); err != nil {
		t.Fatal(err)
	}
	for _, sni := range []string{"example.test", ""} {
		conn, err := tls.Dial("tcp", p.TLSAddr.String(), &tls.Config{ServerName: sni, RootCAs: ca.Pool(), InsecureSkipVerify: sni == ""})
		if err != nil {
			t.Fatalf("sni %q: %v", sni, err)
		}
		if sni == "" && conn.ConnectionState().PeerCertificates[0].VerifyHostname("example.test") != nil {
			t.Errorf("no-SNI connection got a certificate for another name")
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		conn.Write([]byte("<?xml version='1.0'?><stream:stream to='example.test' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"))
		var got []byte
		buf := make([]byte, 4096)
		for !bytes.Contains(got, []byte("</stream:features>")) {
			n, err := conn.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				t.Fatalf("sni %q: read: %v (got %q)", sni, err, got)
			}
		}
		if !bytes.Contains(got, []byte("from='example.test'")) {
			t.Errorf("sni %q: stream header %q", sni, got)
		}
		conn.Close()
	}
}

// TestProsody_CloseIsPrompt: Close ends Prosody at once and it no longer
// answers. A polite SIGTERM cost 2 s (the grace period of runuser, which
// used to start it, on top of Prosody's own shutdown of up to 1 s): every test
// and "hacx demo --prosody" paid at the end; nothing of a test Prosody is
// kept, so it needs no clean shutdown.
func TestProsody_CloseIsPrompt(t *testing.T) {
	testenv.Require(t, testbed.ProsodyAvailable())
	ca, err := hacxtest.NewCA("prosody close")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("example.test")
	if err != nil {
		t.Fatal(err)
	}
	p, err := testbed.StartProsody(context.Background(), testbed.ProsodyConfig{Domain: "example.test", IP: "127.0.0.5", Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	// A bound, not a measurement: the grace periods above are fixed
	// seconds, a kill takes milliseconds.
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Close took %v, want well under 1 s", took)
	}
	if c, err := net.Dial("tcp", p.TLSAddr.String()); err == nil {
		c.Close()
		t.Errorf("Prosody still accepts connections on %s after Close", p.TLSAddr)
	}
	if err := p.Close(); err != nil { // a second Close must not hang
		t.Errorf("second Close: %v", err)
	}
}

package main

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/xmppstream"
)

// startPlainC2S is a plain c2s listener on loopback standing for the XMPP
// server behind the gateway: it answers a stream header with its own,
// from the domain asked, and features, then echoes what it gets.
func startPlainC2S(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				h, err := xmppstream.ReadClientOpen(c, hacx.Client)
				if err != nil {
					return
				}
				xmppstream.WriteServerOpen(c, h.To, "upstream", hacx.Client)
				xmppstream.WriteFeatures(c, loopback.Features(hacx.Client))
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// TestServe_QUICFlag_Q1: hacx serve --quic takes XMPP over QUIC on UDP at
// the --listen address and relays it to --c2s; a client dialing the QUIC
// route gets the upstream's verified stream.
func TestServe_QUICFlag_Q1(t *testing.T) {
	ca, cert := testCert(t, "serve-quic", "quic.test")
	certPEM, keyPEM, err := hacxtest.CertPEM(cert)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if os.WriteFile(certFile, certPEM, 0o644) != nil || os.WriteFile(keyFile, keyPEM, 0o600) != nil {
		t.Fatal("writing the certificate")
	}
	up := startPlainC2S(t)
	g := startGatewayCmd(t, context.Background(), "127.0.0.1", "--domain", "quic.test", "--c2s", up,
		"--public-ip", "127.0.0.1", "--cert", certFile, "--key", keyFile, "--quic")
	addr := netip.MustParseAddrPort(g.addr)
	d := &dial.Dialer{Roots: ca.Pool(), TLSA: dial.NoDANE, Memory: dial.NoMemory}
	c, err := d.DialRoutes(context.Background(), "quic.test", hacx.Client, []hacx.Route{{
		Method: hacx.MethodQUIC, Addr: addr, SNI: "quic.test", HasSNI: true, Source: hacx.SourceStatic, Index: 1}})
	if err != nil {
		t.Fatalf("%v\n%s", err, g.stderr)
	}
	defer c.Close()
	if c.Header.ID != "upstream" || c.Header.From != "quic.test" || c.Attempts[0].QUICVersion == "" {
		t.Fatalf("header %+v, attempt %+v", c.Header, c.Attempts[0])
	}
}

package testbed_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"hacx.dev/hacx/internal/testbed"
)

func startBed(t *testing.T) *testbed.Bed {
	t.Helper()
	b, err := testbed.NewBed(context.Background(), testbed.BedConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// client fetches over the bed's network the way a discover.Resolver does:
// verified against the bed CA, every NAME:443 landing on the publisher.
func client(b *testbed.Bed, n *testbed.Network) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:             nil,
		DialContext:       n.HTTPSDial,
		TLSClientConfig:   &tls.Config{RootCAs: b.CA.Pool()},
		DisableKeepAlives: true,
	}}
}

func get(t *testing.T, c *http.Client, url string) (int, string, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), nil
}

// TestBed_PublisherOverridesAndSite_H1_H4: https://DOMAIN/ lands on the
// publisher with a certificate from the bed CA; no site means 404 (H4);
// Handle overrides a path before the site.
func TestBed_PublisherOverridesAndSite_H1_H4(t *testing.T) {
	b := startBed(t)
	n := b.Network()
	c := client(b, n)
	u := "https://" + b.Domain + "/.well-known/xmpp-client.xml"
	if code, _, err := get(t, c, u); err != nil || code != http.StatusNotFound {
		t.Fatalf("empty bed: %d %v, want 404", code, err)
	}
	b.SetSite(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "site") }))
	b.Handle("/.well-known/xmpp-client.xml", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "override") }))
	for path, want := range map[string]string{"/.well-known/xmpp-client.xml": "override", "/other": "site"} {
		if code, body, err := get(t, c, "https://"+b.Domain+path); err != nil || code != 200 || body != want {
			t.Errorf("%s: %d %q %v, want %q", path, code, body, err, want)
		}
	}
	b.Reset()
	if code, _, err := get(t, c, u); err != nil || code != http.StatusNotFound {
		t.Errorf("after Reset: %d %v, want 404", code, err)
	}
}

// TestBed_NetworkBlocksAndStaysOnLoopback: the firewall rejects blocked
// addresses at once, and nothing outside loopback is ever dialed.
func TestBed_NetworkBlocksAndStaysOnLoopback(t *testing.T) {
	b := startBed(t)
	n := b.Network()
	ctx := context.Background()
	n.Block(b.TLS.String())
	if _, err := n.RouteDial(ctx, "tcp", b.TLS.String()); !errors.Is(err, testbed.ErrBlocked) {
		t.Errorf("blocked route: %v, want ErrBlocked", err)
	}
	n.Unblock(b.TLS.String())
	conn, err := n.RouteDial(ctx, "tcp", b.TLS.String())
	if err != nil {
		t.Fatalf("unblocked route: %v", err)
	}
	conn.Close()
	// 192.0.2.1 is documentation space: it must be refused before any
	// packet is sent.
	for _, addr := range []string{"192.0.2.1:5223", "[2001:db8::1]:443"} {
		if _, err := n.RouteDial(ctx, "tcp", addr); err == nil {
			t.Errorf("RouteDial %s succeeded", addr)
		}
	}
	if _, err := n.HTTPSDial(ctx, "tcp", "192.0.2.1:443"); err == nil {
		t.Error("HTTPSDial to a non-loopback IP succeeded")
	}
	n.Block(b.Domain + ":443")
	if _, err := n.HTTPSDial(ctx, "tcp", b.Domain+":443"); !errors.Is(err, testbed.ErrBlocked) {
		t.Errorf("blocked fetch: %v", err)
	}
}

// TestBed_EndpointsOnDistinctLoopbackAddresses and Close stops them all.
func TestBed_CloseStopsEverything(t *testing.T) {
	b, err := testbed.NewBed(context.Background(), testbed.BedConfig{})
	if err != nil {
		t.Fatal(err)
	}
	addrs := map[string]string{
		"publisher": b.Publisher.String(), "tls": b.TLS.String(), "websocket": b.WebSocket.String(),
		"bosh": b.BOSH.String(), "blackhole": b.Blackholes[0].String(), "http-only": b.HTTPOnly.String(),
		"smtp": b.SMTP.String(), "wrong-domain": b.WrongDomain.String(), "rogue": b.RogueCA.String(),
		"other-key": b.OtherKey.String(), "dns": b.DNS.Addr,
	}
	d := net.Dialer{Timeout: time.Second}
	for name, a := range addrs {
		c, err := d.Dial("tcp", a)
		if err != nil {
			t.Errorf("%s %s not listening: %v", name, a, err)
			continue
		}
		c.Close()
	}
	if c, err := d.Dial("tcp", b.Refused.String()); err == nil {
		c.Close()
		t.Errorf("refused address %s accepts", b.Refused)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for name, a := range addrs {
		if c, err := d.Dial("tcp", a); err == nil {
			c.Close()
			t.Errorf("%s %s still listening after Close", name, a)
		}
	}
}

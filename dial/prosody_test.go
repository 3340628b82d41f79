package dial_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/internal/testenv"
)

// TestProsody_AllTransports dials a real Prosody (Debian's package) over each
// method a HACX document can name, as the document would describe it: exact
// SNI or none (A5), ALPN (A6), TCP to ip:port with the URL host in Host (A8),
// leaf pins (A9) and WebPKI (A10), and a stream from the right domain (C4).
func TestProsody_AllTransports(t *testing.T) {
	if err := testbed.ProsodyAvailable(); err != nil {
		testenv.Require(t, err)
	}
	const domain = "prosody.test"
	ca, err := hacxtest.NewCA("prosody")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(domain)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := testbed.StartProsody(ctx, testbed.ProsodyConfig{Domain: domain, IP: "127.0.0.6", Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pin, err := hacx.NewPin(cert.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	rogue, err := hacxtest.SelfSigned(domain)
	if err != nil {
		t.Fatal(err)
	}
	wrongPin, _ := hacx.NewPin(rogue.Leaf)

	tests := []struct {
		name     string
		route    hacx.Route
		verified dial.Verification
		wantErr  bool
	}{
		{"tls with SNI, WebPKI", hacx.Route{Method: hacx.MethodTLS, Addr: p.TLSAddr, SNI: domain, HasSNI: true}, dial.VerifiedWebPKI, false},
		{"tls without SNI, WebPKI by hand (A5)", hacx.Route{Method: hacx.MethodTLS, Addr: p.TLSAddr}, dial.VerifiedWebPKI, false},
		{"tls with ALPN xmpp-client (A6)", hacx.Route{Method: hacx.MethodTLS, Addr: p.TLSAddr, SNI: domain, HasSNI: true, ALPN: []byte("xmpp-client")}, dial.VerifiedWebPKI, false},
		{"tls with leaf pin (A9)", hacx.Route{Method: hacx.MethodTLS, Addr: p.TLSAddr, Pins: []hacx.Pin{pin}}, dial.VerifiedPin, false},
		{"tls with wrong pin refused (A9)", hacx.Route{Method: hacx.MethodTLS, Addr: p.TLSAddr, SNI: domain, HasSNI: true, Pins: []hacx.Pin{wrongPin}}, "", true},
		{"websocket (RFC 7395, A8)", hacx.Route{Method: hacx.MethodWebSocket, Addr: p.HTTPSAddr, SNI: domain, HasSNI: true, URL: p.WebSocketURL}, dial.VerifiedWebPKI, false},
		{"websocket without SNI, pinned", hacx.Route{Method: hacx.MethodWebSocket, Addr: p.HTTPSAddr, URL: p.WebSocketURL, Pins: []hacx.Pin{pin}}, dial.VerifiedPin, false},
		{"bosh (XEP-0206, A8)", hacx.Route{Method: hacx.MethodBOSH, Addr: p.HTTPSAddr, SNI: domain, HasSNI: true, URL: p.BOSHURL}, dial.VerifiedWebPKI, false},
	}
	d := dial.Dialer{Roots: ca.Pool(), TLSA: dial.NoDANE}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.route.Source = hacx.SourceStatic
			conn, err := d.DialRoutes(ctx, domain, hacx.Client, []hacx.Route{tt.route})
			if tt.wantErr {
				var de *dial.Error
				if err == nil || !errors.As(err, &de) {
					t.Fatalf("want *dial.Error, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\nprosody log:\n%s", err, p.Log())
			}
			defer conn.Close()
			if conn.Header == nil || conn.Header.From != domain {
				t.Errorf("header %+v", conn.Header)
			}
			if conn.Verified != tt.verified {
				t.Errorf("verified by %q, want %q", conn.Verified, tt.verified)
			}
			if tt.route.Method == hacx.MethodTLS && len(conn.Features) == 0 {
				t.Errorf("no stream features read from Prosody")
			}
		})
	}
}

// TestProsody_FallbackFromDeadRoutes: the document's first routes are dead
// (refused, blackholed); the real server behind the last one still wins (C3, C5).
func TestProsody_FallbackFromDeadRoutes(t *testing.T) {
	if err := testbed.ProsodyAvailable(); err != nil {
		testenv.Require(t, err)
	}
	const domain = "prosody.test"
	ca, _ := hacxtest.NewCA("prosody")
	cert, _ := ca.Issue(domain)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := testbed.StartProsody(ctx, testbed.ProsodyConfig{Domain: domain, IP: "127.0.0.7", Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	hole, err := loopback.StartBlackhole("127.0.0.8:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	refused, err := loopback.RefusedAddr("127.0.0.8")
	if err != nil {
		t.Fatal(err)
	}
	routes := []hacx.Route{
		{Method: hacx.MethodTLS, Addr: refused, SNI: domain, HasSNI: true, Priority: 1},
		{Method: hacx.MethodTLS, Addr: hole.Addr(), SNI: domain, HasSNI: true, Priority: 2},
		{Method: hacx.MethodBOSH, Addr: p.HTTPSAddr, SNI: domain, HasSNI: true, URL: p.BOSHURL, Priority: 3},
	}
	d := dial.Dialer{Roots: ca.Pool(), TLSA: dial.NoDANE, Stagger: 100 * time.Millisecond,
		ConnectTimeout: 30 * time.Second, HandshakeTimeout: 30 * time.Second}
	start := time.Now()
	conn, err := d.DialRoutes(ctx, domain, hacx.Client, routes)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if conn.Route.Method != hacx.MethodBOSH || conn.Header.From != domain {
		t.Errorf("winner %v", conn.Route)
	}
	// The blackhole would cost the 30 s handshake timeout if tried alone.
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("took %v: the blackholed route was waited for", el)
	}
}

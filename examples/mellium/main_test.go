package main

import (
	"context"
	"crypto/x509"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/discover"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/internal/testenv"
)

// TestMellium_LoginAndMessageThroughHacx_C4: two mellium sessions with a
// real Prosody (Debian's package), each over a connection hacx dialed and
// verified (exact SNI, WebPKI for the domain, stream from the domain: C4)
// and handed over with StreamConn; alice's message reaches bob. Over each
// transport in turn: direct TLS, WebSocket and BOSH, the route the
// document lists being the only one.
func TestMellium_LoginAndMessageThroughHacx_C4(t *testing.T) {
	testenv.Require(t, testbed.ProsodyAvailable())
	const domain = "mellium.test"
	ca, err := hacxtest.NewCA("mellium")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(domain)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, err := testbed.StartProsody(ctx, testbed.ProsodyConfig{Domain: domain, IP: "127.0.0.12", Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, u := range []string{"alice", "bob"} {
		if err := p.Register(ctx, u, u+"-secret"); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []hacx.Route{
		{Method: hacx.MethodTLS, Addr: p.TLSAddr, SNI: domain, HasSNI: true, Source: hacx.SourceHACX},
		{Method: hacx.MethodWebSocket, Addr: p.HTTPSAddr, SNI: domain, HasSNI: true, URL: p.WebSocketURL, Source: hacx.SourceHACX},
		{Method: hacx.MethodBOSH, Addr: p.HTTPSAddr, SNI: domain, HasSNI: true, URL: p.BOSHURL, Source: hacx.SourceHACX},
	} {
		t.Run(string(r.Method), func(t *testing.T) {
			dialed := 0
			d := &dial.Dialer{
				Roots: ca.Pool(),
				TLSA:  dial.NoDANE,
				// What a HACX document for mellium.test listing this
				// one route would say.
				Routes: dial.RouteSourceFunc(func(_ context.Context, dom string, kind hacx.Kind) ([]hacx.Route, error) {
					if dom != domain || kind != hacx.Client {
						t.Errorf("routes asked for %s %v", dom, kind)
					}
					dialed++
					return []hacx.Route{r}, nil
				}),
			}
			loginAndMessage(ctx, t, d, p, domain)
			if dialed != 2 {
				t.Errorf("the route source was asked %d times, want once per login", dialed)
			}
		})
	}
}

// loginAndMessage logs bob and alice in with d; alice's message must
// reach bob's session.
func loginAndMessage(ctx context.Context, t *testing.T, d *dial.Dialer, p *testbed.Prosody, domain string) {
	t.Helper()
	bob, bobConn, err := Login(ctx, d, jid.MustParse("bob@"+domain), "bob-secret")
	if err != nil {
		t.Fatalf("bob: %v\nprosody log:\n%s", err, p.Log())
	}
	defer bob.Conn().Close()
	if bobConn.Verified != dial.VerifiedWebPKI || bob.State()&xmpp.Ready == 0 {
		t.Fatalf("bob's session: verified %q, state %v", bobConn.Verified, bob.State())
	}
	got := make(chan Message, 1)
	served := make(chan error, 1)
	go func() {
		served <- bob.Serve(xmpp.HandlerFunc(func(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
			if start.Name.Local != "message" {
				return nil
			}
			// t holds what follows the start tag: put it back in front, so
			// that the decoder sees the element whole.
			var m Message
			if err := xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(*start), t)).Decode(&m); err != nil {
				return err
			}
			select {
			case got <- m:
			default:
			}
			return nil
		}))
	}()

	alice, aliceConn, err := Login(ctx, d, jid.MustParse("alice@"+domain), "alice-secret")
	if err != nil {
		t.Fatalf("alice: %v\nprosody log:\n%s", err, p.Log())
	}
	defer alice.Conn().Close()
	if aliceConn.Route.Method != bobConn.Route.Method {
		t.Errorf("alice over %s, bob over %s", aliceConn.Route.Method, bobConn.Route.Method)
	}
	body := "hello bob, via hacx over " + string(aliceConn.Route.Method) + " " + time.Now().Format(time.RFC3339Nano)
	// To bob's full JID: his session receives it without having sent
	// presence first.
	if err := Send(ctx, alice, bob.LocalAddr(), body); err != nil {
		t.Fatal(err)
	}
	if err := alice.Close(); err != nil {
		t.Fatal(err)
	}

	select {
	case m := <-got:
		if m.Body != body || !m.From.Bare().Equal(jid.MustParse("alice@"+domain)) {
			t.Errorf("bob got %q from %s, want %q from alice", m.Body, m.From, body)
		}
	case err := <-served:
		t.Fatalf("bob's stream ended before the message: %v\nprosody log:\n%s", err, p.Log())
	case <-ctx.Done():
		t.Fatalf("no message for bob\nprosody log:\n%s", p.Log())
	}
	bob.Close()
}

// TestDialer_Flags: -ca-file adds its roots to the system's for the
// routes and the HACX fetch alike, and -resolver names the DNS server
// discovery asks, as the hacx command's flags do.
func TestDialer_Flags(t *testing.T) {
	ca, err := hacxtest.NewCA("mellium-flags")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("flags.test")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := dialer("127.0.0.1:5353", file)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: d.Roots, DNSName: "flags.test"}); err != nil {
		t.Errorf("a certificate of the -ca-file CA does not verify with the dialer's roots: %v", err)
	}
	r, ok := d.Routes.(*discover.Resolver)
	if !ok || r.DNSServer != "127.0.0.1:5353" || r.Roots != d.Roots {
		t.Errorf("routes from %#v, want a Resolver asking 127.0.0.1:5353 with the same roots", d.Routes)
	}
	if _, err := dialer("", filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Error("a missing -ca-file was accepted")
	}
}

// TestRun_UsageErrors: bad invocations exit 2 with a usage line on
// stderr and nothing on stdout, before any network use.
func TestRun_UsageErrors(t *testing.T) {
	t.Setenv("XMPP_PASSWORD", "")
	for _, args := range [][]string{
		{},
		{"-jid", "alice@example.org"}, // no password anywhere
		{"-jid", "example.org", "-password", "p"}, // no localpart
		{"-jid", "alice@example.org", "-password", "p", "extra"},
		{"-jid", "alice@example.org", "-password", "p", "-to", "@bad"},
		{"-jid", "alice@example.org", "-password", "p", "-resolver", "dns.example.org"},
		{"-jid", "alice@example.org", "-password", "p", "-resolver", "ftp://127.0.0.1"},
		{"-jid", "alice@example.org", "-password", "p", "-resolver", "127.0.0.1:0"},
		{"-jid", "alice@example.org", "-password", "p", "-ca-file", "/nonexistent/ca.pem"},
		{"-nosuchflag"},
	} {
		var out, errOut strings.Builder
		if code := run(args, &out, &errOut); code != 2 || out.Len() != 0 || errOut.Len() == 0 {
			t.Errorf("run(%q) = %d, stdout %q, stderr %q; want 2 and a message on stderr", args, code, out.String(), errOut.String())
		}
	}
}

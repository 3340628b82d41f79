package main

import (
	"context"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/internal/testenv"
)

// TestMellium_LoginAndMessageThroughHacx_C4: two mellium sessions with a
// real Prosody (Debian's package), each over a connection hacx dialed and
// verified (direct TLS, exact SNI, WebPKI for the domain, stream from the
// domain: C4) and handed over with StreamConn; alice's message reaches bob.
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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
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
	dialed := 0
	d := &dial.Dialer{
		Roots: ca.Pool(),
		TLSA:  dial.NoDANE,
		// What a HACX document for mellium.test would say: one direct
		// TLS route with SNI.
		Routes: dial.RouteSourceFunc(func(_ context.Context, dom string, kind hacx.Kind) ([]hacx.Route, error) {
			if dom != domain || kind != hacx.Client {
				t.Errorf("routes asked for %s %v", dom, kind)
			}
			dialed++
			return []hacx.Route{{Method: hacx.MethodTLS, Addr: p.TLSAddr, SNI: domain, HasSNI: true, Source: hacx.SourceHACX}}, nil
		}),
	}

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

	alice, _, err := Login(ctx, d, jid.MustParse("alice@"+domain), "alice-secret")
	if err != nil {
		t.Fatalf("alice: %v\nprosody log:\n%s", err, p.Log())
	}
	defer alice.Conn().Close()
	body := "hello bob, via hacx " + time.Now().Format(time.RFC3339Nano)
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
	if dialed != 2 {
		t.Errorf("the route source was asked %d times, want once per login", dialed)
	}
	bob.Close()
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
		{"-nosuchflag"},
	} {
		var out, errOut strings.Builder
		if code := run(args, &out, &errOut); code != 2 || out.Len() != 0 || errOut.Len() == 0 {
			t.Errorf("run(%q) = %d, stdout %q, stderr %q; want 2 and a message on stderr", args, code, out.String(), errOut.String())
		}
	}
}

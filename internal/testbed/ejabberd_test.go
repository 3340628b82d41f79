package testbed

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/testenv"
	"hacx.dev/hacx/xmppstream"
)

// TestEjabberd starts the real server, registers two accounts at once,
// and checks that each of its c2s endpoints answers with a stream from
// its domain under the test CA's certificate: STARTTLS (S1), direct TLS
// and BOSH (C4). A message sent over STARTTLS to the offline account is
// counted by OfflineCount.
func TestEjabberd(t *testing.T) {
	testenv.Require(t, EjabberdAvailable())
	const domain = "ejabberd.test"
	ca, err := hacxtest.NewCA("ejabberd")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(domain)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e, err := StartEjabberd(ctx, EjabberdConfig{Domain: domain, IP: "127.0.0.41", Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, u := range []string{"alice", "bob"} {
		wg.Go(func() { errs[i] = e.Register(ctx, u, "secret-"+u) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Register(ctx, "alice", "again"); err == nil {
		t.Errorf("registering alice twice succeeded")
	}

	tlsCfg := &tls.Config{ServerName: domain, RootCAs: ca.Pool()}
	t.Run("starttls", func(t *testing.T) {
		c, err := net.Dial("tcp", e.StartTLSAddr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if f := ejabberdOpen(t, c, domain); !strings.Contains(f, "<required/>") {
			t.Errorf("STARTTLS is not required: %s", f)
		}
		io.WriteString(c, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
		ejabberdReadTo(t, c, "<proceed")
		tc := tls.Client(c, tlsCfg)
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		if f := ejabberdOpen(t, tc, domain); !strings.Contains(f, "PLAIN") {
			t.Fatalf("no PLAIN after STARTTLS: %s", f)
		}
		sendOffline(t, tc, domain, "alice", "secret-alice", "bob")
	})
	t.Run("tls", func(t *testing.T) {
		c, err := tls.Dial("tcp", e.TLSAddr.String(), tlsCfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		ejabberdOpen(t, c, domain)
	})
	t.Run("bosh", func(t *testing.T) {
		if !strings.HasPrefix(e.BOSHURL, "https://"+domain+":") {
			t.Fatalf("BOSH URL %s", e.BOSHURL)
		}
		hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			TLSClientConfig: tlsCfg,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, e.HTTPSAddr.String()) // A8
			},
		}}
		defer hc.CloseIdleConnections()
		resp, err := hc.Post(e.BOSHURL, xmppstream.BOSHContentType, bytes.NewReader(xmppstream.BOSHSessionRequest(domain, 1000, hacx.Client)))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("HTTP %s, %v: %s", resp.Status, err, body)
		}
		s, err := xmppstream.ParseBOSHSession(body, domain)
		if err != nil {
			t.Fatal(err)
		}
		if s.SID == "" || s.Header.From != domain {
			t.Errorf("session %+v", s)
		}
	})

	// mod_offline keeps the message for bob, who never connected.
	for {
		n, err := e.OfflineCount(ctx, "bob")
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if n > 1 || ctx.Err() != nil {
			t.Fatalf("bob has %d offline messages, want 1\n%s", n, e.Log())
		}
	}
	if n, err := e.OfflineCount(ctx, "alice"); err != nil || n != 0 {
		t.Errorf("alice has %d offline messages (%v), want 0", n, err)
	}
}

// ejabberdOpen opens a client stream on c and returns the features that
// follow the server's header, which must be from domain.
func ejabberdOpen(t *testing.T, c net.Conn, domain string) string {
	t.Helper()
	fmt.Fprintf(c, "<?xml version='1.0'?><stream:stream to='%s' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", domain)
	got := ejabberdReadTo(t, c, "</stream:features>")
	if !strings.Contains(got, "from='"+domain+"'") {
		t.Fatalf("stream header not from %s: %s", domain, got)
	}
	return got
}

// ejabberdReadTo reads c until what it read contains s.
func ejabberdReadTo(t *testing.T, c net.Conn, s string) string {
	t.Helper()
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, []byte(s)) {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("waiting for %q: %v (got %q)", s, err, got)
		}
	}
	return string(got)
}

// sendOffline logs in on a secured stream whose features were read (SASL
// PLAIN, restart, bind) and sends one message to an offline account.
func sendOffline(t *testing.T, c net.Conn, domain, user, pass, to string) {
	t.Helper()
	auth := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
	fmt.Fprintf(c, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>", auth)
	ejabberdReadTo(t, c, "<success")
	ejabberdOpen(t, c, domain)
	io.WriteString(c, "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
	ejabberdReadTo(t, c, "</iq>")
	fmt.Fprintf(c, "<message to='%s@%s' type='chat' id='m1'><body>hello</body></message>", to, domain)
	// The end of the stream is answered once the message was routed.
	io.WriteString(c, "</stream:stream>")
	ejabberdReadTo(t, c, "</stream:stream>")
}

// TestStartEjabberd_PortTakenRetries: the port picked first for c2s
// STARTTLS is held by a listener of the test. ejabberd cannot bind it and
// must be started again on new ports, with no VM left behind.
func TestStartEjabberd_PortTakenRetries(t *testing.T) {
	testenv.Require(t, EjabberdAvailable())
	const domain = "ejabberd-retry.test"
	ca, err := hacxtest.NewCA("ejabberd-retry")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(domain)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.42:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	held := uint16(l.Addr().(*net.TCPAddr).Port)
	calls := takeFirstPick(t, map[int]uint16{0: held})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e, err := StartEjabberd(ctx, EjabberdConfig{Domain: domain, IP: "127.0.0.42", Cert: cert})
	if err != nil {
		t.Fatalf("start with the first port taken: %v", err)
	}
	defer e.Close()
	if e.StartTLSAddr.Port() == held || *calls < 3 { // two picks per start-up
		t.Fatalf("ejabberd on %s after %d picks: the taken port %d was kept", e.StartTLSAddr, *calls, held)
	}
	c, err := net.Dial("tcp", e.StartTLSAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	ejabberdOpen(t, c, domain)
}

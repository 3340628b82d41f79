package loopback_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"hacx.dev/hacx"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/xmppstream"
)

const domain = "example.com"

type bed struct {
	ca   *hacxtest.CA
	cert *tls.Certificate
}

func newBed(t *testing.T) bed {
	t.Helper()
	ca, err := hacxtest.NewCA(t.Name())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(domain, "chat.example.com")
	if err != nil {
		t.Fatal(err)
	}
	return bed{ca, cert}
}

type closer interface{ Close() error }

func cleanup(t *testing.T, c closer) {
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

// dialTLS connects to addr with exactly the SNI and ALPN given (sni ""
// sends none, A5; alpn nil sends none, A6) and verifies the chain for
// domain by hand, as GO-NOTES says a no-SNI client must.
func dialTLS(t *testing.T, addr string, roots *x509.CertPool, sni string, alpn []string) (*tls.Conn, error) {
	t.Helper()
	cfg := &tls.Config{
		ServerName: sni, NextProtos: alpn,
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: domain, Roots: roots, Intermediates: inter})
			return err
		},
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c, nil
}

// openStream is the client side of C4 on a direct-TLS connection.
func openStream(c io.ReadWriter, kind hacx.Kind) (*xmppstream.Header, []byte, error) {
	if err := xmppstream.WriteOpen(c, domain, kind); err != nil {
		return nil, nil, err
	}
	return xmppstream.ReadOpen(c, domain, kind)
}

func TestXMPPServer_RecordsExactSNIAndALPN_A5_A6(t *testing.T) {
	b := newBed(t)
	s, err := loopback.StartXMPP("127.0.0.2:0", b.cert, loopback.XMPPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, s)
	if s.Addr().Addr().String() != "127.0.0.2" || s.Addr().Port() == 0 {
		t.Fatalf("Addr = %v", s.Addr())
	}
	tests := []struct {
		name string
		sni  string
		alpn []string
	}{
		{"sni and alpn", "chat.example.com", []string{"xmpp-client"}},
		{"no sni, no alpn", "", nil},
		{"sni only", domain, nil},
		{"alpn h2 only", "", []string{"h2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := dialTLS(t, s.Addr().String(), b.ca.Pool(), tc.sni, tc.alpn)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			h, feats, err := openStream(c, hacx.Client)
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			if h.From != domain || len(feats) == 0 {
				t.Errorf("header %+v features %q", h, feats)
			}
			got, _ := s.Last()
			if got.SNI != tc.sni || !slices.Equal(got.ALPN, tc.alpn) || (got.ALPN == nil) != (tc.alpn == nil) {
				t.Errorf("server saw SNI %q ALPN %q, client sent %q %q", got.SNI, got.ALPN, tc.sni, tc.alpn)
			}
			if !got.TLSDone || got.To != domain || got.Err != "" || got.Remote.Addr().String() != "127.0.0.1" {
				t.Errorf("contact = %+v", got)
			}
		})
	}
	if n := len(s.Contacts()); n != len(tests) {
		t.Errorf("%d contacts, want %d", n, len(tests))
	}
}

func TestXMPPServer_RequireALPN_A6(t *testing.T) {
	b := newBed(t)
	s, err := loopback.StartXMPP("127.0.0.2:0", b.cert, loopback.XMPPConfig{RequireALPN: "xmpp-client"})
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, s)
	if c, err := dialTLS(t, s.Addr().String(), b.ca.Pool(), domain, nil); err == nil {
		c.Close()
		t.Fatal("handshake without ALPN succeeded")
	}
	c, err := dialTLS(t, s.Addr().String(), b.ca.Pool(), domain, []string{"xmpp-client"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "xmpp-client" {
		t.Errorf("negotiated %q", p)
	}
	if _, _, err := openStream(c, hacx.Client); err != nil {
		t.Fatal(err)
	}
	cs := s.Contacts()
	if len(cs) != 2 || cs[0].Err == "" || cs[0].TLSDone || cs[1].Negotiated != "xmpp-client" {
		t.Errorf("contacts = %+v", cs)
	}
}

func TestXMPPServer_Variants_C3(t *testing.T) {
	b := newBed(t)
	tests := []struct {
		name  string
		cfg   loopback.XMPPConfig
		kind  hacx.Kind
		check func(*testing.T, error)
	}{
		{"server to server", loopback.XMPPConfig{Kind: hacx.Server}, hacx.Server, func(t *testing.T, err error) {
			if err != nil {
				t.Fatal(err)
			}
		}},
		{"wrong domain", loopback.XMPPConfig{Domain: "other.example"}, hacx.Client, func(t *testing.T, err error) {
			if !errors.Is(err, xmppstream.ErrWrongDomain) || !strings.Contains(err.Error(), "other.example") {
				t.Fatalf("got %v", err)
			}
		}},
		{"host-unknown", loopback.XMPPConfig{StreamError: "host-unknown"}, hacx.Client, func(t *testing.T, err error) {
			var se *xmppstream.StreamError
			if !errors.As(err, &se) || se.Condition != "host-unknown" {
				t.Fatalf("got %v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := loopback.StartXMPP("127.0.0.3:0", b.cert, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			cleanup(t, s)
			c, err := dialTLS(t, s.Addr().String(), b.ca.Pool(), domain, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, _, err = openStream(c, tc.kind)
			tc.check(t, err)
		})
	}
}

// A rogue CA is a good endpoint with another CA's certificate: the client
// that trusts only the real CA must refuse it (C3, A10).
func TestXMPPServer_RogueCA_C3(t *testing.T) {
	b := newBed(t)
	rogue, err := hacxtest.NewCA("rogue")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rogue.Issue(domain)
	if err != nil {
		t.Fatal(err)
	}
	s, err := loopback.StartXMPP("127.0.0.2:0", rc, loopback.XMPPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, s)
	_, err = dialTLS(t, s.Addr().String(), b.ca.Pool(), domain, nil)
	var ua x509.UnknownAuthorityError
	if !errors.As(err, &ua) {
		t.Fatalf("got %v, want an unknown-authority error", err)
	}
}

// Close ends streams in progress and returns only when the endpoint's
// goroutines are gone; it may be called twice.
func TestXMPPServer_CloseEndsStreams(t *testing.T) {
	b := newBed(t)
	s, err := loopback.StartXMPP("127.0.0.2:0", b.cert, loopback.XMPPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := dialTLS(t, s.Addr().String(), b.ca.Pool(), domain, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := openStream(c, hacx.Client); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("stream still open after Close")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); err == nil {
		t.Error("still listening after Close")
	}
}

func TestStart_RefusesNonLoopback(t *testing.T) {
	b := newBed(t)
	for _, addr := range []string{"192.0.2.1:0", "0.0.0.0:0", "localhost:0", "[::]:0"} {
		if s, err := loopback.StartXMPP(addr, b.cert, loopback.XMPPConfig{}); err == nil {
			s.Close()
			t.Errorf("StartXMPP(%q) listened", addr)
		}
	}
}

// wsClient dials the WebSocket endpoint at addr for URL u (whose host goes
// in the Host header, A8), offering subprotocol xmpp.
func wsClient(t *testing.T, ctx context.Context, b bed, addr, u string) (*websocket.Conn, error) {
	t.Helper()
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: b.ca.Pool()},
	}
	t.Cleanup(tr.CloseIdleConnections)
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{
		HTTPClient:   &http.Client{Transport: tr},
		Subprotocols: []string{xmppstream.WSSubprotocol},
	})
	return ws, err
}

func TestWebSocketServer_Good_C4_A8(t *testing.T) {
	b := newBed(t)
	s, err := loopback.StartWebSocket("127.0.0.2:0", b.cert, loopback.HTTPConfig{Path: "/xmpp-websocket"})
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, err := wsClient(t, ctx, b, s.Addr().String(), "wss://chat.example.com/xmpp-websocket")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if p := ws.Subprotocol(); p != "xmpp" {
		t.Fatalf("subprotocol %q", p)
	}
	if err := ws.Write(ctx, websocket.MessageText, xmppstream.WSOpen(domain)); err != nil {
		t.Fatal(err)
	}
	_, msg, err := ws.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := xmppstream.CheckWSOpen(msg, domain); err != nil {
		t.Fatal(err)
	}
	_, msg, err = ws.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := xmppstream.CheckWSFeatures(msg); err != nil {
		t.Fatal(err)
	}
	ws.Write(ctx, websocket.MessageText, xmppstream.WSClose())
	_, msg, err = ws.Read(ctx)
	if _, cerr := xmppstream.CheckWSOpen(msg, domain); err != nil || !errors.Is(cerr, xmppstream.ErrClosed) {
		t.Errorf("after <close/>: %q %v %v", msg, err, cerr)
	}
	got, _ := s.Last()
	if got.Host != "chat.example.com" || got.Path != "/xmpp-websocket" || got.SNI != "chat.example.com" ||
		!slices.Equal(got.Subprotocols, []string{"xmpp"}) || got.To != domain || got.Remote.Addr().String() != "127.0.0.1" {
		t.Errorf("contact = %+v", got)
	}

	// Another path is not served.
	if _, err := wsClient(t, ctx, b, s.Addr().String(), "wss://chat.example.com/other"); err == nil {
		t.Error("upgrade on another path succeeded")
	}
}

// RFC 7395 requires the xmpp subprotocol to be echoed; this endpoint
// accepts the upgrade without it, which the client must notice (C3).
func TestWebSocketServer_OmitSubprotocol_C3(t *testing.T) {
	b := newBed(t)
	s, err := loopback.StartWebSocket("127.0.0.3:0", b.cert, loopback.HTTPConfig{OmitSubprotocol: true})
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, err := wsClient(t, ctx, b, s.Addr().String(), "wss://example.com/ws")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if p := ws.Subprotocol(); p != "" {
		t.Errorf("subprotocol %q, want none", p)
	}
}

func TestWebSocketServer_StreamError_C3(t *testing.T) {
	b := newBed(t)
	s, err := loopback.StartWebSocket("127.0.0.2:0", b.cert, loopback.HTTPConfig{StreamError: "host-unknown"})
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, err := wsClient(t, ctx, b, s.Addr().String(), "wss://example.com/ws")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.Write(ctx, websocket.MessageText, xmppstream.WSOpen(domain))
	ws.Read(ctx) // <open/>
	_, msg, err := ws.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = xmppstream.CheckWSFeatures(msg)
	var se *xmppstream.StreamError
	if !errors.As(err, &se) || se.Condition != "host-unknown" {
		t.Errorf("got %v", err)
	}
}

// Closing with a WebSocket stream in progress must not hang (the
// connection is hijacked, so http.Server.Close alone would not end it).
func TestWebSocketServer_CloseWithOpenStream(t *testing.T) {
	b := newBed(t)
	s, err := loopback.StartWebSocket("127.0.0.2:0", b.cert, loopback.HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, err := wsClient(t, ctx, b, s.Addr().String(), "wss://example.com/ws")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.Write(ctx, websocket.MessageText, xmppstream.WSOpen(domain))
	ws.Read(ctx)
	ws.Read(ctx)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ws.Read(ctx); err == nil {
		t.Error("stream still open after Close")
	}
}

func boshPost(t *testing.T, b bed, addr, u string, body []byte) (*http.Response, []byte) {
	t.Helper()
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: b.ca.Pool()},
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Post(u, xmppstream.BOSHContentType, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

func TestBOSHServer_Good_C4_A8(t *testing.T) {
	b := newBed(t)
	s, err := loopback.StartBOSH("127.0.0.2:0", b.cert, loopback.HTTPConfig{Path: "/http-bind"})
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, s)
	resp, data := boshPost(t, b, s.Addr().String(), "https://chat.example.com/http-bind", xmppstream.BOSHSessionRequest(domain, 1000, hacx.Client))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != xmppstream.BOSHContentType {
		t.Fatalf("status %s, type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	sess, err := xmppstream.ParseBOSHSession(data, domain)
	if err != nil {
		t.Fatal(err)
	}
	if sess.SID == "" || len(sess.Features) == 0 || sess.Hold != 1 {
		t.Errorf("session %+v", sess)
	}
	got, _ := s.Last()
	if got.Host != "chat.example.com" || got.Path != "/http-bind" || got.SNI != "chat.example.com" || got.To != domain {
		t.Errorf("contact = %+v", got)
	}
	_, data = boshPost(t, b, s.Addr().String(), "https://chat.example.com/http-bind", xmppstream.BOSHWrapTerminate(sess.SID, 1001))
	if _, err := xmppstream.ParseBOSHSession(data, domain); !errors.Is(err, xmppstream.ErrClosed) {
		t.Errorf("terminate answer %q: %v", data, err)
	}
	if resp, _ := boshPost(t, b, s.Addr().String(), "https://chat.example.com/elsewhere", nil); resp.StatusCode != 404 {
		t.Errorf("other path: %s", resp.Status)
	}
}

func TestBOSHServer_Variants_C3(t *testing.T) {
	b := newBed(t)
	for _, tc := range []struct {
		name  string
		cfg   loopback.HTTPConfig
		cause error
		cond  string
	}{
		{"wrong domain", loopback.HTTPConfig{Domain: "other.example"}, xmppstream.ErrWrongDomain, ""},
		{"host-unknown", loopback.HTTPConfig{StreamError: "host-unknown"}, nil, "host-unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := loopback.StartBOSH("127.0.0.3:0", b.cert, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			cleanup(t, s)
			_, data := boshPost(t, b, s.Addr().String(), "https://example.com/bosh", xmppstream.BOSHSessionRequest(domain, 1, hacx.Client))
			_, err = xmppstream.ParseBOSHSession(data, domain)
			var se *xmppstream.StreamError
			if tc.cause != nil && !errors.Is(err, tc.cause) || tc.cond != "" && (!errors.As(err, &se) || se.Condition != tc.cond) {
				t.Errorf("got %v", err)
			}
		})
	}
}

func TestBlackhole_C5(t *testing.T) {
	s, err := loopback.StartBlackhole("127.0.0.4:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, _, err := openStream(c, hacx.Client); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v, want a read timeout", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after Close: %v, want EOF", err)
	}
}

func TestRefusedAddr_C3(t *testing.T) {
	a, err := loopback.RefusedAddr("127.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	_, err = net.DialTimeout("tcp", a.String(), 5*time.Second)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %v: %v, want connection refused", a, err)
	}
}

func TestHTTPOnly_TLSFails_C3(t *testing.T) {
	b := newBed(t)
	s, err := loopback.StartHTTPOnly("127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, s)
	_, err = dialTLS(t, s.Addr().String(), b.ca.Pool(), domain, nil)
	var rh tls.RecordHeaderError
	if !errors.As(err, &rh) {
		t.Fatalf("got %v, want a TLS record header error", err)
	}
	resp, err := http.Get("http://" + s.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, _ := s.Last(); got.Path != "/" || got.TLSDone {
		t.Errorf("contact = %+v", got)
	}
}

func TestHTTPS_StreamGetsHTTPResponse_C3(t *testing.T) {
	b := newBed(t)
	s, err := loopback.StartHTTPS("127.0.0.2:0", b.cert)
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, s)
	c, err := dialTLS(t, s.Addr().String(), b.ca.Pool(), domain, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _, err = openStream(c, hacx.Client)
	if !errors.Is(err, xmppstream.ErrHTTP) {
		t.Fatalf("got %v, want ErrHTTP", err)
	}
	// A BOSH POST to it gets an HTML page.
	_, data := boshPost(t, b, s.Addr().String(), "https://example.com/http-bind", xmppstream.BOSHSessionRequest(domain, 1, hacx.Client))
	if _, err := xmppstream.ParseBOSHSession(data, domain); !errors.Is(err, xmppstream.ErrNotXMPP) || !strings.Contains(err.Error(), "HTML") {
		t.Errorf("got %v", err)
	}
}

func TestSMTP_Banner_C3(t *testing.T) {
	b := newBed(t)
	plain, err := loopback.StartSMTP("127.0.0.2:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, plain)
	var rh tls.RecordHeaderError
	if _, err := dialTLS(t, plain.Addr().String(), b.ca.Pool(), domain, nil); !errors.As(err, &rh) {
		t.Errorf("plaintext banner: got %v, want a TLS record header error", err)
	}
	smtps, err := loopback.StartSMTP("127.0.0.2:0", b.cert)
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, smtps)
	c, err := dialTLS(t, smtps.Addr().String(), b.ca.Pool(), domain, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _, err = openStream(c, hacx.Client)
	if !errors.Is(err, xmppstream.ErrBanner) || !strings.Contains(err.Error(), "220 mail.example.net") {
		t.Fatalf("got %v, want ErrBanner", err)
	}
}

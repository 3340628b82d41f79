package dial_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/discover"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/socks"
	"hacx.dev/hacx/xmppstream"
)

func startSTARTTLS(t testing.TB, ip string, cert *tls.Certificate, mode loopback.StartTLSMode, cfg hacxtest.XMPPConfig) *loopback.StartTLSServer {
	t.Helper()
	s, err := loopback.StartStartTLS(ip+":0", cert, mode, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// starttlsRoute is what SRV discovery makes of _xmpp-client (X1): SNI the
// domain, no ALPN.
func starttlsRoute(s *loopback.StartTLSServer, index int) hacx.Route {
	r := route(hacx.MethodStartTLS, s.Addr(), index)
	r.SNI, r.HasSNI = domain, true
	return r
}

func TestStartTLS_VerifiedStream_S1_C4(t *testing.T) {
	ca := newCA(t)
	srv := startSTARTTLS(t, "127.0.0.1", issue(t, ca, domain), loopback.StartTLSGood, hacxtest.XMPPConfig{})
	c := dialOK(t, newDialer(ca), starttlsRoute(srv, 1))
	if c.Verified != dial.VerifiedWebPKI || c.Header.From != domain || c.TLS.Version < tls.VersionTLS12 {
		t.Errorf("conn verified %q from %q TLS %x", c.Verified, c.Header.From, c.TLS.Version)
	}
	a := c.Attempts[0]
	if got := xmppstream.FeatureNames(a.PlainFeatures); len(got) != 1 || got[0] != "starttls(required)" {
		t.Errorf("plaintext features reported as %q, want [starttls(required)]", got)
	}
	if !strings.Contains(string(c.Features), "mechanisms") {
		t.Errorf("features after TLS = %q, want the SASL mechanisms", c.Features)
	}
	last, _ := srv.Last()
	// S1: SNI = the XMPP domain; no ALPN unless the route says so.
	if !last.TLSDone || last.SNI != domain || last.ALPN != nil {
		t.Errorf("server saw TLS done %v, SNI %q, ALPN %q; want done, %q, none", last.TLSDone, last.SNI, last.ALPN, domain)
	}
}

// TestStartTLS_StreamConn_S1: another XMPP library gets the restarted,
// secured stream, and none of the plaintext.
func TestStartTLS_StreamConn_S1(t *testing.T) {
	ca := newCA(t)
	srv := startSTARTTLS(t, "127.0.0.1", issue(t, ca, domain), loopback.StartTLSGood, hacxtest.XMPPConfig{})
	c := dialOK(t, newDialer(ca), starttlsRoute(srv, 1))
	sc, err := c.StreamConn()
	if err != nil {
		t.Fatalf("StreamConn: %v", err)
	}
	defer sc.Close()
	if err := xmppstream.WriteOpen(sc, domain, hacx.Client); err != nil {
		t.Fatal(err)
	}
	sc.SetReadDeadline(time.Now().Add(10 * time.Second))
	hdr, feats, err := xmppstream.ReadOpen(sc, domain, hacx.Client)
	if err != nil {
		t.Fatalf("reading the replayed opening: %v", err)
	}
	if hdr.ID != "hacxtest-1" || strings.Contains(string(feats), "starttls") {
		t.Errorf("replayed stream id %q features %q: want the post-TLS stream (id hacxtest-1) without starttls", hdr.ID, feats)
	}
	if _, ok := sc.(interface{ ConnectionState() tls.ConnectionState }); !ok {
		t.Error("the stream conn offers no ConnectionState for channel binding")
	}
}

// TestStartTLS_DowngradesRefused_S1_C3: every way of keeping the stream
// in plaintext, or of slipping bytes into it, fails the route with its
// reason, and the next route is still tried.
func TestStartTLS_DowngradesRefused_S1_C3(t *testing.T) {
	ca := newCA(t)
	cert := issue(t, ca, domain)
	good := startSTARTTLS(t, "127.0.0.2", cert, loopback.StartTLSGood, hacxtest.XMPPConfig{})
	tests := []struct {
		name   string
		srv    *loopback.StartTLSServer
		phase  dial.Phase
		is     error
		reason string
	}{
		{"stripped", startSTARTTLS(t, "127.0.0.3", cert, loopback.StartTLSStripped, hacxtest.XMPPConfig{}),
			dial.PhaseStartTLS, xmppstream.ErrNoStartTLS, "server offered no STARTTLS: refusing plaintext"},
		{"failure", startSTARTTLS(t, "127.0.0.3", cert, loopback.StartTLSFailure, hacxtest.XMPPConfig{}),
			dial.PhaseStartTLS, xmppstream.ErrStartTLSFailed, "<failure/>"},
		{"stream error", startSTARTTLS(t, "127.0.0.3", cert, loopback.StartTLSStreamError, hacxtest.XMPPConfig{}),
			dial.PhaseStartTLS, nil, "policy-violation"},
		{"injection after proceed", startSTARTTLS(t, "127.0.0.3", cert, loopback.StartTLSInject, hacxtest.XMPPConfig{}),
			dial.PhaseTLS, dial.ErrInjected, "injection"},
		{"certificate for another domain", startSTARTTLS(t, "127.0.0.3", issue(t, ca, "other.test"), loopback.StartTLSGood, hacxtest.XMPPConfig{}),
			dial.PhaseVerify, nil, "certificate refused (webpki)"},
		{"stream from another domain after TLS", startSTARTTLS(t, "127.0.0.3", cert, loopback.StartTLSGood, hacxtest.XMPPConfig{Domain: "other.test"}),
			dial.PhaseStream, xmppstream.ErrWrongDomain, "other.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialOK(t, newDialer(ca), starttlsRoute(tt.srv, 1), starttlsRoute(good, 2))
			if c.Route.Index != 2 {
				t.Fatalf("won over route %d, want the good route 2", c.Route.Index)
			}
			a := c.Attempts[0]
			if a.Phase != tt.phase {
				t.Errorf("bad route failed in phase %s, want %s (err %v)", a.Phase, tt.phase, a.Err)
			}
			if tt.is != nil && !errors.Is(a.Err, tt.is) {
				t.Errorf("bad route error %v, want %v", a.Err, tt.is)
			}
			if a.Err == nil || !strings.Contains(a.Err.Error(), tt.reason) {
				t.Errorf("bad route error %v does not say %q", a.Err, tt.reason)
			}
		})
	}
}

// TestStartTLS_InjectedBytesNeverRead_S1: the bytes an attacker put
// after <proceed/> reach no reader: the route fails before any stream
// exists, so no caller can see the injected stanza.
func TestStartTLS_InjectedBytesNeverRead_S1(t *testing.T) {
	ca := newCA(t)
	srv := startSTARTTLS(t, "127.0.0.1", issue(t, ca, domain), loopback.StartTLSInject, hacxtest.XMPPConfig{})
	de := dialFail(t, newDialer(ca), starttlsRoute(srv, 1))
	if !errors.Is(de, dial.ErrInjected) {
		t.Fatalf("error %v, want ErrInjected", de)
	}
	if a := de.Attempts[0]; a.Header != nil || strings.Contains(string(a.PlainFeatures), "injected") {
		t.Errorf("the injected stanza reached the attempt: header %v, features %q", a.Header, a.PlainFeatures)
	}
}

// TestStartTLS_EachPhaseBounded_S1: a server that goes silent at any
// point of the plaintext exchange or the handshake costs its phase's own
// limit, named, not a hang.
func TestStartTLS_EachPhaseBounded_S1(t *testing.T) {
	ca := newCA(t)
	cert := issue(t, ca, domain)
	const limit = 300 * time.Millisecond
	tests := []struct {
		name  string
		mode  loopback.StartTLSMode
		phase dial.Phase
		want  string
	}{
		{"silent before the header", loopback.StartTLSStallHeader, dial.PhaseStartTLS, "starttls negotiation: no answer within 300ms (stream timeout)"},
		{"no answer to <starttls/>", loopback.StartTLSStallProceed, dial.PhaseStartTLS, "starttls negotiation: no answer within 300ms (stream timeout)"},
		{"no answer to the ClientHello", loopback.StartTLSStallTLS, dial.PhaseTLS, "tls handshake: no answer within 300ms (handshake timeout)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSTARTTLS(t, "127.0.0.1", cert, tt.mode, hacxtest.XMPPConfig{})
			d := newDialer(ca)
			if tt.phase == dial.PhaseTLS {
				d.HandshakeTimeout = limit
			} else {
				d.StreamTimeout = limit
			}
			de := dialFail(t, d, starttlsRoute(srv, 1))
			a := de.Attempts[0]
			if a.Phase != tt.phase || a.Err == nil || a.Err.Error() != tt.want {
				t.Errorf("got phase %s err %v; want %s %q", a.Phase, a.Err, tt.phase, tt.want)
			}
			var te *dial.TimeoutError
			if !errors.As(a.Err, &te) {
				t.Errorf("error %T is not a *dial.TimeoutError", a.Err)
			}
		})
	}
}

// TestStartTLS_ServerKind: s2s over STARTTLS names the local domain in
// from, as dialback needs (RFC 6120 section 4.7.1).
func TestStartTLS_ServerKind(t *testing.T) {
	ca := newCA(t)
	srv := startSTARTTLS(t, "127.0.0.1", issue(t, ca, domain), loopback.StartTLSGood, hacxtest.XMPPConfig{Kind: hacx.Server})
	d := newDialer(ca)
	d.From = "origin.test"
	c, err := d.DialRoutes(t.Context(), domain, hacx.Server, []hacx.Route{starttlsRoute(srv, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	last, _ := srv.Last()
	if last.From != "origin.test" || c.Header.NS != "jabber:server" {
		t.Errorf("server saw from %q, stream ns %q", last.From, c.Header.NS)
	}
}

// TestSOCKS_FallbackByName_F1_T1: a domain that publishes nothing,
// reached through a socks5h proxy: no SRV can be asked (T1), so after the
// HTTPS documents the RFC 6120 fallback goes by name, CONNECT
// domain:5222, the proxy resolving it, and STARTTLS wins.
func TestSOCKS_FallbackByName_F1_T1(t *testing.T) {
	ca := newCA(t)
	cert := issue(t, ca, domain)
	pub := httptest.NewUnstartedServer(http.NotFoundHandler())
	pub.TLS = (&tlsServer{}).tlsConfig(cert)
	pub.Config.ErrorLog = log.New(io.Discard, "", 0)
	pub.StartTLS()
	t.Cleanup(pub.Close)
	srv := startSTARTTLS(t, "127.0.0.2", cert, loopback.StartTLSGood, hacxtest.XMPPConfig{})
	proxy, err := loopback.NewSOCKSServer(map[string]string{
		domain + ":443":  pub.Listener.Addr().String(),
		domain + ":5222": srv.Addr().String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	p := &socks.Proxy{Addr: proxy.Addr}
	d := newDialer(ca)
	d.Proxy = p
	d.TLSA = nil // T1 decides: no local DNS behind socks5h
	d.Routes = &discover.Resolver{Roots: ca.Pool(), Proxy: p}
	c, err := d.Dial(context.Background(), domain)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Route.Source != hacx.SourceFallback || c.Route.Method != hacx.MethodStartTLS {
		t.Errorf("won over %v, want the F1 STARTTLS route", c.Route)
	}
	var byName bool
	for _, cn := range proxy.Connects() {
		if cn.IsName && cn.Target() == domain+":5222" {
			byName = true
		}
		if !cn.IsName {
			t.Errorf("CONNECT %v by address: the domain was resolved outside the proxy", cn)
		}
	}
	if !byName {
		t.Errorf("CONNECTs %v: want %s:5222 by name", proxy.Connects(), domain)
	}
}

package dial_test

import (
	"crypto/tls"
	"errors"
	"slices"
	"testing"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
)

// TestAttempt_ReportFields: what "hacx check" prints per route comes from
// the attempt log: the TLS state (version, cipher, ALPN, the peer's
// certificate, also when it was refused), the time to TCP and to TLS, and
// the server's stream header (C4).
func TestAttempt_ReportFields(t *testing.T) {
	ca := newCA(t)
	good := startTLS(t, "127.0.0.2", issue(t, ca, domain), domain, modeXMPP)
	wrongName := startTLS(t, "127.0.0.3", issue(t, ca, "other.test"), domain, modeXMPP)
	routes := []hacx.Route{route(hacx.MethodTLS, wrongName.addr, 1), route(hacx.MethodTLS, good.addr, 2)}
	routes[1].ALPN = []byte("xmpp-client")
	atts, err := newDialer(ca).DialAll(t.Context(), domain, hacx.Client, routes)
	if err != nil {
		t.Fatal(err)
	}
	refused, ok := atts[0], atts[1]

	if !ok.OK() || ok.TLS == nil || ok.Header == nil || ok.Header.From != domain {
		t.Fatalf("working attempt %+v: want TLS state and a header from %s", ok, domain)
	}
	if ok.TLS.Version < tls.VersionTLS12 || ok.TLS.CipherSuite == 0 || ok.TLS.NegotiatedProtocol != "xmpp-client" ||
		len(ok.TLS.PeerCertificates) == 0 || !slices.Contains(ok.TLS.PeerCertificates[0].DNSNames, domain) {
		t.Errorf("TLS state: version %x cipher %x alpn %q", ok.TLS.Version, ok.TLS.CipherSuite, ok.TLS.NegotiatedProtocol)
	}
	if ok.Connect <= 0 || ok.Handshake < ok.Connect || ok.Duration < ok.Handshake {
		t.Errorf("times: connect %v, handshake %v, total %v; want 0 < connect <= handshake <= total", ok.Connect, ok.Handshake, ok.Duration)
	}

	var ve *dial.VerifyError
	if refused.OK() || !errors.As(refused.Err, &ve) || refused.Header != nil {
		t.Fatalf("refused attempt %+v", refused)
	}
	if refused.TLS == nil || len(refused.TLS.PeerCertificates) == 0 || refused.TLS.PeerCertificates[0].DNSNames[0] != "other.test" {
		t.Errorf("refused attempt: want the refused certificate in its TLS state, got %+v", refused.TLS)
	}
	if refused.Connect <= 0 || refused.Handshake != 0 {
		t.Errorf("refused attempt times: connect %v handshake %v; want connected, never secured", refused.Connect, refused.Handshake)
	}
}

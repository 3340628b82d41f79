package dial_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/discover"
	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/internal/testenv"
)

// realServer is what the STARTTLS tests need of a real XMPP server.
type realServer struct {
	name          string
	starttls, tls netip.AddrPort
	log           func() string
}

// realServers starts Debian's Prosody and ejabberd for domain on ip (each
// its own), skipping (or failing under CI) when one is not installed.
func realServers(t *testing.T, ctx context.Context, domain string, cert *tls.Certificate, prosodyIP, ejabberdIP string) []realServer {
	t.Helper()
	var out []realServer
	if err := testbed.ProsodyAvailable(); err != nil {
		testenv.Require(t, err)
	} else {
		p, err := testbed.StartProsody(ctx, testbed.ProsodyConfig{Domain: domain, IP: prosodyIP, Cert: cert})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		out = append(out, realServer{"prosody", p.StartTLSAddr, p.TLSAddr, p.Log})
	}
	if err := testbed.EjabberdAvailable(); err != nil {
		testenv.Require(t, err)
	} else {
		e, err := testbed.StartEjabberd(ctx, testbed.EjabberdConfig{Domain: domain, IP: ejabberdIP, Cert: cert})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		out = append(out, realServer{"ejabberd", e.StartTLSAddr, e.TLSAddr, e.Log})
	}
	return out
}

// notFoundPublisher is an HTTPS server for domain that publishes nothing
// (404 everywhere), and a DialContext that sends domain:443 to it.
func notFoundPublisher(t *testing.T, cert *tls.Certificate) func(ctx context.Context, network, addr string) (net.Conn, error) {
	pub := httptest.NewUnstartedServer(http.NotFoundHandler())
	pub.TLS = (&tlsServer{}).tlsConfig(cert)
	pub.Config.ErrorLog = log.New(io.Discard, "", 0)
	pub.StartTLS()
	t.Cleanup(pub.Close)
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, pub.Listener.Addr().String())
	}
}

// TestRealServers_STARTTLSFromSRV_X1_S1: a Prosody and an ejabberd that
// publish only an _xmpp-client SRV record, as most services do, are
// reached by discovery and STARTTLS with a verified stream (C4).
func TestRealServers_STARTTLSFromSRV_X1_S1(t *testing.T) {
	const domain = "legacy.test"
	ca := newCA(t)
	cert := issue(t, ca, domain)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, srv := range realServers(t, ctx, domain, cert, "127.0.0.30", "127.0.0.31") {
		t.Run(srv.name, func(t *testing.T) {
			dnsSrv, err := testbed.NewDNSServer()
			if err != nil {
				t.Fatal(err)
			}
			defer dnsSrv.Close()
			if err := dnsSrv.Add(
				fmt.Sprintf("_xmpp-client._tcp.%s. 60 IN SRV 0 0 %d xmpp.%s.", domain, srv.starttls.Port(), domain),
				fmt.Sprintf("xmpp.%s. 60 IN A %s", domain, srv.starttls.Addr()),
			); err != nil {
				t.Fatal(err)
			}
			d := &dial.Dialer{Roots: ca.Pool(), TLSA: dial.NoDANE, Routes: &discover.Resolver{
				Roots: ca.Pool(), DNSServer: dnsSrv.Addr, DialContext: notFoundPublisher(t, cert)}}
			c, err := d.Dial(ctx, domain)
			if err != nil {
				t.Fatalf("%v\n%s log:\n%s", err, srv.name, srv.log())
			}
			defer c.Close()
			if c.Route.Method != hacx.MethodStartTLS || c.Route.Source != hacx.SourceSRV || c.Header.From != domain || c.Verified != dial.VerifiedWebPKI {
				t.Errorf("won over %v from %q verified %q", c.Route, c.Header.From, c.Verified)
			}
			if len(c.Attempts[0].PlainFeatures) == 0 || len(c.Features) == 0 {
				t.Errorf("features before TLS %q, after %q", c.Attempts[0].PlainFeatures, c.Features)
			}
		})
	}
}

// TestRealServers_FallbackNothingPublished_F1: with nothing published
// but the domain's address, the RFC 6120 fallback reaches the real
// server on 5222 (STARTTLS) and 5223 (direct TLS). The servers listen on
// ports of their own; the dialer's DialContext stands in for them being
// on the customary ports of the domain's address.
func TestRealServers_FallbackNothingPublished_F1(t *testing.T) {
	const domain = "nothing.test"
	ca := newCA(t)
	cert := issue(t, ca, domain)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, srv := range realServers(t, ctx, domain, cert, "127.0.0.32", "127.0.0.33") {
		t.Run(srv.name, func(t *testing.T) {
			const addr = "127.0.0.34"
			dnsSrv, err := testbed.NewDNSServer()
			if err != nil {
				t.Fatal(err)
			}
			defer dnsSrv.Close()
			if err := dnsSrv.Add(fmt.Sprintf("%s. 60 IN A %s", domain, addr)); err != nil {
				t.Fatal(err)
			}
			ports := map[string]string{addr + ":5222": srv.starttls.String(), addr + ":5223": srv.tls.String()}
			d := &dial.Dialer{Roots: ca.Pool(), TLSA: dial.NoDANE,
				DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
					to, ok := ports[a]
					if !ok {
						return nil, fmt.Errorf("test: no route to %s", a)
					}
					var nd net.Dialer
					return nd.DialContext(ctx, network, to)
				}}
			r := &discover.Resolver{Roots: ca.Pool(), DNSServer: dnsSrv.Addr, DialContext: notFoundPublisher(t, cert)}
			res, err := r.Lookup(ctx, domain, hacx.Client)
			if err != nil {
				t.Fatal(err)
			}
			attempts, err := d.DialAll(ctx, domain, hacx.Client, res.Routes)
			if err != nil {
				t.Fatal(err)
			}
			if len(attempts) != 2 {
				t.Fatalf("attempts %v: want 5222 and 5223", attempts)
			}
			for _, a := range attempts {
				if !a.OK() || a.Route.Source != hacx.SourceFallback || a.Header.From != domain {
					t.Errorf("%v: %v\n%s log:\n%s", a.Route, a.Err, srv.name, srv.log())
				}
			}
		})
	}
}

package dial_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/trust"
	"hacx.dev/hacx/xmppstream"
)

// newDialer returns a Dialer trusting ca, with DANE off (no DNS at all in
// tests) and timeouts long enough that only a bug can hit them.
func newDialer(ca *hacxtest.CA) *dial.Dialer {
	return &dial.Dialer{
		Roots:            ca.Pool(),
		TLSA:             dial.NoDANE,
		ConnectTimeout:   20 * time.Second,
		HandshakeTimeout: 20 * time.Second,
		StreamTimeout:    20 * time.Second,
		// Only a failure starts the next route unless a test says
		// otherwise, so which attempts ran is deterministic.
		Stagger: time.Minute,
		// Each dial takes the routes in the order given; memory has
		// tests of its own.
		Memory: dial.NoMemory,
	}
}

func dialOK(t *testing.T, d *dial.Dialer, routes ...hacx.Route) *dial.Conn {
	t.Helper()
	c, err := d.DialRoutes(context.Background(), domain, hacx.Client, routes)
	if err != nil {
		t.Fatalf("DialRoutes: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func dialFail(t *testing.T, d *dial.Dialer, routes ...hacx.Route) *dial.Error {
	t.Helper()
	c, err := d.DialRoutes(context.Background(), domain, hacx.Client, routes)
	if err == nil {
		c.Close()
		t.Fatalf("DialRoutes succeeded over %s, want failure", c.Route)
	}
	var de *dial.Error
	if !errors.As(err, &de) {
		t.Fatalf("error %T %v is not a *dial.Error", err, err)
	}
	return de
}

func TestTLS_SNIExactOrNone_A5(t *testing.T) {
	ca := newCA(t)
	srv := startTLS(t, "127.0.0.1", issue(t, ca, domain), domain, modeXMPP)
	tests := []struct {
		name   string
		sni    string
		hasSNI bool
		want   string
	}{
		{"absent sends no SNI", "", false, ""},
		{"present sends exactly it", "xmpp.hosting.test", true, "xmpp.hosting.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := len(srv.seen())
			r := route(hacx.MethodTLS, srv.addr, 1)
			r.SNI, r.HasSNI = tt.sni, tt.hasSNI
			c := dialOK(t, newDialer(ca), r)
			// The certificate names the domain, not the SNI: A10 checks the
			// domain whatever SNI was sent.
			if c.Verified != dial.VerifiedWebPKI {
				t.Errorf("Verified = %q, want webpki", c.Verified)
			}
			got := srv.seen()[n:]
			if len(got) != 1 || got[0].sni != tt.want {
				t.Errorf("server saw SNI %+v, want exactly %q", got, tt.want)
			}
		})
	}
}

func TestTLS_IPLiteralSNIRefused_A5(t *testing.T) {
	ca := newCA(t)
	srv := startTLS(t, "127.0.0.1", issue(t, ca, domain), domain, modeXMPP)
	r := route(hacx.MethodTLS, srv.addr, 1)
	r.SNI, r.HasSNI = "127.0.0.1", true
	de := dialFail(t, newDialer(ca), r)
	if !strings.Contains(de.Error(), "A5") {
		t.Errorf("error %q does not cite A5", de)
	}
}

func TestTLS_ALPNExactOrNone_A6(t *testing.T) {
	ca := newCA(t)
	srv := startTLS(t, "127.0.0.1", issue(t, ca, domain), domain, modeXMPP)
	tests := []struct {
		name string
		alpn []byte
		want []string
	}{
		{"absent sends no ALPN", nil, nil},
		{"present sends exactly one", []byte("xmpp-client"), []string{"xmpp-client"}},
		{"h2 sent as is", []byte("h2"), []string{"h2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := len(srv.seen())
			r := route(hacx.MethodTLS, srv.addr, 1)
			r.ALPN = tt.alpn
			dialOK(t, newDialer(ca), r)
			got := srv.seen()[n:]
			if len(got) != 1 || !slices.Equal(got[0].alpn, tt.want) {
				t.Errorf("server saw ALPN %+v, want exactly %q", got, tt.want)
			}
		})
	}
}

func TestPins_LeafPinOnSelfSigned_A9(t *testing.T) {
	self, err := hacxtest.SelfSigned("whatever.invalid")
	if err != nil {
		t.Fatal(err)
	}
	srv := startTLS(t, "127.0.0.1", self, domain, modeXMPP)
	pin, err := hacx.NewPin(self.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	r := route(hacx.MethodTLS, srv.addr, 1)
	r.Pins = []hacx.Pin{pin}
	c := dialOK(t, newDialer(newCA(t)), r) // the roots know nothing of this key
	if c.Verified != dial.VerifiedPin {
		t.Errorf("Verified = %q, want pin", c.Verified)
	}
}

func TestPins_MismatchRefusedThenFallback_A9_C3(t *testing.T) {
	ca := newCA(t)
	cert := issue(t, ca, domain)
	other, _ := hacxtest.SelfSigned(domain)
	wrong, _ := hacx.NewPin(other.Leaf)
	pinned := startTLS(t, "127.0.0.2", cert, domain, modeXMPP)
	good := startTLS(t, "127.0.0.3", cert, domain, modeXMPP)

	r1 := route(hacx.MethodTLS, pinned.addr, 1)
	r1.Pins = []hacx.Pin{wrong} // a valid WebPKI chain does not rescue a pin mismatch
	c := dialOK(t, newDialer(ca), r1, route(hacx.MethodTLS, good.addr, 2))
	if c.Route.Index != 2 {
		t.Fatalf("winner %s, want route 2", c.Route)
	}
	a := c.Attempts[0]
	var pe *trust.PinError
	if a.Phase != dial.PhaseVerify || !errors.As(a.Err, &pe) {
		t.Errorf("attempt 1 = phase %s err %v, want verify / *trust.PinError", a.Phase, a.Err)
	}
}

func TestWebPKI_NameMismatchRefused_A10(t *testing.T) {
	ca := newCA(t)
	srv := startTLS(t, "127.0.0.1", issue(t, ca, "other.test"), domain, modeXMPP)
	r := route(hacx.MethodTLS, srv.addr, 1)
	r.SNI, r.HasSNI = "other.test", true // SNI does not make other.test acceptable
	de := dialFail(t, newDialer(ca), r)
	var ve *dial.VerifyError
	if a := de.Attempts[0]; a.Phase != dial.PhaseVerify || !errors.As(de, &ve) || ve.How != dial.VerifiedWebPKI {
		t.Errorf("got phase %s, err %v; want a webpki refusal in verify", a.Phase, a.Err)
	}
}

func TestWebPKI_UntrustedRootRefused_A10(t *testing.T) {
	srv := startTLS(t, "127.0.0.1", issue(t, newCA(t), domain), domain, modeXMPP)
	de := dialFail(t, newDialer(newCA(t)), route(hacx.MethodTLS, srv.addr, 1))
	if de.Attempts[0].Phase != dial.PhaseVerify {
		t.Errorf("phase %s, want verify", de.Attempts[0].Phase)
	}
}

// fakeTLSA answers TLSA lookups from a map and records the names asked.
type fakeTLSA struct {
	mu     sync.Mutex
	recs   []*dns.TLSA
	secure bool
	err    error
	asked  []string
}

func (f *fakeTLSA) LookupTLSA(_ context.Context, host string, port uint16) ([]*dns.TLSA, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, net.JoinHostPort(host, itoa(port)))
	return f.recs, f.secure, f.err
}

func itoa(p uint16) string { return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[8:] }

func daneEE(spki []byte) *dns.TLSA {
	sum := sha256.Sum256(spki)
	return &dns.TLSA{Hdr: dns.RR_Header{Rrtype: dns.TypeTLSA, Class: dns.ClassINET},
		Usage: 3, Selector: 1, MatchingType: 1, Certificate: hex.EncodeToString(sum[:])}
}

func TestDANE_X4(t *testing.T) {
	self, _ := hacxtest.SelfSigned("not-the-domain.invalid")
	other, _ := hacxtest.SelfSigned("x.invalid")
	srv := startTLS(t, "127.0.0.1", self, domain, modeXMPP)
	tests := []struct {
		name   string
		src    *fakeTLSA
		wantOK bool
		how    dial.Verification
		dane   dial.DANEResult // Attempt.DANE
	}{
		{"secure DANE-EE match needs no name or CA", &fakeTLSA{recs: []*dns.TLSA{daneEE(self.Leaf.RawSubjectPublicKeyInfo)}, secure: true}, true, dial.VerifiedDANE, dial.DANEMatch},
		{"secure set without match fails", &fakeTLSA{recs: []*dns.TLSA{daneEE(other.Leaf.RawSubjectPublicKeyInfo)}, secure: true}, false, dial.VerifiedDANE, dial.DANEMismatch},
		{"insecure answer is ignored", &fakeTLSA{recs: []*dns.TLSA{daneEE(self.Leaf.RawSubjectPublicKeyInfo)}, secure: false}, false, dial.VerifiedWebPKI, dial.DANEInsecure},
		{"lookup error falls back to WebPKI", &fakeTLSA{err: errTest}, false, dial.VerifiedWebPKI, dial.DANEError},
		{"no record falls back to WebPKI", &fakeTLSA{secure: true}, false, dial.VerifiedWebPKI, dial.DANENone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDialer(newCA(t))
			d.TLSA = tt.src
			r := route(hacx.MethodTLS, srv.addr, 1)
			c, err := d.DialRoutes(context.Background(), domain, hacx.Client, []hacx.Route{r})
			if tt.wantOK {
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if c.Verified != tt.how {
					t.Errorf("Verified = %q, want %q", c.Verified, tt.how)
				}
			} else {
				var ve *dial.VerifyError
				if !errors.As(err, &ve) || ve.How != tt.how {
					t.Fatalf("err = %v, want a %s refusal", err, tt.how)
				}
			}
			var atts []dial.Attempt
			if c != nil {
				atts = c.Attempts
			} else if de := (*dial.Error)(nil); errors.As(err, &de) {
				atts = de.Attempts
			}
			if len(atts) != 1 || atts[0].DANE != tt.dane {
				t.Errorf("attempts %+v, want DANE %q", atts, tt.dane)
			}
			want := net.JoinHostPort(domain, itoa(srv.addr.Port()))
			if len(tt.src.asked) != 1 || tt.src.asked[0] != want {
				t.Errorf("TLSA asked for %v, want [%s]", tt.src.asked, want)
			}
		})
	}
}

func TestDANE_NotAskedWhenPinned_A9(t *testing.T) {
	self, _ := hacxtest.SelfSigned(domain)
	srv := startTLS(t, "127.0.0.1", self, domain, modeXMPP)
	pin, _ := hacx.NewPin(self.Leaf)
	src := &fakeTLSA{}
	d := newDialer(newCA(t))
	d.TLSA = src
	r := route(hacx.MethodTLS, srv.addr, 1)
	r.Pins = []hacx.Pin{pin}
	dialOK(t, d, r)
	if len(src.asked) != 0 {
		t.Errorf("TLSA looked up %v for a pinned route", src.asked)
	}
}

func TestStream_WrongDomainSkipped_C4(t *testing.T) {
	ca := newCA(t)
	cert := issue(t, ca, domain)
	wrong := startTLS(t, "127.0.0.2", cert, "other.test", modeXMPP)
	good := startTLS(t, "127.0.0.3", cert, domain, modeXMPP)
	c := dialOK(t, newDialer(ca), route(hacx.MethodTLS, wrong.addr, 1), route(hacx.MethodTLS, good.addr, 2))
	if c.Route.Index != 2 || c.Header.From != domain {
		t.Fatalf("winner %s from %q, want route 2 from %s", c.Route, c.Header.From, domain)
	}
	if a := c.Attempts[0]; a.Phase != dial.PhaseStream || !errors.Is(a.Err, xmppstream.ErrWrongDomain) {
		t.Errorf("attempt 1: phase %s err %v, want stream / ErrWrongDomain", a.Phase, a.Err)
	}
	if len(c.Features) == 0 {
		t.Error("features not returned")
	}
}

func TestDialServer_JabberServer(t *testing.T) {
	ca := newCA(t)
	srv := startTLSKind(t, "127.0.0.1", issue(t, ca, domain), domain, modeXMPP, hacx.Server)
	d := newDialer(ca)
	d.Routes = dial.RouteSourceFunc(func(_ context.Context, dom string, kind hacx.Kind) ([]hacx.Route, error) {
		if dom != domain || kind != hacx.Server {
			return nil, errTest
		}
		return []hacx.Route{route(hacx.MethodTLS, srv.addr, 1)}, nil
	})
	c, err := d.DialServer(context.Background(), domain)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if c.Kind != hacx.Server {
		t.Errorf("Kind = %v", c.Kind)
	}
}

func TestRace_BlackholeCostsOnlyTheStagger_C5(t *testing.T) {
	ca := newCA(t)
	cert := issue(t, ca, domain)
	dead := startTLS(t, "127.0.0.2", cert, domain, modeBlackhole)
	good := startTLS(t, "127.0.0.3", cert, domain, modeXMPP)
	d := newDialer(ca) // 20 s timeouts
	d.Stagger = 20 * time.Millisecond
	start := time.Now()
	c := dialOK(t, d, route(hacx.MethodTLS, dead.addr, 1), route(hacx.MethodTLS, good.addr, 2))
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("took %s: the dead route cost its timeout", el)
	}
	if c.Route.Index != 2 {
		t.Fatalf("winner %s", c.Route)
	}
	a := c.Attempts
	if len(a) != 2 || a[1].Start < d.Stagger {
		t.Errorf("attempt 2 started at %v, want after the stagger %v", a[1].Start, d.Stagger)
	}
	if !errors.Is(a[0].Err, dial.ErrLostRace) || a[0].Phase != dial.PhaseTLS {
		t.Errorf("attempt 1: phase %s err %v, want tls / lost race", a[0].Phase, a[0].Err)
	}
}

func TestRace_FailureStartsNextAtOnce_C5(t *testing.T) {
	ca := newCA(t)
	good := startTLS(t, "127.0.0.1", issue(t, ca, domain), domain, modeXMPP)
	d := newDialer(ca)
	d.Stagger = time.Minute // only a failure can start route 2 in time
	start := time.Now()
	c := dialOK(t, d, route(hacx.MethodTLS, refusedAddr(t), 1), route(hacx.MethodTLS, good.addr, 2))
	if el := time.Since(start); el > 10*time.Second || c.Route.Index != 2 {
		t.Errorf("winner %s after %s", c.Route, el)
	}
	if c.Attempts[0].Phase != dial.PhaseTCP {
		t.Errorf("refused route failed in %s, want tcp", c.Attempts[0].Phase)
	}
}

func TestRace_AllFailListsEveryRoute_C3(t *testing.T) {
	ca := newCA(t)
	cert := issue(t, ca, domain)
	wrongDomain := startTLS(t, "127.0.0.2", cert, "other.test", modeXMPP)
	wrongName := startTLS(t, "127.0.0.3", issue(t, ca, "other.test"), domain, modeXMPP)
	other, _ := hacxtest.SelfSigned(domain)
	badPin, _ := hacx.NewPin(other.Leaf)
	pinned := route(hacx.MethodTLS, wrongDomain.addr, 3)
	pinned.Pins = []hacx.Pin{badPin}
	routes := []hacx.Route{
		route(hacx.MethodTLS, refusedAddr(t), 1),
		route(hacx.MethodTLS, wrongDomain.addr, 2),
		pinned,
		route(hacx.MethodTLS, wrongName.addr, 4),
		route(hacx.Method("carrier-pigeon"), wrongName.addr, 5),
		// A STARTTLS route to a direct-TLS port: the TLS server takes
		// the plaintext header for a bad ClientHello and hangs up (S1).
		route(hacx.MethodStartTLS, wrongName.addr, 6),
	}
	de := dialFail(t, newDialer(ca), routes...)
	wantPhases := []dial.Phase{dial.PhaseTCP, dial.PhaseStream, dial.PhaseVerify, dial.PhaseVerify, dial.PhaseNone, dial.PhaseStartTLS}
	if len(de.Attempts) != len(routes) {
		t.Fatalf("%d attempts, want %d", len(de.Attempts), len(routes))
	}
	for i, a := range de.Attempts {
		if a.Route.Index != i+1 || a.Phase != wantPhases[i] || a.Err == nil {
			t.Errorf("attempt %d: route %d phase %s err %v; want phase %s", i+1, a.Route.Index, a.Phase, a.Err, wantPhases[i])
		}
	}
	lines := strings.Split(de.Error(), "\n")
	if len(lines) != 1+len(routes) {
		t.Errorf("error has %d lines, want a heading and one per route:\n%s", len(lines), de)
	}
	var pe *trust.PinError
	var re *dial.RouteError
	if !errors.Is(de, xmppstream.ErrWrongDomain) || !errors.As(de, &pe) || !errors.As(de, &re) || !errors.Is(de, dial.ErrUnsupportedMethod) {
		t.Errorf("errors.Is/As do not reach the causes of %v", de)
	}
}

func TestRace_WinnerCancelsLosersWithoutLeak_C5(t *testing.T) {
	ca := newCA(t)
	cert := issue(t, ca, domain)
	dead1 := startTLS(t, "127.0.0.2", cert, domain, modeBlackhole)
	dead2 := startTLS(t, "127.0.0.3", cert, domain, modeBlackhole)
	good := startTLS(t, "127.0.0.4", cert, domain, modeXMPP)
	d := newDialer(ca)
	d.Stagger = 5 * time.Millisecond
	routes := []hacx.Route{route(hacx.MethodTLS, dead1.addr, 1), route(hacx.MethodTLS, dead2.addr, 2),
		route(hacx.MethodTLS, good.addr, 3), route(hacx.MethodTLS, good.addr, 4)}

	base := runtime.NumGoroutine()
	for range 5 {
		c, err := d.DialRoutes(context.Background(), domain, hacx.Client, routes)
		if err != nil {
			t.Fatal(err)
		}
		if c.Route.Index < 3 {
			t.Fatalf("a dead route won: %s", c.Route)
		}
		for _, a := range c.Attempts[:2] {
			if !errors.Is(a.Err, dial.ErrLostRace) {
				t.Errorf("loser %s: %v, want lost race", a.Route, a.Err)
			}
		}
		c.Close()
	}
	waitGoroutines(t, base)
}

// waitGoroutines polls until the goroutine count is back to base, failing
// with a dump if it is not by the deadline.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want <= %d:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond) // polling interval, not a timing assumption
	}
}

func TestConn_OutlivesDialContext(t *testing.T) {
	ca := newCA(t)
	srv := startTLS(t, "127.0.0.1", issue(t, ca, domain), domain, modeEcho)
	ctx, cancel := context.WithCancel(context.Background())
	c, err := newDialer(ca).DialRoutes(ctx, domain, hacx.Client, []hacx.Route{route(hacx.MethodTLS, srv.addr, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cancel()
	sc, err := c.StreamConn()
	if err != nil {
		t.Fatal(err)
	}
	sc.SetDeadline(time.Now().Add(10 * time.Second))
	header := "<stream:stream to='" + domain + "' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
	if _, err := io.WriteString(sc, header+"<presence/>"); err != nil {
		t.Fatal(err)
	}
	// The replayed opening first, then the echo. Whitespace after the
	// features (a keepalive, a newline) may come first: it is the
	// stream's, not ours.
	sp := xmppstream.NewSplitter(sc, 0)
	for _, want := range []xmppstream.TokenKind{xmppstream.TokenOpen, xmppstream.TokenElement, xmppstream.TokenElement} {
		tok, err := sp.Next()
		for err == nil && tok.Kind == xmppstream.TokenSpace {
			tok, err = sp.Next()
		}
		if err != nil || tok.Kind != want {
			t.Fatalf("got %v %q (%v), want %v", tok.Kind, tok.Raw, err, want)
		}
		if want == xmppstream.TokenElement && tok.Name.Local == "presence" {
			return
		}
	}
	t.Fatal("no echo of <presence/>")
}

func TestDial_CancelledContext(t *testing.T) {
	ca := newCA(t)
	dead := startTLS(t, "127.0.0.1", issue(t, ca, domain), domain, modeBlackhole)
	ctx, cancel := context.WithCancel(context.Background())
	d := newDialer(ca)
	d.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		defer cancel() // the caller gives up once the connection is open
		var nd net.Dialer
		return nd.DialContext(ctx, network, addr)
	}
	_, err := d.DialRoutes(ctx, domain, hacx.Client, []hacx.Route{route(hacx.MethodTLS, dead.addr, 1)})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestDial_NoRoutes(t *testing.T) {
	_, err := newDialer(newCA(t)).DialRoutes(context.Background(), domain, hacx.Client, nil)
	if !errors.Is(err, dial.ErrNoRoutes) {
		t.Fatalf("err = %v", err)
	}
}

func TestDialAll_ReportsEveryRoute(t *testing.T) {
	ca := newCA(t)
	cert := issue(t, ca, domain)
	a := startTLS(t, "127.0.0.2", cert, domain, modeXMPP)
	b := startTLS(t, "127.0.0.3", cert, domain, modeXMPP)
	routes := []hacx.Route{route(hacx.MethodTLS, a.addr, 1), route(hacx.MethodTLS, refusedAddr(t), 2), route(hacx.MethodTLS, b.addr, 3)}
	atts, err := newDialer(ca).DialAll(context.Background(), domain, hacx.Client, routes)
	if err != nil {
		t.Fatal(err)
	}
	var ok []int
	for _, at := range atts {
		if at.OK() {
			ok = append(ok, at.Route.Index)
		}
	}
	if len(atts) != 3 || !slices.Equal(ok, []int{1, 3}) {
		t.Errorf("working routes %v of %d attempts, want [1 3] of 3", ok, len(atts))
	}
}

func TestStream_NotXMPPSkipped_C3(t *testing.T) {
	ca := newCA(t)
	cert := issue(t, ca, domain)
	web := startTLS(t, "127.0.0.2", cert, domain, modeHTTP)
	smtp := startTLS(t, "127.0.0.3", cert, domain, modeSMTP)
	good := startTLS(t, "127.0.0.4", cert, domain, modeXMPP)
	c := dialOK(t, newDialer(ca), route(hacx.MethodTLS, web.addr, 1), route(hacx.MethodTLS, smtp.addr, 2), route(hacx.MethodTLS, good.addr, 3))
	if c.Route.Index != 3 {
		t.Fatalf("winner %s", c.Route)
	}
	for i, want := range []error{xmppstream.ErrHTTP, xmppstream.ErrBanner} {
		if a := c.Attempts[i]; a.Phase != dial.PhaseStream || !errors.Is(a.Err, want) {
			t.Errorf("attempt %d: phase %s err %v, want stream / %v", i+1, a.Phase, a.Err, want)
		}
	}
}

func TestRace_TCPBlackholeThroughDialHook_A8_C5(t *testing.T) {
	ca := newCA(t)
	good := startTLS(t, "127.0.0.1", issue(t, ca, domain), domain, modeXMPP)
	dead := netip.MustParseAddrPort("127.0.0.9:5222")
	var mu sync.Mutex
	var dialed []string
	d := newDialer(ca)
	d.Stagger = 10 * time.Millisecond
	d.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dialed = append(dialed, network+" "+addr)
		mu.Unlock()
		if addr == dead.String() { // a SYN that is never answered
			<-ctx.Done()
			return nil, ctx.Err()
		}
		var nd net.Dialer
		return nd.DialContext(ctx, network, addr)
	}
	start := time.Now()
	c := dialOK(t, d, route(hacx.MethodTLS, dead, 1), route(hacx.MethodTLS, good.addr, 2))
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("took %s", el)
	}
	if a := c.Attempts[0]; a.Phase != dial.PhaseTCP || !errors.Is(a.Err, dial.ErrLostRace) {
		t.Errorf("attempt 1: phase %s err %v", a.Phase, a.Err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"tcp " + dead.String(), "tcp " + good.addr.String()}; !slices.Equal(dialed, want) {
		t.Errorf("dialed %v, want %v (ip:port only, A8)", dialed, want)
	}
}

// A bogus TLSA answer refuses a route whose certificate WebPKI would accept
// (X4, RFC 6698 §4.1), where an ordinary lookup failure falls back to it.
func TestDANE_BogusFailsClosed_X4(t *testing.T) {
	ca := newCA(t)
	cert, err := ca.Issue(domain)
	if err != nil {
		t.Fatal(err)
	}
	srv := startTLS(t, "127.0.0.1", cert, domain, modeXMPP)
	r := route(hacx.MethodTLS, srv.addr, 1)

	d := newDialer(ca)
	d.TLSA = &fakeTLSA{err: errTest}
	c, err := d.DialRoutes(context.Background(), domain, hacx.Client, []hacx.Route{r})
	if err != nil {
		t.Fatalf("lookup error: %v, want a WebPKI fall-back", err)
	}
	if c.Verified != dial.VerifiedWebPKI || c.Attempts[0].DANE != dial.DANEError {
		t.Errorf("lookup error: verified %q, DANE %q", c.Verified, c.Attempts[0].DANE)
	}
	c.Close()

	d.TLSA = &fakeTLSA{err: fmt.Errorf("SERVFAIL: %w", trust.ErrBogus)}
	_, err = d.DialRoutes(context.Background(), domain, hacx.Client, []hacx.Route{r})
	var ve *dial.VerifyError
	if !errors.As(err, &ve) || ve.How != dial.VerifiedDANE || !errors.Is(err, trust.ErrBogus) {
		t.Fatalf("bogus answer: err = %v, want a DANE refusal wrapping trust.ErrBogus", err)
	}
	var de *dial.Error
	if !errors.As(err, &de) || de.Attempts[0].DANE != dial.DANEBogus {
		t.Errorf("bogus answer: attempts %+v, want DANE %q", de, dial.DANEBogus)
	}
}

// Dialer.From is sent on server-to-server headers only (RFC 6120 4.7.1): a
// client stream never names a from domain.
func TestDialer_FromOnServerStreamsOnly(t *testing.T) {
	ca := newCA(t)
	cert := issue(t, ca, domain)
	for _, kind := range []hacx.Kind{hacx.Server, hacx.Client} {
		srv, err := hacxtest.StartXMPP("127.0.0.1:0", cert, hacxtest.XMPPConfig{Kind: kind})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		d := newDialer(ca)
		d.From = "local.example"
		c, err := d.DialRoutes(context.Background(), domain, kind, []hacx.Route{route(hacx.MethodTLS, srv.Addr(), 1)})
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		want := ""
		if kind == hacx.Server {
			want = d.From
		}
		if got, _ := srv.Last(); got.From != want {
			t.Errorf("%v stream: server saw from=%q, want %q", kind, got.From, want)
		}
	}
}

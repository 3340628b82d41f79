package testbed

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/testenv"
)

// takeFirstPick makes the next port pick return ports a test already
// holds, as a process racing between the pick and the program's bind
// would: the program must notice and start again on new ports.
func takeFirstPick(t *testing.T, held map[int]uint16) *int {
	t.Helper()
	calls := 0
	orig := pickPorts
	pickPorts = func(ip string, n int) ([]uint16, error) {
		ports, err := orig(ip, n)
		calls++
		if calls == 1 && err == nil {
			for i, p := range held {
				ports[i] = p
			}
		}
		return ports, err
	}
	t.Cleanup(func() { pickPorts = orig })
	return &calls
}

// TestStartUnbound_PortTakenRetries: another DNS server holds the port
// picked first. It answers queries, so "any answer" is no readiness
// proof: only unbound's own identity is.
func TestStartUnbound_PortTakenRetries(t *testing.T) {
	testenv.Require(t, UnboundAvailable())
	other, err := NewDNSServer()
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, portStr, _ := net.SplitHostPort(other.Addr)
	port, _ := strconv.Atoi(portStr)
	calls := 0
	orig := pickUDPTCPPort
	pickUDPTCPPort = func(ip string) (uint16, error) {
		if calls++; calls == 1 {
			return uint16(port), nil
		}
		return orig(ip)
	}
	t.Cleanup(func() { pickUDPTCPPort = orig })

	u, err := StartUnbound(context.Background(), UnboundConfig{Upstream: other.Addr})
	if err != nil {
		t.Fatalf("start with the first port taken: %v", err)
	}
	defer u.Close()
	if u.Addr == other.Addr || calls < 2 {
		t.Fatalf("unbound at %s after %d picks: the taken port %s was kept", u.Addr, calls, other.Addr)
	}
	m := new(dns.Msg)
	m.SetQuestion("version.server.", dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	r, err := dns.Exchange(m, u.Addr)
	if err != nil || len(r.Answer) != 1 || !strings.Contains(strings.ToLower(r.Answer[0].String()), "unbound") {
		t.Fatalf("%s is not unbound: %v %v", u.Addr, r, err)
	}
}

// TestStartPebble_PortTakenRetries: the management port picked first is
// held; Pebble cannot bind it.
func TestStartPebble_PortTakenRetries(t *testing.T) {
	testenv.Require(t, PebbleAvailable())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := uint16(l.Addr().(*net.TCPAddr).Port)
	calls := takeFirstPick(t, map[int]uint16{1: taken})
	p, err := StartPebble(context.Background())
	if err != nil {
		t.Fatalf("start with a port taken: %v", err)
	}
	defer p.Close()
	if *calls < 2 || strings.HasSuffix(p.ManagementURL, ":"+strconv.Itoa(int(taken))) {
		t.Fatalf("pebble management at %s after %d picks, port %d taken", p.ManagementURL, *calls, taken)
	}
	if _, err := p.Roots(context.Background()); err != nil {
		t.Fatalf("management API: %v", err)
	}
}

// TestStartProsody_PortTakenRetries: Prosody does not exit when it cannot
// bind a port, and a connection to the port succeeds, to the process that
// holds it. Readiness must check that Prosody itself answers.
func TestStartProsody_PortTakenRetries(t *testing.T) {
	testenv.Require(t, ProsodyAvailable())
	ca, err := hacxtest.NewCA("prosody-retry")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("example.test")
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.Issue("other.test")
	if err != nil {
		t.Fatal(err)
	}
	// The holder speaks TLS with another certificate of the same CA.
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*other}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()
	taken := uint16(l.Addr().(*net.TCPAddr).Port)
	calls := takeFirstPick(t, map[int]uint16{0: taken})
	p, err := StartProsody(context.Background(), ProsodyConfig{Domain: "example.test", Cert: cert})
	if err != nil {
		t.Fatalf("start with a port taken: %v", err)
	}
	defer p.Close()
	if *calls < 2 || p.TLSAddr.Port() == taken {
		t.Fatalf("prosody direct TLS at %s after %d picks, port %d taken", p.TLSAddr, *calls, taken)
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", p.TLSAddr.String(),
		&tls.Config{ServerName: "example.test", RootCAs: ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !bytes.Equal(c.ConnectionState().PeerCertificates[0].Raw, cert.Certificate[0]) {
		t.Fatal("direct TLS port does not present Prosody's certificate")
	}
}

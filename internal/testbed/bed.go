package testbed

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/loopback"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
)

// The test bed: one call builds a whole small Internet on loopback, the
// world "hacx demo" plays its scenarios in and the reliability tests run
// against.
//
// hacxtest is imported by the internal tests of serve, discover and trust,
// so it must not import those packages (nor dial, which imports them):
// that would be an import cycle. The Bed therefore serves any
// http.Handler as its publisher (the demo gives it a serve.Handler) and
// hands out the hooks a discover.Resolver and a dial.Dialer need (Roots,
// DNS address, DialContext functions) through Network, rather than
// building them itself.

// BedConfig configures NewBed. Its zero value is a bed for "example.test"
// with in-process endpoints.
type BedConfig struct {
	// Domain is the XMPP domain the bed serves; "" means "example.test".
	Domain string
	// Prosody, when set, makes the good endpoints (direct TLS, WebSocket,
	// BOSH) a real Prosody (StartProsody) instead of in-process ones.
	Prosody bool
}

// Bed is a world on loopback only: a CA, a DNS server, an HTTPS publisher
// on 127.0.0.1:443's stand-in, and XMPP endpoints good and hostile on
// 127.0.0.2 and up. Close stops all of it.
type Bed struct {
	Domain string
	// CA issued every good certificate; Rogue issued the rogue one.
	CA, Rogue *hacxtest.CA
	// Cert is the good certificate for Domain, on the publisher and every
	// good endpoint: pin its key to pin the good endpoints (A9).
	Cert *tls.Certificate
	// OtherKeyCert is valid for Domain from CA but has another key: the
	// pin-mismatch endpoint presents it.
	OtherKeyCert *tls.Certificate

	DNS *DNSServer
	// Publisher is where every https://NAME:443 fetch of Network lands.
	Publisher netip.AddrPort

	// The good endpoints: direct TLS (XEP-0368), WebSocket (RFC 7395) and
	// BOSH (XEP-0206), with the URLs a document should name.
	TLS, WebSocket, BOSH  netip.AddrPort
	WebSocketURL, BOSHURL string
	// StartTLS is the good STARTTLS endpoint (RFC 6120 section 5), what
	// most services offer behind _xmpp-client SRV records.
	StartTLS      netip.AddrPort
	Prosody       *Prosody // non-nil in Prosody mode
	InProcess     *loopback.XMPPServer
	InProcessWS   *loopback.WebSocketServer
	InProcessBOSH *loopback.BOSHServer

	// The hostile endpoints (C3): each must make an attempt fail.
	Blackholes  [3]netip.AddrPort // accept TCP, never answer (C5)
	Refused     netip.AddrPort    // nothing listens: connection refused
	HTTPOnly    netip.AddrPort    // plaintext web server
	SMTP        netip.AddrPort    // plaintext SMTP banner
	WrongDomain netip.AddrPort    // good TLS, stream from "evil.test"
	RogueCA     netip.AddrPort    // certificate for Domain from Rogue
	OtherKey    netip.AddrPort    // certificate for Domain from CA, OtherKeyCert
	// StrippedStartTLS is the good STARTTLS server behind an on-path
	// attacker who strips <starttls/> from the features (S1).
	StrippedStartTLS netip.AddrPort

	site      atomic.Pointer[http.Handler]
	mu        sync.Mutex
	overrides map[string]http.Handler
	dnsNames  []string
	pub       *hacxtest.Publisher
	closers   []interface{ Close() error }
}

// NewBed builds the bed. On error everything already started is stopped.
func NewBed(ctx context.Context, cfg BedConfig) (b *Bed, err error) {
	b = &Bed{Domain: cfg.Domain, overrides: map[string]http.Handler{}}
	if b.Domain == "" {
		b.Domain = "example.test"
	}
	defer func() {
		if err != nil {
			b.Close()
			b = nil
		}
	}()
	if b.CA, err = hacxtest.NewCA("hacx test bed"); err != nil {
		return nil, err
	}
	if b.Rogue, err = hacxtest.NewCA("rogue"); err != nil {
		return nil, err
	}
	if b.Cert, err = b.CA.Issue(b.Domain); err != nil {
		return nil, err
	}
	if b.OtherKeyCert, err = b.CA.Issue(b.Domain); err != nil {
		return nil, err
	}
	rogueCert, err := b.Rogue.Issue(b.Domain)
	if err != nil {
		return nil, err
	}
	if b.DNS, err = NewDNSServer(); err != nil {
		return nil, err
	}
	b.closers = append(b.closers, b.DNS)
	if err = b.startPublisher(); err != nil {
		return nil, err
	}

	if cfg.Prosody {
		p, err := StartProsody(ctx, ProsodyConfig{Domain: b.Domain, IP: "127.0.0.2", Cert: b.Cert})
		if err != nil {
			return nil, fmt.Errorf("testbed: bed: %w", err)
		}
		b.closers = append(b.closers, p)
		b.Prosody = p
		b.TLS, b.WebSocket, b.BOSH, b.StartTLS = p.TLSAddr, p.HTTPSAddr, p.HTTPSAddr, p.StartTLSAddr
		b.WebSocketURL, b.BOSHURL = p.WebSocketURL, p.BOSHURL
	} else {
		x, err := loopback.StartXMPP("127.0.0.2:0", b.Cert, loopback.XMPPConfig{})
		if err != nil {
			return nil, err
		}
		b.closers = append(b.closers, x)
		ws, err := loopback.StartWebSocket("127.0.0.3:0", b.Cert, loopback.HTTPConfig{Path: "/xmpp-websocket"})
		if err != nil {
			return nil, err
		}
		b.closers = append(b.closers, ws)
		bosh, err := loopback.StartBOSH("127.0.0.4:0", b.Cert, loopback.HTTPConfig{Path: "/http-bind"})
		if err != nil {
			return nil, err
		}
		b.closers = append(b.closers, bosh)
		st, err := loopback.StartStartTLS("127.0.0.2:0", b.Cert, loopback.StartTLSGood, loopback.XMPPConfig{})
		if err != nil {
			return nil, err
		}
		b.closers = append(b.closers, st)
		b.StartTLS = st.Addr()
		b.InProcess, b.InProcessWS, b.InProcessBOSH = x, ws, bosh
		b.TLS, b.WebSocket, b.BOSH = x.Addr(), ws.Addr(), bosh.Addr()
		b.WebSocketURL = "wss://" + b.Domain + "/xmpp-websocket"
		b.BOSHURL = "https://" + b.Domain + "/http-bind"
	}

	for i := range b.Blackholes {
		bh, err := loopback.StartBlackhole("127.0.0.5:0")
		if err != nil {
			return nil, err
		}
		b.closers = append(b.closers, bh)
		b.Blackholes[i] = bh.Addr()
	}
	if b.Refused, err = loopback.RefusedAddr("127.0.0.6"); err != nil {
		return nil, err
	}
	httpOnly, err := loopback.StartHTTPOnly("127.0.0.7:0")
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, httpOnly)
	b.HTTPOnly = httpOnly.Addr()
	smtp, err := loopback.StartSMTP("127.0.0.8:0", nil)
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, smtp)
	b.SMTP = smtp.Addr()
	wrong, err := loopback.StartXMPP("127.0.0.9:0", b.Cert, loopback.XMPPConfig{Domain: "evil.test"})
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, wrong)
	b.WrongDomain = wrong.Addr()
	rogue, err := loopback.StartXMPP("127.0.0.10:0", rogueCert, loopback.XMPPConfig{})
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, rogue)
	b.RogueCA = rogue.Addr()
	other, err := loopback.StartXMPP("127.0.0.11:0", b.OtherKeyCert, loopback.XMPPConfig{})
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, other)
	b.OtherKey = other.Addr()
	stripped, err := loopback.StartStartTLS("127.0.0.12:0", b.Cert, loopback.StartTLSStripped, loopback.XMPPConfig{})
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, stripped)
	b.StrippedStartTLS = stripped.Addr()
	return b, nil
}

// startPublisher serves HTTPS on 127.0.0.1 with the good certificate:
// overrides first (by path), then the site handler, else 404.
func (b *Bed) startPublisher() error {
	pub, err := hacxtest.StartPublisher("127.0.0.1:0", b.Cert, http.HandlerFunc(b.servePublisher))
	if err != nil {
		return fmt.Errorf("testbed: bed publisher: %w", err)
	}
	b.pub, b.Publisher = pub, pub.Addr
	return nil
}

func (b *Bed) servePublisher(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	h := b.overrides[r.URL.Path]
	b.mu.Unlock()
	if h != nil {
		h.ServeHTTP(w, r)
		return
	}
	if s := b.site.Load(); s != nil {
		(*s).ServeHTTP(w, r)
		return
	}
	http.NotFound(w, r)
}

// SetSite makes h (normally a serve.Handler) answer the publisher's
// requests; nil answers 404 to everything (H4).
func (b *Bed) SetSite(h http.Handler) {
	if h == nil {
		b.site.Store(nil)
		return
	}
	b.site.Store(&h)
}

// Handle makes h answer requests for path on the publisher, before the
// site: redirects and hand-written files that a well-behaved publisher
// would refuse to serve (an http:// redirect, a loop).
func (b *Bed) Handle(path string, h http.Handler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.overrides[path] = h
}

// AddDNS adds zone records (presentation format) that Reset removes.
func (b *Bed) AddDNS(records ...string) error {
	if err := b.DNS.Add(records...); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range records {
		if f := strings.Fields(r); len(f) > 0 {
			b.dnsNames = append(b.dnsNames, f[0])
		}
	}
	return nil
}

// Reset forgets the site, the overrides, the DNS records added with AddDNS
// and the AD bit, so the next scenario starts from an empty world.
func (b *Bed) Reset() {
	b.SetSite(nil)
	b.mu.Lock()
	b.overrides = map[string]http.Handler{}
	names := b.dnsNames
	b.dnsNames = nil
	b.mu.Unlock()
	for _, n := range names {
		b.DNS.Remove(n)
	}
	b.DNS.SetAD(false)
	b.DNS.ResetQueries()
}

// Close stops every server of the bed and waits for them.
func (b *Bed) Close() error {
	var errs []error
	if b.pub != nil {
		errs = append(errs, b.pub.Close())
		b.pub = nil
	}
	for i := len(b.closers) - 1; i >= 0; i-- {
		errs = append(errs, b.closers[i].Close())
	}
	b.closers = nil
	return errors.Join(errs...)
}

// ErrBlocked is what a Network's dial returns for a blocked address: the
// firewall of a hostile network rejecting the connection.
var ErrBlocked = errors.New("testbed: blocked by the network")

// Network is one client's view of the bed: the DialContext functions to
// give a discover.Resolver (HTTPSDial) and a dial.Dialer (RouteDial), and
// a firewall that blocks chosen addresses. Its methods are safe for
// concurrent use.
type Network struct {
	bed *Bed
	mu  sync.Mutex
	// blocked holds "host:port" strings as the dial functions see them:
	// "example.test:443" for a fetch, "127.0.0.2:5223" for a route.
	blocked map[string]bool
}

// Network returns a new client network with nothing blocked.
func (b *Bed) Network() *Network { return &Network{bed: b, blocked: map[string]bool{}} }

// Block makes dials to addr fail with ErrBlocked.
func (n *Network) Block(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.blocked[addr] = true
}

// Unblock lifts Block.
func (n *Network) Unblock(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.blocked, addr)
}

func (n *Network) check(addr string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.blocked[addr] {
		return &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("%s: %w", addr, ErrBlocked)}
	}
	return nil
}

// HTTPSDial is a discover.Resolver DialContext: a connection to any
// NAME:443 lands on the bed's publisher, since every web server of this
// world is that one; anything else not on loopback is refused, so nothing
// leaves the machine.
func (n *Network) HTTPSDial(ctx context.Context, network, addr string) (net.Conn, error) {
	if err := n.check(addr); err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	target := addr
	if ip, perr := netip.ParseAddr(host); perr != nil && port == "443" {
		target = n.bed.Publisher.String()
	} else if perr != nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("testbed: bed: %s is outside the test bed", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", target)
}

// RouteDial is a dial.Dialer DialContext: loopback ip:port only, through
// the firewall.
func (n *Network) RouteDial(ctx context.Context, network, addr string) (net.Conn, error) {
	if err := n.check(addr); err != nil {
		return nil, err
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Unmap().IsLoopback() {
		return nil, fmt.Errorf("testbed: bed: %s is outside the test bed", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

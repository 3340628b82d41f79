package dial

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"

	"github.com/miekg/dns"

	"hacx.dev/hacx"
	"hacx.dev/hacx/discover"
	"hacx.dev/hacx/socks"
)

// Default timings (DESIGN.md, RFC 8305 section 5 for the stagger).
const (
	DefaultConnectTimeout   = 5 * time.Second
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultStreamTimeout    = 5 * time.Second
	DefaultStagger          = 250 * time.Millisecond
	// DefaultMinStagger is the shortest adaptive attempt delay: RFC 8305
	// section 5 advises no less than 100 ms, whatever the round trip.
	DefaultMinStagger = 100 * time.Millisecond
	// DefaultProxyStagger replaces DefaultStagger when dialing through a
	// Proxy: every attempt pays the proxy's extra round trips (a Tor
	// circuit's, often hundreds of milliseconds), so a 250 ms stagger
	// would start nearly every route at once.
	DefaultProxyStagger = time.Second
)

// ErrProxyBypass is the error of a Dialer whose Proxy is set but whose
// Routes would discover without it: the HACX fetch would go around the
// proxy (T1).
var ErrProxyBypass = errors.New("dial: Proxy is set but the Routes resolver has none: discovery would bypass the proxy (T1)")

// TLSASource looks up the DANE TLSA records at _port._tcp.host (X4).
// secure must be true only for a DNSSEC-validated answer from a trusted
// resolver; insecure answers are ignored. A source with nothing to say
// returns (nil, false, nil).
type TLSASource interface {
	LookupTLSA(ctx context.Context, host string, port uint16) (recs []*dns.TLSA, secure bool, err error)
}

// NoDANE is a TLSASource that never finds a record: DANE is not used and
// no DNS query is made. Use it when dialing through a proxy that must see
// every lookup (T1).
var NoDANE TLSASource = noDANE{}

type noDANE struct{}

func (noDANE) LookupTLSA(context.Context, string, uint16) ([]*dns.TLSA, bool, error) {
	return nil, false, nil
}

// Dialer connects to an XMPP service over the best working route, with the
// exact SNI and ALPN of the route, its pins, DANE or WebPKI, and a verified
// XMPP stream (C3-C5). Its zero value is ready to use: discovery through a
// zero discover.Resolver, system roots, the default timings.
//
// A Dialer is safe for concurrent use once its fields are set.
type Dialer struct {
	// Routes finds routes for Dial and DialServer, normally a
	// *discover.Resolver. nil means a zero discover.Resolver (with this
	// Dialer's Proxy, when set).
	Routes RouteSource

	// TLSA looks up DANE records, consulted only for routes without pins
	// (A10, X4). nil means Routes when it also implements TLSASource (a
	// *discover.Resolver does, and asks nothing behind a socks5h proxy
	// unless its DNSServer is set explicitly, T1), else no DANE. Set
	// NoDANE to turn DANE off explicitly.
	TLSA TLSASource

	// Methods, if not empty, are the only methods tried (C1): routes of
	// any other method are left out before the race, as if not
	// published. Empty means every method this package speaks.
	Methods []hacx.Method

	// Roots are the WebPKI trust anchors; nil means the system roots.
	Roots *x509.CertPool

	// ConnectTimeout bounds each TCP connect; 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// HandshakeTimeout bounds each TLS handshake including certificate
	// verification; 0 means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// StreamTimeout bounds the XMPP proof after TLS: stream header and
	// features, WebSocket upgrade and <open/>, or BOSH session creation;
	// 0 means DefaultStreamTimeout.
	StreamTimeout time.Duration
	// Stagger is the longest an attempt runs alone before the next route
	// is tried in parallel (C5, RFC 8305); an attempt that fails earlier
	// starts the next one at once. 0 means DefaultStagger
	// (DefaultProxyStagger with a Proxy); a negative value means no
	// overlap: strictly one route after the other.
	//
	// Within [MinStagger, Stagger] the delay adapts to the round trip
	// (RFC 8305 section 5): twice the route's remembered RTT, and as soon
	// as the attempt's TCP connect completes, twice that connect time. A
	// server that accepted TCP in 0.1 ms and has not answered the
	// ClientHello 100 ms later is already stalling.
	Stagger time.Duration
	// MinStagger is the shortest adaptive delay. 0 means
	// DefaultMinStagger when Stagger is 0 too and there is no Proxy;
	// otherwise (Stagger set alone, or through a proxy, whose round trips
	// vary too much to judge) the delay is fixed at Stagger.
	MinStagger time.Duration

	// Memory remembers, per domain and kind, the route that last gave a
	// verified stream and the routes that recently timed out, so the next
	// dial tries the winner first and the stalls last (see Plan). It is a
	// discover.Cache: discover.DirCache keeps it next to cached documents
	// across runs. nil means a memory shared by the process; NoMemory
	// remembers nothing.
	Memory discover.Cache
	// FailureMemory is how long a route that timed out stays behind the
	// others, unless the route set changes first; 0 means
	// DefaultFailureMemory.
	FailureMemory time.Duration

	// DialContext opens TCP connections; nil means a net.Dialer. It is
	// always called with network "tcp" and the route's ip:port, never a
	// host name (A8). It is not used when there is a proxy (see Proxy).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// DialPacket opens the UDP socket of a QUIC route (Q1) and returns it
	// with the address its packets go to; nil means an unconnected UDP
	// socket on any local address, sending to the route's ip:port. It is
	// always called with network "udp" and the route's ip:port, never a
	// host name (A8). It is not used with a proxy: QUIC routes are then
	// skipped (ErrQUICThroughProxy, T1).
	DialPacket func(ctx context.Context, network, addr string) (net.PacketConn, net.Addr, error)

	// Proxy, if set, carries every route's connection, as a CONNECT to the
	// route's ip:port (T1); a failing proxy fails the attempt, nothing is
	// dialed directly. Discovery must go through it too: a nil Routes then
	// means a discover.Resolver with this Proxy, and a *discover.Resolver
	// without Proxy is refused with ErrProxyBypass. nil means the Proxy of
	// a *discover.Resolver in Routes, if it has one: routes found through a
	// proxy are dialed through it, not around it; otherwise connections are
	// direct.
	Proxy *socks.Proxy

	// From is the local domain an initiating server names in the from
	// attribute of its server-to-server stream header (RFC 6120 section
	// 4.7.1), which receiving servers need for dialback and SASL EXTERNAL.
	// Only DialServer (jabber:server over direct TLS) sends it; "" sends
	// none.
	From string

	// Logger receives one debug record per phase and one info record per
	// attempt outcome; nil means silent.
	Logger *slog.Logger

	// Now is the clock used for certificate validity; nil means time.Now.
	Now func() time.Time
}

func (d *Dialer) connectTimeout() time.Duration {
	return orDefault(d.ConnectTimeout, DefaultConnectTimeout)
}

func (d *Dialer) handshakeTimeout() time.Duration {
	return orDefault(d.HandshakeTimeout, DefaultHandshakeTimeout)
}

func (d *Dialer) streamTimeout() time.Duration {
	return orDefault(d.StreamTimeout, DefaultStreamTimeout)
}

func (d *Dialer) stagger() time.Duration {
	if d.Stagger < 0 {
		return 0 // no overlap; the racer reads 0 as "wait for failure"
	}
	if d.proxy() != nil {
		return orDefault(d.Stagger, DefaultProxyStagger)
	}
	return orDefault(d.Stagger, DefaultStagger)
}

// staggerRange is the adaptive attempt delay's bounds; 0, 0 means no
// overlap.
func (d *Dialer) staggerRange() (lo, hi time.Duration) {
	hi = d.stagger()
	switch {
	case hi == 0:
		return 0, 0
	case d.MinStagger > 0:
		return min(d.MinStagger, hi), hi
	case d.Stagger == 0 && d.proxy() == nil:
		return min(DefaultMinStagger, hi), hi
	}
	return hi, hi
}

func orDefault(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

func (d *Dialer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Dialer) log() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return discardLogger
}

var discardLogger = slog.New(slog.DiscardHandler)

// proxy is the proxy every connection goes through: Proxy, else the one
// Routes discovers through, so that routes learnt through a proxy are not
// then dialed around it (T1). nil means direct.
func (d *Dialer) proxy() *socks.Proxy {
	if d.Proxy != nil {
		return d.Proxy
	}
	if ps, ok := d.Routes.(proxiedSource); ok {
		return ps.SOCKSProxy()
	}
	return nil
}

func (d *Dialer) routeSource() RouteSource {
	switch {
	case d.Routes != nil:
		return d.Routes
	case d.Proxy != nil:
		// T1: the default discovery goes through the proxy too.
		return &discover.Resolver{Proxy: d.Proxy}
	}
	return &defaultResolver
}

// checkProxy refuses Routes that would discover around the Proxy (T1).
func (d *Dialer) checkProxy() error {
	if d.Proxy == nil {
		return nil
	}
	if ps, ok := d.Routes.(proxiedSource); ok && ps.SOCKSProxy() == nil {
		return ErrProxyBypass
	}
	return nil
}

func (d *Dialer) tlsaSource() TLSASource {
	if d.TLSA != nil {
		return d.TLSA
	}
	if t, ok := d.routeSource().(TLSASource); ok {
		return t
	}
	return NoDANE
}

// connectOp names the TCP connect phase in errors: through a Proxy, the
// proxy (without credentials), since a stalled proxy and a dead route
// look the same from here (T1).
func (d *Dialer) connectOp() string {
	if p := d.proxy(); p != nil {
		return "tcp connect through proxy " + p.String()
	}
	return "tcp connect"
}

func (d *Dialer) dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	if p := d.proxy(); p != nil {
		return p.DialContext(ctx, "tcp", addr) // T1: never around it
	}
	if d.DialContext != nil {
		return d.DialContext(ctx, "tcp", addr)
	}
	var nd net.Dialer
	return nd.DialContext(ctx, "tcp", addr)
}

// Dial connects to the client-to-server service of domain (jabber:client).
func (d *Dialer) Dial(ctx context.Context, domain string) (*Conn, error) {
	return d.dialKind(ctx, domain, hacx.Client)
}

// DialServer connects to the server-to-server service of domain
// (jabber:server).
func (d *Dialer) DialServer(ctx context.Context, domain string) (*Conn, error) {
	return d.dialKind(ctx, domain, hacx.Server)
}

func (d *Dialer) dialKind(ctx context.Context, domain string, kind hacx.Kind) (*Conn, error) {
	if err := d.checkProxy(); err != nil {
		return nil, &Error{Domain: domain, Kind: kind, Err: err}
	}
	routes, err := d.routeSource().Routes(ctx, domain, kind)
	if err != nil {
		return nil, &Error{Domain: domain, Kind: kind, Err: fmt.Errorf("dial: discovery: %w", err)}
	}
	return d.DialRoutes(ctx, domain, kind, routes)
}

// allowed is routes without those whose method is not in Methods (C1).
func (d *Dialer) allowed(routes []hacx.Route) []hacx.Route {
	if len(d.Methods) == 0 {
		return routes
	}
	var out []hacx.Route
	for _, r := range routes {
		if slices.Contains(d.Methods, r.Method) {
			out = append(out, r)
		}
	}
	return out
}

// DialRoutes tries routes, already in order, for domain, in the order of
// Plan (the remembered winner first, recent stalls last, address families
// interleaved): attempts start after the adaptive stagger or as soon as
// the previous one failed, and the first verified stream wins (C3-C5). The losers are cancelled and closed. When
// every route fails the error is an *Error listing each attempt.
func (d *Dialer) DialRoutes(ctx context.Context, domain string, kind hacx.Kind, routes []hacx.Route) (*Conn, error) {
	if domain == "" {
		return nil, &Error{Domain: domain, Kind: kind, Err: ErrNoName}
	}
	routes = d.allowed(routes)
	if len(routes) == 0 {
		return nil, &Error{Domain: domain, Kind: kind, Err: ErrNoRoutes}
	}
	plan, set, m := d.plan(ctx, domain, kind, routes)
	// race sets the winner's Attempts.
	conns, attempts, err := d.race(ctx, domain, kind, plan, false)
	d.remember(ctx, domain, kind, set, m, attempts, d.now())
	if err != nil {
		return nil, err
	}
	return conns[0], nil
}

// DialAll tries every route, overlapping them like DialRoutes but without
// stopping at the first success, and returns every attempt in the order of
// Plan: the report "hacx check --all" prints. Working connections are
// closed before it returns. The error is non-nil only for a dial that
// could not run at all (no routes, empty domain, cancelled context).
func (d *Dialer) DialAll(ctx context.Context, domain string, kind hacx.Kind, routes []hacx.Route) ([]Attempt, error) {
	if domain == "" {
		return nil, &Error{Domain: domain, Kind: kind, Err: ErrNoName}
	}
	routes = d.allowed(routes)
	if len(routes) == 0 {
		return nil, &Error{Domain: domain, Kind: kind, Err: ErrNoRoutes}
	}
	plan, set, m := d.plan(ctx, domain, kind, routes)
	conns, attempts, err := d.race(ctx, domain, kind, plan, true)
	d.remember(ctx, domain, kind, set, m, attempts, d.now())
	for _, c := range conns {
		c.Close()
	}
	var de *Error
	if errors.As(err, &de) && de.Err == nil {
		err = nil // every route failed: that is the report, not an error
	}
	return attempts, err
}

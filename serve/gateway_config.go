package serve

// This file holds what the gateway is configured with (G1-G4): the
// upstreams of each domain, the gateway's listeners, limits and timeouts,
// and the records derived from them for domains that publish none (G2).

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"hacx.dev/hacx"
)

// Upstream is where a Server's gateway sends one domain's XMPP traffic
// (G1): its local XMPP server's listeners. A domain with an Upstream is
// served on the gateway's TLS listener by ALPN: xmpp-client to C2S,
// xmpp-server to S2S, HTTP to the well-known files and, on the WebSocket
// and BOSH paths, to HTTP. Empty fields route nothing of that kind.
type Upstream struct {
	// C2S is the server's client-to-server listener, "host:port" for a
	// plain one (the gateway ended TLS, so tell the server to treat these
	// streams as secure, G3), or "tls://host:port" for a direct-TLS one
	// that the gateway encrypts to again, verified against RootCAs for
	// the domain's name: no change on the server needed.
	C2S string
	// S2S is the server's server-to-server listener, in the same forms.
	S2S string
	// HTTP is the base URL of the server's HTTP listener
	// ("http://127.0.0.1:5280", or https:// verified against RootCAs),
	// where WebSocket and BOSH requests go, with their path unchanged.
	HTTP string
	// WebSocketPath and BOSHPath are the paths forwarded to HTTP; empty
	// means DefaultWebSocketPath and DefaultBOSHPath (ejabberd uses /ws
	// and /bosh).
	WebSocketPath, BOSHPath string
	// ProxyProtocol sends a PROXY protocol v2 header before the stream on
	// C2S and S2S connections, so that the server sees the client's
	// address (ejabberd: use_proxy_protocol). HTTP requests carry
	// X-Forwarded-For instead (G3).
	ProxyProtocol bool
	// RootCAs verifies tls:// and https:// upstreams; nil means the
	// system roots.
	RootCAs *x509.CertPool
}

// Default paths of the WebSocket (RFC 7395) and BOSH (XEP-0206) endpoints,
// as Prosody serves them.
const (
	DefaultWebSocketPath = "/xmpp-websocket"
	DefaultBOSHPath      = "/http-bind"
)

// Gateway holds the settings of a Server's gateway (G1-G4) that come with
// the configuration and change on reload. Its zero value uses the
// defaults below. Listen addresses are Server fields, not configuration.
type Gateway struct {
	// PublicIPs are the addresses clients reach the gateway's listeners
	// at, listed in the records derived for domains that have an Upstream
	// and publish no records of their own (G2).
	PublicIPs []netip.Addr
	// PublicPort is the port clients reach the HTTPS listener at; 0 means
	// the port of the Server's listener (443 when it has none).
	PublicPort uint16
	// XMPPSPort is the port clients reach the direct-TLS listener at; 0
	// means the port of the Server's XMPPS listener, if it has one.
	XMPPSPort uint16
	// QUICPort is the UDP port clients reach the QUIC listener at (Q1); 0
	// means the port of the Server's QUIC socket, if it has one.
	QUICPort uint16

	// MaxConns bounds the connections open at once on the gateway's
	// listeners and MaxConnsPerIP those of one client address; more are
	// closed at once, before any TLS work. 0 means DefaultMaxConns and
	// DefaultMaxConnsPerIP, negative means no bound.
	MaxConns, MaxConnsPerIP int

	// HandshakeTimeout bounds the TLS handshake of a client and
	// FirstByteTimeout its silence after it: a client must then start its
	// stream or HTTP request (G4). ConnectTimeout bounds connecting to an
	// upstream, TLS included. 0 means the defaults.
	HandshakeTimeout, FirstByteTimeout, ConnectTimeout time.Duration

	// Idle timeouts per kind of traffic: a relayed c2s, s2s or WebSocket
	// connection on which no byte moved either way for so long is closed,
	// and so is an HTTP connection waiting that long for its next
	// request. 0 means the defaults; negative means never (not for HTTP).
	// HTTPIdleTimeout takes effect when the Server starts, not on reload.
	C2SIdleTimeout, S2SIdleTimeout, WebSocketIdleTimeout, HTTPIdleTimeout time.Duration
	// BOSHTimeout bounds one BOSH request, which a connection manager
	// holds up to the session's wait (XEP-0124 section 7.1); 0 means
	// DefaultBOSHTimeout.
	BOSHTimeout time.Duration
}

// Defaults of the zero Gateway fields.
const (
	DefaultMaxConns             = 10000
	DefaultMaxConnsPerIP        = 100
	DefaultHandshakeTimeout     = 10 * time.Second
	DefaultFirstByteTimeout     = 10 * time.Second
	DefaultConnectTimeout       = 5 * time.Second
	DefaultC2SIdleTimeout       = 10 * time.Minute
	DefaultS2SIdleTimeout       = 30 * time.Minute
	DefaultWebSocketIdleTimeout = 10 * time.Minute
	DefaultHTTPIdleTimeout      = 2 * time.Minute
	DefaultBOSHTimeout          = 3 * time.Minute
)

// withDefaults returns g with every zero setting replaced by its default.
func (g Gateway) withDefaults() Gateway {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&g.HandshakeTimeout, DefaultHandshakeTimeout)
	def(&g.FirstByteTimeout, DefaultFirstByteTimeout)
	def(&g.ConnectTimeout, DefaultConnectTimeout)
	def(&g.C2SIdleTimeout, DefaultC2SIdleTimeout)
	def(&g.S2SIdleTimeout, DefaultS2SIdleTimeout)
	def(&g.WebSocketIdleTimeout, DefaultWebSocketIdleTimeout)
	def(&g.HTTPIdleTimeout, DefaultHTTPIdleTimeout)
	def(&g.BOSHTimeout, DefaultBOSHTimeout)
	if g.MaxConns == 0 {
		g.MaxConns = DefaultMaxConns
	}
	if g.MaxConnsPerIP == 0 {
		g.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	return g
}

// streamTarget is a c2s or s2s upstream address, parsed.
type streamTarget struct {
	addr string // host:port
	tls  bool   // tls://: encrypt again, verified for the domain
}

// parseStreamTarget reads "host:port" or "tls://host:port".
func parseStreamTarget(s string) (streamTarget, error) {
	t := streamTarget{addr: s}
	if rest, ok := strings.CutPrefix(s, "tls://"); ok {
		t = streamTarget{addr: rest, tls: true}
	} else if strings.Contains(s, "://") {
		return t, fmt.Errorf("%q: want host:port (a plain listener) or tls://host:port (a direct-TLS one)", s)
	}
	host, port, err := net.SplitHostPort(t.addr)
	if err != nil || host == "" {
		return t, fmt.Errorf("%q is not host:port", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return t, fmt.Errorf("%q: port must be 1 to 65535", s)
	}
	return t, nil
}

// parseHTTPUpstream reads the base URL of an HTTP upstream.
func parseHTTPUpstream(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q: want the server's HTTP listener as http://host:port (or https://)", s)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("%q: give the listener only (no path, query or user): request paths are forwarded as they are", s)
	}
	u.Path = ""
	return u, nil
}

// checkUpstreamPath checks a WebSocket or BOSH path.
func checkUpstreamPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?# \t"):
		return fmt.Errorf("%q is not a URL path such as /xmpp-websocket", p)
	case strings.HasPrefix(p, "/.well-known/"):
		return fmt.Errorf("%q is under /.well-known/, where the discovery files are served", p)
	}
	return nil
}

// check reports what is wrong with u, for Handler.Load and LoadConfig.
func (u *Upstream) check() []string {
	var probs []string
	if u.C2S == "" && u.S2S == "" && u.HTTP == "" {
		probs = append(probs, "upstream has neither c2s, s2s nor http: nothing to forward")
	}
	for _, s := range []string{u.C2S, u.S2S} {
		if s == "" {
			continue
		}
		if _, err := parseStreamTarget(s); err != nil {
			probs = append(probs, err.Error())
		}
	}
	if u.HTTP != "" {
		if _, err := parseHTTPUpstream(u.HTTP); err != nil {
			probs = append(probs, err.Error())
		}
	}
	ws, bosh := u.paths()
	for _, p := range []string{ws, bosh} {
		if err := checkUpstreamPath(p); err != nil {
			probs = append(probs, err.Error())
		}
	}
	if ws == bosh {
		probs = append(probs, fmt.Sprintf("websocket-path and bosh-path are both %q", ws))
	}
	if u.ProxyProtocol && u.C2S == "" && u.S2S == "" {
		probs = append(probs, "proxy-protocol applies to c2s and s2s upstreams, and there is neither (HTTP upstreams get X-Forwarded-For)")
	}
	return probs
}

func (u *Upstream) paths() (ws, bosh string) {
	ws, bosh = u.WebSocketPath, u.BOSHPath
	if ws == "" {
		ws = DefaultWebSocketPath
	}
	if bosh == "" {
		bosh = DefaultBOSHPath
	}
	return ws, bosh
}

// Priorities of derived records (G2): direct TLS with ALPN on the HTTPS
// port first (it also passes networks that let only 443 through), the
// direct-TLS port next, then WebSocket and BOSH for clients that speak
// only HTTP.
const (
	derivedPriorityTLS       = 10
	derivedPriorityQUIC      = 12 // after TLS on 443, which passes where UDP may not
	derivedPriorityXMPPS     = 15
	derivedPriorityWebSocket = 20
	derivedPriorityBOSH      = 30
)

// deriveRecords returns the records a domain fronted by the gateway
// publishes when it lists none itself (G2): for each public IP, direct TLS
// with ALPN xmpp-client on the HTTPS port (and on the XMPPS port when there
// is one), QUIC with ALPN xmpp-client on the QUIC port when there is one
// (Q1), WebSocket and BOSH, all with SNI the domain, so that the gateway
// picks the right certificate and upstream; for servers, direct TLS (and
// QUIC) with ALPN xmpp-server.
func deriveRecords(name string, u *Upstream, g *Gateway) (client, server []hacx.Record) {
	port := g.PublicPort
	if port == 0 {
		port = 443
	}
	host := name
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != 443 {
		host += ":" + strconv.Itoa(int(port))
	}
	ws, bosh := u.paths()
	rec := func(m hacx.Method, ip netip.Addr, port uint16, prio uint16) hacx.Record {
		return hacx.Record{Method: m, IP: ip, Port: port, Priority: prio, SNI: name, HasSNI: true}
	}
	for _, ip := range g.PublicIPs {
		if u.C2S != "" {
			r := rec(hacx.MethodTLS, ip, port, derivedPriorityTLS)
			r.ALPN = []byte(alpnClient)
			client = append(client, r)
			if g.QUICPort != 0 {
				r := rec(hacx.MethodQUIC, ip, g.QUICPort, derivedPriorityQUIC)
				r.ALPN = []byte(alpnClient)
				client = append(client, r)
			}
			if g.XMPPSPort != 0 {
				r := rec(hacx.MethodTLS, ip, g.XMPPSPort, derivedPriorityXMPPS)
				r.ALPN = []byte(alpnClient)
				client = append(client, r)
			}
		}
		if u.HTTP != "" {
			r := rec(hacx.MethodWebSocket, ip, port, derivedPriorityWebSocket)
			r.URL = "wss://" + host + ws
			client = append(client, r)
			r = rec(hacx.MethodBOSH, ip, port, derivedPriorityBOSH)
			r.URL = "https://" + host + bosh
			client = append(client, r)
		}
		if u.S2S != "" {
			r := rec(hacx.MethodTLS, ip, port, derivedPriorityTLS)
			r.ALPN = []byte(alpnServer)
			server = append(server, r)
			if g.QUICPort != 0 {
				r := rec(hacx.MethodQUIC, ip, g.QUICPort, derivedPriorityQUIC)
				r.ALPN = []byte(alpnServer)
				server = append(server, r)
			}
		}
	}
	return client, server
}

// ALPN protocol IDs the gateway routes by (XEP-0368).
const (
	alpnClient = "xmpp-client"
	alpnServer = "xmpp-server"
)

// checkPublicIP refuses addresses no client can be sent to.
func checkPublicIP(a netip.Addr) error {
	if a.IsUnspecified() || a.IsMulticast() || a.Zone() != "" {
		return fmt.Errorf("%s cannot be published as an address to connect to", a)
	}
	return nil
}

package dial

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// routeURL parses a websocket or bosh route's URL and checks its scheme:
// wss:// for websocket, https:// for bosh (the document rules); plain
// ws:// or http:// would leave TLS, which HACX never does.
func routeURL(raw string, schemes ...string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("bad url: %w", err)
	}
	for _, s := range schemes {
		if strings.EqualFold(u.Scheme, s) && u.Hostname() != "" {
			return u, nil
		}
	}
	return nil, fmt.Errorf("url %q: want a %s URL with a host", raw, strings.Join(schemes, " or "))
}

// routeClient returns an HTTP client bound to the route: every connection
// it opens goes to the route's ip:port, not to the URL host (A8), with the
// route's SNI rule and the same certificate checks as the first one. The
// URL host still fills the Host header. first, already verified, serves
// the first request.
//
// release is for an attempt that ends without handing the client on (a
// failure, a lost race, or a WebSocket whose upgrade took the connection
// out of the pool): it closes first if no request took it, closes the
// idle connections, and refuses any later dial. The transport dials apart
// from the request (a cancelled request does not stop it) and pools what
// it gets; CloseIdleConnections also makes the transport close whatever
// becomes idle afterwards, until the next request, which a released
// client never makes (C5: a loser leaves nothing open).
//
// Redirects are not followed: they would lead away from the route.
func (d *Dialer) routeClient(a *attempt, names []string, tl *tlsaLookup, first *tls.Conn) (client *http.Client, release func(), last func() *tls.Conn) {
	var (
		pending  atomic.Pointer[tls.Conn]
		latest   atomic.Pointer[tls.Conn] // the connection last handed to the transport
		released atomic.Bool
	)
	pending.Store(first)
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			return nil, errors.New("dial: plain HTTP refused: HACX routes are TLS only")
		},
		DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			if c := pending.Swap(nil); c != nil {
				latest.Store(c)
				return c, nil
			}
			if released.Load() {
				return nil, errReleased
			}
			// A later connection (BOSH keeps several): same route, same
			// rules, its own phase tracking.
			c, err := d.connectTLS(ctx, &attempt{route: a.route, start: a.start}, names, tl)
			if err == nil {
				latest.Store(c)
			}
			return c, err
		},
		DisableCompression:  true, // bodies are bounded as sent (GO-NOTES)
		MaxIdleConnsPerHost: 2,    // BOSH holds at most two requests (XEP-0124 hold=1)
		// A backstop: nothing stays pooled for ever, whatever path
		// forgot to release.
		IdleConnTimeout: idleConnTimeout,
	}
	client = &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	release = func() {
		released.Store(true) // before the Swap: a dial that finds nothing pending sees it
		if c := pending.Swap(nil); c != nil {
			c.Close()
		}
		tr.CloseIdleConnections()
	}
	return client, release, latest.Load
}

// idleConnTimeout is how long a route client keeps an unused connection.
// BOSH requests follow each other at once (XEP-0124 section 7), so a
// connection idle this long is one nobody will use.
const idleConnTimeout = 90 * time.Second

// errReleased is what a released route client's late dials get.
var errReleased = errors.New("dial: route client released")

// httpRoute is a WebSocket or BOSH route whose first TLS connection is
// verified: its URL, that connection's state, and an HTTP client bound to
// the route's ip:port (A8). release frees the client's connections when
// the attempt does not hand the client on (see routeClient).
type httpRoute struct {
	url     *url.URL
	tls     tls.ConnectionState
	client  *http.Client
	release func()
	// last is the connection the transport dialed last: after a
	// WebSocket upgrade, its only request, the one under the WebSocket.
	last func() *tls.Conn
}

// connectHTTPRoute is what WebSocket and BOSH share before their own
// protocol: the URL with its scheme, the acceptable names (the domain or
// the URL host, A10), DANE for the URL host, the verified TLS connection,
// and the HTTP client that reuses it.
func (d *Dialer) connectHTTPRoute(ctx context.Context, a *attempt, domain, scheme string) (*httpRoute, error) {
	u, err := routeURL(a.route.URL, scheme)
	if err != nil {
		return nil, err
	}
	names := acceptableNames(domain, u.Hostname()) // A10 decision
	tl := d.startTLSA(ctx, a.route, tlsaHost(a.route, domain, u.Hostname()))
	tc, err := d.connectTLS(ctx, a, names, tl)
	if err != nil {
		return nil, err
	}
	a.setPhase(PhaseStream)
	cs := tc.ConnectionState()
	client, release, last := d.routeClient(a, names, tl, tc)
	return &httpRoute{url: u, tls: cs, client: client, release: release, last: last}, nil
}

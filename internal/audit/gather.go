package audit

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/coder/websocket"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/discover"
	"hacx.dev/hacx/socks"
)

// DefaultOrigin is the Origin the audit's requests send: a site that is
// surely not the domain's own, as a web client hosted elsewhere would be.
const DefaultOrigin = "https://webclient.invalid"

// DefaultTimeout bounds each HTTP request of the audit.
const DefaultTimeout = 10 * time.Second

// Auditor gathers the Facts of a domain. Lookup, and Dialer for routes no
// earlier attempt covers, are required; the rest may stay zero.
type Auditor struct {
	// Lookup finds routes with every source consulted: normally the
	// Lookup of a discover.Resolver whose Fallback is FallbackAlways.
	Lookup func(ctx context.Context, domain string, kind hacx.Kind) (*discover.Result, error)
	// LookupSRV, when Host Meta 2 made Lookup skip SRV (X3), finds the
	// SRV routes anyway: normally a Resolver whose Transport is
	// NotFoundTransport, so that every HTTPS source says "none" and SRV
	// is asked. nil leaves SRV out, with a note.
	LookupSRV func(ctx context.Context, domain string, kind hacx.Kind) (*discover.Result, error)
	// Dialer tries the routes that no attempt given to Gather covers
	// (DialAll). Give it no Memory (dial.NoMemory), so that the audit
	// does not change the order later dials take.
	Dialer *dial.Dialer
	// Roots verify the HTTPS host of the document; nil means the
	// system roots.
	Roots *x509.CertPool
	// DialContext opens the TCP connection of the audit's own fetch of
	// the document, to DOMAIN:443 by name. nil means a net.Dialer, or
	// Proxy when it is set. The web checks of routes connect as Dialer
	// does: through its Proxy, else its DialContext.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Proxy, when set and DialContext is not, carries that connection
	// (T1).
	Proxy *socks.Proxy
	// Origin is the Origin header of the web requests; "" means
	// DefaultOrigin.
	Origin string
	// Timeout bounds each HTTP request; 0 means DefaultTimeout.
	Timeout time.Duration
	// Now is the clock certificates are judged by; nil means time.Now.
	Now func() time.Time
}

// Audit gathers the facts and returns the findings. prior are attempts
// already made on routes of domain (the check's own), reused rather than
// made again.
func (a *Auditor) Audit(ctx context.Context, domain string, kind hacx.Kind, prior []dial.Attempt) (*Report, error) {
	f, err := a.Gather(ctx, domain, kind, prior)
	if err != nil {
		return nil, err
	}
	notes := f.Notes
	if notes == nil {
		notes = []string{}
	}
	return &Report{Findings: Findings(f), Notes: notes}, nil
}

// Gather looks domain up with every source, tries the routes that no
// attempt in prior covers, and asks the HTTPS host and the web routes
// what a web client would. Only an invalid domain is an error; what could
// not be learnt is in Facts.Notes.
func (a *Auditor) Gather(ctx context.Context, domain string, kind hacx.Kind, prior []dial.Attempt) (*Facts, error) {
	f := &Facts{Domain: domain, Kind: kind, Now: a.now()}
	res, err := a.Lookup(ctx, domain, kind)
	if res == nil {
		if err == nil {
			err = errors.New("audit: lookup gave no result")
		}
		return nil, err
	}
	f.Domain, f.Result = res.Domain, res
	for _, s := range res.Sources {
		if s.Status == discover.StatusError {
			f.Notes = append(f.Notes, fmt.Sprintf("%s (%s) failed, not compared: %v", s.Source, s.Query, s.Err))
		}
	}
	if skippedForHostMeta2(res) {
		f.SRV, f.Notes = a.srvAnyway(ctx, f.Domain, kind, f.Notes)
	}

	// Every route once: the attempts given, then new ones for the rest.
	done := map[string]bool{}
	for _, at := range prior {
		if errors.Is(at.Err, dial.ErrLostRace) {
			continue // cut short by the winner: try it in full
		}
		k := routeKey(at.Route)
		if !done[k] {
			done[k] = true
			f.Attempts = append(f.Attempts, at)
		}
	}
	var todo []hacx.Route
	for _, r := range append(append([]hacx.Route{}, res.Routes...), f.SRV...) {
		if k := routeKey(r); !done[k] {
			done[k] = true
			todo = append(todo, r)
		}
	}
	if len(todo) > 0 && a.Dialer != nil {
		atts, err := a.Dialer.DialAll(ctx, f.Domain, kind, todo)
		if err != nil && !errors.Is(err, dial.ErrNoRoutes) {
			f.Notes = append(f.Notes, "routes not tried: "+err.Error())
		}
		f.Attempts = append(f.Attempts, atts...)
	}

	f.Document = a.fetchDocument(ctx, f.Domain, kind)
	if f.Document.Err != nil {
		f.Notes = append(f.Notes, "HSTS and CORS of the document not checked: "+f.Document.Err.Error())
	}
	for _, at := range f.Attempts {
		r := at.Route
		if r.Method != hacx.MethodWebSocket && r.Method != hacx.MethodBOSH {
			continue
		}
		if !at.OK() || at.TLS == nil || len(at.TLS.PeerCertificates) == 0 {
			f.Notes = append(f.Notes, r.String()+": web clients of other origins not checked: the route does not work")
			continue
		}
		w := a.askWeb(ctx, at)
		if w.Err != nil {
			f.Notes = append(f.Notes, r.String()+": web clients of other origins not checked: "+w.Err.Error())
		}
		f.Web = append(f.Web, w)
	}
	return f, nil
}

// skippedForHostMeta2 reports whether the lookup skipped SRV because Host
// Meta 2 was present (X3): the one case where FallbackAlways still leaves
// a source out.
func skippedForHostMeta2(res *discover.Result) bool {
	hm2 := false
	for _, s := range res.Sources {
		if s.Source == hacx.SourceHostMeta2 && s.Status == discover.StatusFound {
			hm2 = true
		}
	}
	if !hm2 {
		return false
	}
	for _, s := range res.Sources {
		if s.Source == hacx.SourceSRV && s.Status != discover.StatusSkipped {
			return false
		}
	}
	return true
}

// srvAnyway asks LookupSRV for the SRV routes Host Meta 2 hid.
func (a *Auditor) srvAnyway(ctx context.Context, domain string, kind hacx.Kind, notes []string) ([]hacx.Route, []string) {
	if a.LookupSRV == nil {
		return nil, append(notes, "SRV skipped for Host Meta 2 (X3) and not compared")
	}
	res, err := a.LookupSRV(ctx, domain, kind)
	if res == nil {
		return nil, append(notes, fmt.Sprintf("SRV not compared: %v", err))
	}
	var out []hacx.Route
	for _, s := range res.Sources {
		switch {
		case s.Source != hacx.SourceSRV:
		case s.Status == discover.StatusError:
			notes = append(notes, fmt.Sprintf("SRV %s failed, not compared: %v", s.Query, s.Err))
		case s.Status == discover.StatusSkipped:
			notes = append(notes, "SRV not compared: "+s.Note)
		}
	}
	for _, r := range res.Routes {
		if r.Source == hacx.SourceSRV {
			out = append(out, r)
		}
	}
	return out, notes
}

// routeKey identifies a route across lookups: the same record of the same
// source leading to the same place with the same TLS parameters.
func routeKey(r hacx.Route) string {
	var pins bytes.Buffer
	for _, p := range r.Pins {
		pins.WriteString(p.String() + ";")
	}
	return fmt.Sprintf("%s|%d|%s|%s|%s|%t|%s|%x|%s", r.Source, r.Index, r.Method, r.Dest(), r.URL, r.HasSNI, r.SNI, r.ALPN, pins.String())
}

func (a *Auditor) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Auditor) timeout() time.Duration {
	if a.Timeout > 0 {
		return a.Timeout
	}
	return DefaultTimeout
}

func (a *Auditor) origin() string {
	if a.Origin != "" {
		return a.Origin
	}
	return DefaultOrigin
}

// dialHost connects to the HTTPS host of the document, by name.
func (a *Auditor) dialHost(ctx context.Context, network, addr string) (net.Conn, error) {
	switch {
	case a.DialContext != nil:
		return a.DialContext(ctx, network, addr)
	case a.Proxy != nil:
		return a.Proxy.DialContext(ctx, network, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// dialRoute connects to a route's ip:port the way Dialer does, so that
// the web checks take the path the route's attempt took (T1).
func (a *Auditor) dialRoute(ctx context.Context, addr string) (net.Conn, error) {
	switch {
	case a.Dialer != nil && a.Dialer.Proxy != nil:
		return a.Dialer.Proxy.DialContext(ctx, "tcp", addr)
	case a.Dialer != nil && a.Dialer.DialContext != nil:
		return a.Dialer.DialContext(ctx, "tcp", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// maxRedirects is H3's limit, which the audit's own fetch keeps too.
const maxRedirects = 10

// fetchDocument asks for the well-known document as a web client of
// another origin would: WebPKI-verified HTTPS, https-only redirects (H3),
// an Origin header. Its headers and certificate are what the checks judge.
func (a *Auditor) fetchDocument(ctx context.Context, domain string, kind hacx.Kind) *HTTPFacts {
	u := "https://" + domain + kind.WellKnownPath()
	out := &HTTPFacts{URL: u}
	tr := &http.Transport{
		Proxy:       nil,
		DialContext: a.dialHost,
		TLSClientConfig: &tls.Config{
			RootCAs:    a.Roots,
			MinVersion: tls.VersionTLS12,
		},
		DisableKeepAlives:  true,
		DisableCompression: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: tr,
		Timeout:   a.timeout(),
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to %s refused: not https (H3)", req.URL)
			}
			if len(via) > maxRedirects {
				return fmt.Errorf("more than %d redirects (H3)", maxRedirects)
			}
			return nil
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		out.Err = err
		return out
	}
	req.Header.Set("Origin", a.origin())
	resp, err := client.Do(req)
	if err != nil {
		out.Err = err
		return out
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	out.URL, out.Status, out.Header = resp.Request.URL.String(), resp.StatusCode, resp.Header
	if resp.TLS != nil {
		out.Chain = resp.TLS.PeerCertificates
	}
	return out
}

// askWeb makes the request of a web client from another origin on a
// working WebSocket or BOSH route: a CORS preflight for BOSH, an upgrade
// with that Origin for WebSocket. The connection goes to the route's
// ip:port with its SNI (A5, A8) and must present the very certificate the
// route's attempt accepted, so the answer comes from the server that
// attempt verified.
func (a *Auditor) askWeb(ctx context.Context, at dial.Attempt) WebFacts {
	r := at.Route
	w := WebFacts{Route: r, Origin: a.origin()}
	u, err := url.Parse(r.URL)
	if err != nil {
		w.Err = err
		return w
	}
	accepted := at.TLS.PeerCertificates[0].Raw
	tr := &http.Transport{
		Proxy: nil,
		DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := a.dialRoute(ctx, r.Dest())
			if err != nil {
				return nil, err
			}
			cfg := &tls.Config{
				MinVersion: tls.VersionTLS12,
				// The name was checked by the attempt; here the same
				// leaf is required byte for byte instead.
				InsecureSkipVerify: true,
				VerifyConnection: func(cs tls.ConnectionState) error {
					if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, accepted) {
						return errors.New("audit: the server presented another certificate than the route's attempt accepted")
					}
					return nil
				},
			}
			if r.HasSNI {
				cfg.ServerName = r.SNI
			}
			tc := tls.Client(c, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, err
			}
			return tc, nil
		},
		DisableKeepAlives:  true,
		DisableCompression: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ctx, cancel := context.WithTimeout(ctx, a.timeout())
	defer cancel()

	if r.Method == hacx.MethodWebSocket {
		conn, resp, err := websocket.Dial(ctx, r.URL, &websocket.DialOptions{
			HTTPClient:   client,
			HTTPHeader:   http.Header{"Origin": {w.Origin}},
			Subprotocols: []string{"xmpp"},
			Host:         u.Host,
		})
		if resp != nil {
			w.Status = resp.StatusCode
		}
		if conn != nil {
			conn.Close(websocket.StatusNormalClosure, "")
			return w
		}
		if resp == nil {
			w.Err = err
		}
		return w
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodOptions, r.URL, nil)
	if err != nil {
		w.Err = err
		return w
	}
	req.Host = u.Host
	req.Header.Set("Origin", w.Origin)
	req.Header.Set("Access-Control-Request-Method", http.MethodPost)
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := client.Do(req)
	if err != nil {
		w.Err = err
		return w
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	w.Status, w.AllowOrigin = resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin")
	return w
}

// NotFoundTransport answers every request 404 without any network use.
// A discover.Resolver with it as Transport finds no HACX document and no
// host-meta, so it asks SRV: what Auditor.LookupSRV needs when Host Meta 2
// hid SRV.
var NotFoundTransport http.RoundTripper = notFound{}

type notFound struct{}

func (notFound) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	return &http.Response{Status: "404 Not Found", StatusCode: http.StatusNotFound, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: http.NoBody, ContentLength: 0, Request: req}, nil
}

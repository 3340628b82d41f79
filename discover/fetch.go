package discover

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/idna"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dnssec"
	"hacx.dev/hacx/trust"
)

// Timing defaults of one fetch step (DESIGN: connect 5 s, TLS 5 s).
const (
	connectTimeout   = 5 * time.Second
	handshakeTimeout = 5 * time.Second
	headerTimeout    = 5 * time.Second
	maxRedirects     = 10 // H3: an 11th hop is an error
)

// fetched is one HTTPS fetch: a body (found) or a 404 (none).
type fetched struct {
	notFound  bool
	body      []byte
	finalURL  string
	redirects []string
	hsts      string
	hpkp      string
	dane      string
	dnsNote   string // local DNS queries made outside the proxy (T1)
}

// setFetched reports what a fetch found about its connection (H2, H3, X4-X6).
func (sr *SourceResult) setFetched(f *fetched, at time.Time) {
	sr.FetchedAt, sr.FinalURL, sr.Redirects = at, f.finalURL, f.redirects
	sr.HSTS, sr.HPKP, sr.DANE = f.hsts, f.hpkp, f.dane
}

// fetchTrace collects TLS facts of the hops of one fetch; it travels in
// the request context to the Transport's TLS dialer, which may run on
// another goroutine.
type fetchTrace struct {
	mu       sync.Mutex
	dane     map[string]string // host -> DANE outcome
	checked  map[string]bool   // hosts whose connection dialTLS verified (DANE/WebPKI, HPKP)
	dnsAsked []string          // kinds of local DNS query made ("TLSA", "A/AAAA")
}

func newFetchTrace() *fetchTrace {
	return &fetchTrace{dane: map[string]string{}, checked: map[string]bool{}}
}

func (t *fetchTrace) noteDANE(host, outcome string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dane[host] = outcome
}

// check records that dialTLS verified a connection to host (as the
// Transport spells it: ASCII, case kept).
func (t *fetchTrace) check(host string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.checked[strings.ToLower(host)] = true
}

// verified reports whether the connection to urlHost (a URL's Hostname)
// went through dialTLS, so that its HSTS and HPKP headers may be trusted
// (X5, X6). The Transport dials the IDNA ASCII form of the name.
func (t *fetchTrace) verified(urlHost string) bool {
	if a, err := idna.Lookup.ToASCII(urlHost); err == nil {
		urlHost = a
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.checked[strings.ToLower(urlHost)]
}

// asked records a kind of local DNS query made for the fetch.
func (t *fetchTrace) asked(kind string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !slices.Contains(t.dnsAsked, kind) {
		t.dnsAsked = append(t.dnsAsked, kind)
	}
}

func (t *fetchTrace) daneSummary() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return summariseDANE(t.dane)
}

// dnsNote says which local DNS queries of the fetch went around the proxy
// and where (T1); "" when none did.
func (t *fetchTrace) dnsNote(outsideProxy string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.dnsAsked) == 0 || outsideProxy == "" {
		return ""
	}
	return strings.Join(t.dnsAsked, " and ") + " " + outsideProxy
}

// notChecked is how a result names a check that the Resolver could not
// make because the caller's Transport opened the connection.
const notChecked = "(custom transport)"

type traceKey struct{}

func (r *Resolver) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return DefaultTimeout
}

func (r *Resolver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// transport returns the Resolver's one HTTP transport: no proxy, its own
// TLS dialer verifying every hop against its own host (H2, H3), no plain
// HTTP dialer, and no keep-alive, so that every fetch is a fresh handshake
// checked against the current DANE and HPKP state rather than a pooled
// connection verified minutes ago.
func (r *Resolver) transport() http.RoundTripper {
	r.once.Do(func() {
		if r.Transport != nil && r.Proxy == nil {
			r.rt = r.Transport
			return
		}
		r.rt = &http.Transport{
			Proxy: nil,
			// Without it an http:// request would go out through Go's
			// default dialer, around the proxy and DialContext (T1); the
			// redirect policy already refuses http://, this is the floor.
			DialContext: func(context.Context, string, string) (net.Conn, error) {
				return nil, errors.New("discover: plain HTTP refused: the HACX fetch is HTTPS only")
			},
			DialTLSContext:         r.dialTLS,
			DisableKeepAlives:      true,
			DisableCompression:     true,
			ResponseHeaderTimeout:  headerTimeout,
			MaxResponseHeaderBytes: 64 << 10,
		}
	})
	return r.rt
}

func (r *Resolver) dialTCP(ctx context.Context, network, addr string) (net.Conn, error) {
	if r.Proxy != nil {
		return r.dialProxy(ctx, network, addr) // T1: never around it
	}
	if r.DialContext != nil {
		return r.DialContext(ctx, network, addr)
	}
	d := net.Dialer{Timeout: connectTimeout}
	host, port, err := net.SplitHostPort(addr)
	if r.DNSServer == "" || err != nil || net.ParseIP(host) != nil {
		return d.DialContext(ctx, network, addr)
	}
	// The fetch host's addresses come from the DNS server the user chose,
	// through the same queries as every other lookup (--resolver): not
	// from Go's resolver, which also reads the hosts file and the search
	// list, and whose errors name the resolv.conf server ("lookup example.org
	// on 10.0.0.53:53") even when it asked another one.
	ips, err := r.lookupIPs(ctx, host)
	if err == nil && len(ips) == 0 {
		err = &DNSError{Name: host, Type: "AAAA/A", Server: r.DNSServer, Err: errors.New("no address")}
	}
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	// One address after the other, IPv6 first, as dialProxy and
	// socks.Proxy do; each connect is bounded by connectTimeout.
	var errs []error
	for _, ip := range ips {
		c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, joinLine(errs)
}

// dialTLS opens the TLS connection of one hop and verifies it against the
// hop's own host: DANE when a DNSSEC-secure TLSA set exists for
// _443._tcp.host (X4), WebPKI otherwise (H2), then HPKP (X6).
func (r *Resolver) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, _ := strconv.ParseUint(portStr, 10, 16)
	tr, _ := ctx.Value(traceKey{}).(*fetchTrace)
	note := func(s string) {
		if tr != nil {
			tr.noteDANE(host, s)
		}
	}

	var tlsa []*dns.TLSA
	secure := false
	switch {
	case r.noDNS() && r.Proxy != nil:
		note("unavailable over SOCKS")
	case r.noDNS():
		note("skipped (no local DNS)")
	case r.DNSSEC == DNSSECOff:
		note("skipped (DNSSEC off)")
	case net.ParseIP(host) != nil:
		note("skipped (IP literal)")
	default:
		if tr != nil {
			tr.asked("TLSA")
		}
		recs, a, err := r.tlsa(ctx, host, uint16(port))
		switch {
		case err != nil && tlsaBogus(err):
			// X4, RFC 6698 section 4.1: a bogus TLSA answer aborts TLS;
			// falling back to WebPKI is what a forger would want.
			note("bogus: " + err.Error())
			return nil, &TLSError{Host: host, Check: "dane", Err: err}
		case err != nil:
			// A DNS failure here must not lower security below WebPKI,
			// which still applies; say so.
			note("lookup failed: " + err.Error())
		case a.sec == dnssec.Indeterminate:
			// D1: nothing proven either way (the DNS server passes no
			// DNSSEC records): treated as unsigned, WebPKI decides.
			note("not validated")
		case a.sec != dnssec.Secure:
			note("unsigned")
		case len(recs) == 0:
			note("no-tlsa")
		default:
			tlsa, secure = recs, true
		}
	}

	conn, err := r.dialTCP(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		ServerName: host,
		// Verification is done by hand below, so that a secure TLSA set
		// can authenticate a DANE-EE key without WebPKI (RFC 7671), and
		// HPKP sees the verified chain.
		InsecureSkipVerify: true,
		MinVersion:         tls.VersionTLS12,
		NextProtos:         []string{"http/1.1"},
		VerifyConnection: func(cs tls.ConnectionState) error {
			chain, outcome, err := r.verifyHop(host, cs.PeerCertificates, tlsa, secure)
			if err != nil {
				return err
			}
			if outcome != "" {
				note(outcome)
			}
			if r.HPKP != nil {
				if err := r.HPKP.Check(host, chain); err != nil {
					return &TLSError{Host: host, Check: "hpkp", Err: err}
				}
			}
			return nil
		},
	}
	hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(hctx); err != nil {
		conn.Close()
		return nil, err
	}
	if tr != nil {
		tr.check(host)
	}
	return tc, nil
}

// verifyHop authenticates the certificates presented by host and returns
// the chain HPKP is judged on.
func (r *Resolver) verifyHop(host string, certs []*x509.Certificate, tlsa []*dns.TLSA, secure bool) ([]*x509.Certificate, string, error) {
	if len(certs) == 0 {
		return nil, "", &TLSError{Host: host, Check: "webpki", Err: errors.New("no certificate presented")}
	}
	if secure {
		err := trust.VerifyDANE(tlsa, certs, trust.VerifyOptions{Roots: r.Roots, Names: []string{host}, Now: r.now()})
		switch {
		case err == nil:
			if chain, werr := r.webPKI(host, certs); werr == nil {
				return chain, "verified", nil
			}
			return certs, "verified", nil
		case !errors.Is(err, trust.ErrNoUsableTLSA):
			// X4: a secure TLSA set with no matching record is a failure.
			return nil, "", &TLSError{Host: host, Check: "dane", Err: err}
		}
		// No usable record: WebPKI decides (RFC 7671 section 4.1).
		chain, err := r.webPKI(host, certs)
		if err != nil {
			return nil, "", &TLSError{Host: host, Check: "webpki", Err: err}
		}
		return chain, "no usable TLSA", nil
	}
	chain, err := r.webPKI(host, certs)
	if err != nil {
		return nil, "", &TLSError{Host: host, Check: "webpki", Err: err}
	}
	return chain, "", nil
}

// webPKI is the browser's check for host (H2), the one dial uses too.
func (r *Resolver) webPKI(host string, certs []*x509.Certificate) ([]*x509.Certificate, error) {
	chains, err := trust.VerifyWebPKI(certs, trust.VerifyOptions{Roots: r.Roots, Names: []string{host}, Now: r.now()})
	if err != nil {
		return nil, err
	}
	return chains[0], nil
}

// fetch GETs rawURL with the redirect (H3), status (H4) and size (H6)
// policies, the whole exchange bounded by the Resolver's Timeout.
func (r *Resolver) fetch(ctx context.Context, rawURL string) (*fetched, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	tr := newFetchTrace()
	ctx = context.WithValue(ctx, traceKey{}, tr)
	ctx = r.traceProxy(ctx)
	out := &fetched{hsts: "none", hpkp: "none"}

	client := &http.Client{
		Transport: r.transport(),
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			from := via[len(via)-1].URL.String()
			to := req.URL.String()
			if req.Response != nil {
				r.observe(req.Response, tr, out)
			}
			switch {
			case req.URL.Scheme != "https":
				return &RedirectError{From: from, To: to, Reason: "not https"}
			case len(via) > maxRedirects:
				return &RedirectError{From: from, To: to, Reason: "more than 10 redirects"}
			}
			for _, v := range via {
				if v.URL.String() == to {
					return &RedirectError{From: from, To: to, Reason: "loop"}
				}
			}
			out.redirects = append(out.redirects, to)
			return nil
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, &FetchError{URL: rawURL, Op: "request", Err: err}
	}
	// Set by hand so that the transport does not decompress transparently:
	// the size cap then applies to what is parsed (H6).
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("User-Agent", "hacx")
	resp, err := client.Do(req)
	if err != nil {
		var re *RedirectError
		if errors.As(err, &re) {
			return nil, &FetchError{URL: rawURL, Op: "redirect", Err: re}
		}
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap() // drop url.Error's "Get URL:" prefix, FetchError says it
		}
		return nil, &FetchError{URL: rawURL, Op: "request", Err: r.proxyStalled(ctx, err)}
	}
	defer resp.Body.Close()
	out.finalURL = resp.Request.URL.String()
	out.dane = tr.daneSummary()
	out.dnsNote = tr.dnsNote(r.outsideProxy())
	r.observe(resp, tr, out)

	switch {
	case resp.StatusCode == http.StatusNotFound:
		// H4: a definite "nothing published", not an error.
		out.notFound = true
		return out, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return nil, &FetchError{URL: out.finalURL, Op: "status", StatusCode: resp.StatusCode}
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return nil, &FetchError{URL: out.finalURL, Op: "body", Err: fmt.Errorf("unrequested Content-Encoding %q", ce)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, hacx.MaxSize+1))
	if err == nil {
		// A body cut short by the deadline can end without a read
		// error; never parse a truncated body as if it were whole.
		err = ctx.Err()
	}
	if err != nil {
		return nil, &FetchError{URL: out.finalURL, Op: "body", Err: err}
	}
	if len(body) > hacx.MaxSize {
		return nil, &FetchError{URL: out.finalURL, Op: "body", Err: fmt.Errorf("larger than %d bytes (H6)", hacx.MaxSize)}
	}
	out.body = body
	return out, nil
}

// observe feeds a verified response's HSTS and HPKP headers to the stores
// (X5, X6). A response whose connection dialTLS did not verify (one opened
// by the caller's Transport) is reported, never stored: its pins were not
// checked, and its headers may come from anyone on the path.
func (r *Resolver) observe(resp *http.Response, tr *fetchTrace, out *fetched) {
	if resp.TLS == nil || resp.Request == nil {
		return
	}
	host := resp.Request.URL.Hostname()
	verified := tr.verified(host)
	if !verified {
		out.dane = "not checked " + notChecked
	}
	if h := resp.Header.Get("Strict-Transport-Security"); h != "" {
		out.hsts = "observed"
		switch {
		case r.HSTS == nil:
		case !verified:
			out.hsts = "observed, not stored " + notChecked
		default:
			if err := r.HSTS.Observe(host, h); err != nil {
				out.hsts = "invalid: " + err.Error()
			}
		}
	}
	if r.HPKP != nil {
		out.hpkp = "enforced"
		if !verified {
			out.hpkp = "not enforced " + notChecked
		}
	}
	if h := resp.Header.Get("Public-Key-Pins"); h != "" {
		switch {
		case r.HPKP == nil:
			out.hpkp = "observed"
		case !verified:
			out.hpkp = "not enforced " + notChecked + ", observed, not stored"
		default:
			out.hpkp = "observed"
			chain, err := r.webPKI(host, resp.TLS.PeerCertificates)
			if err != nil {
				out.hpkp = "not stored: chain not WebPKI-valid"
			} else if err := r.HPKP.Observe(host, h, chain); err != nil {
				out.hpkp = "not stored: " + err.Error()
			}
		}
	}
}

func summariseDANE(m map[string]string) string {
	switch len(m) {
	case 0:
		return "unknown"
	case 1:
		for _, v := range m {
			return v
		}
	}
	var parts []string
	for h, v := range m {
		parts = append(parts, h+": "+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

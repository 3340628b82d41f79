package discover

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"hacx.dev/hacx"
	"hacx.dev/hacx/ech"
	"hacx.dev/hacx/hostmeta"
	"hacx.dev/hacx/trust"
)

// legacyPriority is the RFC 2782 priority given to XEP-0156 host-meta
// links, which carry none. Decision: they rank after everything that does
// state a priority, so a native client prefers SRV and HACX routes.
const legacyPriority = 65535

// lookupFallbacks consults host-meta.json (Host Meta 2 and XEP-0156), the
// XRD host-meta (client only) and, unless Host Meta 2 is present, SRV.
func (r *Resolver) lookupFallbacks(ctx context.Context, domain string, kind hacx.Kind) ([]hacx.Route, []SourceResult) {
	var routes []hacx.Route
	var srs []SourceResult

	hm, hmSR := dnsReported(ctx, func(ctx context.Context) ([]hacx.Route, SourceResult) {
		return r.lookupHostMetaJSON(ctx, domain, kind)
	})
	routes = append(routes, hm...)
	srs = append(srs, hmSR)
	hm2 := hmSR.Source == hacx.SourceHostMeta2 && hmSR.Status == StatusFound

	if kind == hacx.Client && !(hmSR.Source == hacx.SourceHostMeta && hmSR.Status == StatusFound) {
		xr, xsr := dnsReported(ctx, func(ctx context.Context) ([]hacx.Route, SourceResult) {
			return r.lookupHostMetaXRD(ctx, domain)
		})
		routes = append(routes, xr...)
		srs = append(srs, xsr)
	}

	if hm2 {
		// X3: the Host Meta 2 xmpp object replaces legacy SRV.
		srs = append(srs, SourceResult{Source: hacx.SourceSRV, Status: StatusSkipped, Note: "Host Meta 2 xmpp object present (X3)"})
		return routes, srs
	}
	if r.noDNS() {
		srs = append(srs, SourceResult{Source: hacx.SourceSRV, Status: StatusSkipped, Note: r.noDNSReason()})
		return routes, srs
	}
	for _, s := range srvServices(kind) {
		rs, sr := dnsReported(ctx, func(ctx context.Context) ([]hacx.Route, SourceResult) {
			return r.lookupSRVRoutes(ctx, domain, kind, s.prefix+domain, s.method)
		})
		sr.Note = joinNote(sr.Note, r.outsideProxy()) // T1: say where the query went
		routes = append(routes, rs...)
		srs = append(srs, sr)
	}
	return routes, srs
}

// srvService is one SRV name of rule X1 and the method its records mean.
type srvService struct {
	prefix string
	method hacx.Method
	port   uint16 // where the service is when nothing is published (F1)
}

// srvServices are the SRV names of kind, in the order they are looked up.
func srvServices(kind hacx.Kind) []srvService {
	if kind == hacx.Server {
		return []srvService{{"_xmpps-server._tcp.", hacx.MethodTLS, 0}, {"_xmpp-server._tcp.", hacx.MethodStartTLS, 5269}}
	}
	return []srvService{{"_xmpps-client._tcp.", hacx.MethodTLS, 5223}, {"_xmpp-client._tcp.", hacx.MethodStartTLS, 5222}}
}

// fallbackServices are the services of F1 in the order to try them: RFC
// 6120 section 3.2.2 names 5222 (5269 between servers); 5223 is where
// XEP-0368 direct TLS has been run for as long as it has existed. Direct
// TLS between servers has no customary port.
func fallbackServices(kind hacx.Kind) []srvService {
	svcs := srvServices(kind)
	return []srvService{svcs[1], svcs[0]}
}

// fallbackRoutes are the routes of rule F1: when no source published a
// route, the domain itself on the customary ports: STARTTLS on 5222
// (5269 between servers) and direct TLS on 5223. A service whose SRV
// answer is the single target "." is not available and gets no route.
// Behind a socks5h proxy no name is resolved here: the routes go by name,
// and the proxy resolves the domain (T1).
//
// Decision: a failed SRV lookup (an error, not NXDOMAIN) also leads
// here: a blocked or broken resolver must not cost the user a route that
// RFC 6120 clients have always tried.
func (r *Resolver) fallbackRoutes(ctx context.Context, domain string, kind hacx.Kind, srs []SourceResult) ([]hacx.Route, SourceResult) {
	sr := SourceResult{Source: hacx.SourceFallback, Query: domain + " A/AAAA"}
	var svcs []srvService
	var notes []string
	for _, s := range fallbackServices(kind) {
		if s.port == 0 {
			continue
		}
		if srvUnavailable(srs, s.prefix+domain) {
			notes = append(notes, fmt.Sprintf("%s%s is \".\" (service not available): no port %d", s.prefix, domain, s.port))
			continue
		}
		svcs = append(svcs, s)
	}
	if len(svcs) == 0 {
		sr.Status, sr.Note = StatusNone, strings.Join(notes, "; ")
		return nil, sr
	}
	var ips []netip.Addr
	byName := r.noDNS()
	if byName {
		sr.Query = domain + " (resolved by the proxy)"
		notes = append(notes, "by name through the proxy (T1)")
	} else {
		var err error
		ips, err = r.lookupIPs(ctx, domain)
		if err != nil {
			sr.Status, sr.Err = StatusError, err
			sr.Note = strings.Join(notes, "; ")
			return nil, sr
		}
		if len(ips) == 0 {
			sr.Status = StatusNone
			sr.Note = strings.Join(append(notes, "no addresses"), "; ")
			return nil, sr
		}
	}
	var routes []hacx.Route
	for prio, s := range svcs {
		rt := hacx.Route{
			Method: s.method, SNI: domain, HasSNI: true,
			Priority: uint16(prio), Source: hacx.SourceFallback, Host: domain, Index: prio + 1,
		}
		if s.method == hacx.MethodTLS {
			rt.ALPN = alpnFor(kind)
		}
		if byName {
			rt.Addr = netip.AddrPortFrom(netip.Addr{}, s.port)
			routes = append(routes, rt)
			continue
		}
		for _, ip := range ips {
			x := rt
			x.Addr = netip.AddrPortFrom(ip, s.port)
			routes = append(routes, x)
		}
	}
	sr.Status, sr.Routes = StatusFound, len(routes)
	sr.Note = strings.Join(append(notes, "nothing published: the domain itself (F1)"), "; ")
	sr.Note = joinNote(sr.Note, r.outsideProxy())
	return routes, sr
}

// srvUnavailable reports whether the SRV lookup of name answered with the
// single target "." (X1).
func srvUnavailable(srs []SourceResult, name string) bool {
	for _, s := range srs {
		if s.Source == hacx.SourceSRV && s.Query == name+" SRV" && s.unavailable {
			return true
		}
	}
	return false
}

// alpnFor is the ALPN protocol ID of direct TLS (XEP-0368).
func alpnFor(kind hacx.Kind) []byte {
	if kind == hacx.Server {
		return []byte("xmpp-server")
	}
	return []byte("xmpp-client")
}

// lookupSRVRoutes turns one SRV name into routes, one per address of each
// target (X1).
func (r *Resolver) lookupSRVRoutes(ctx context.Context, domain string, kind hacx.Kind, name string, method hacx.Method) ([]hacx.Route, SourceResult) {
	sr := SourceResult{Source: hacx.SourceSRV, Query: name + " SRV"}
	recs, err := r.lookupSRV(ctx, name)
	if err != nil {
		sr.Status, sr.Err = StatusError, err
		if errors.Is(err, trust.ErrBogus) {
			// D1: a forged or broken answer is not used, and the
			// fallback goes on as after any failed SRV lookup.
			sr.Note = "SRV answer ignored: DNSSEC validation failed (bogus)"
		}
		return nil, sr
	}
	if len(recs) == 0 {
		sr.Status, sr.Note = StatusNone, "no SRV records"
		return nil, sr
	}
	// RFC 2782: a single record with target "." means the service is
	// decidedly not available at this domain (X1).
	if len(recs) == 1 && recs[0].target == "." {
		sr.Status, sr.Note, sr.unavailable = StatusNone, `target "." (service not available)`, true
		return nil, sr
	}
	var routes []hacx.Route
	var problems []string
	for i, rec := range recs {
		if rec.target == "." || rec.port == 0 {
			problems = append(problems, fmt.Sprintf("record %d ignored (target %q port %d)", i+1, rec.target, rec.port))
			continue
		}
		host := strings.ToLower(strings.TrimSuffix(rec.target, "."))
		ips, err := r.lookupIPs(ctx, host)
		if err != nil {
			problems = append(problems, fmt.Sprintf("record %d target %s: %v", i+1, host, err))
			continue
		}
		if len(ips) == 0 {
			problems = append(problems, fmt.Sprintf("record %d target %s: no addresses", i+1, host))
		}
		for _, ip := range ips {
			rt := hacx.Route{
				Method: method, Addr: netip.AddrPortFrom(ip, rec.port),
				// RFC 6120 / XEP-0368: the TLS server name is the XMPP
				// domain, not the SRV target.
				SNI: domain, HasSNI: true,
				Priority: rec.priority, Weight: rec.weight,
				Source: hacx.SourceSRV, Host: host, Index: i + 1,
			}
			if method == hacx.MethodTLS {
				rt.ALPN = alpnFor(kind)
			}
			routes = append(routes, rt)
		}
	}
	sr.Routes = len(routes)
	sr.Note = strings.Join(problems, "; ")
	switch {
	case len(routes) > 0:
		sr.Status = StatusFound
	case len(problems) > 0:
		sr.Status, sr.Err = StatusError, fmt.Errorf("discover: %s: %s", name, sr.Note)
	default:
		sr.Status = StatusNone
	}
	return routes, sr
}

// fetchHostMeta fetches one host-meta file: nil body for 404.
func (r *Resolver) fetchHostMeta(ctx context.Context, u string, sr *SourceResult) ([]byte, bool) {
	f, err := r.fetch(ctx, u)
	if err != nil {
		sr.Status, sr.Err = StatusError, err
		return nil, false
	}
	sr.setFetched(f, r.now())
	if f.notFound {
		sr.Status, sr.Note = StatusNone, "404"
		return nil, false
	}
	return f.body, true
}

// lookupHostMetaJSON reads host-meta.json: Host Meta 2 (X3) when it has an
// xmpp object, else XEP-0156 links (X2).
func (r *Resolver) lookupHostMetaJSON(ctx context.Context, domain string, kind hacx.Kind) ([]hacx.Route, SourceResult) {
	u := "https://" + domain + "/.well-known/host-meta.json"
	sr := SourceResult{Source: hacx.SourceHostMeta2, Query: u}
	body, ok := r.fetchHostMeta(ctx, u, &sr)
	if !ok {
		return nil, sr
	}
	doc, err := hostmeta.ParseJSON(body)
	if err != nil {
		sr.Status, sr.Err = StatusError, &FetchError{URL: sr.FinalURL, Op: "parse", Err: err}
		return nil, sr
	}
	if doc.XMPP == nil {
		sr.Source = hacx.SourceHostMeta
	}
	routes, notes := r.hostMetaRoutes(ctx, domain, kind, doc, sr.Source)
	sr.Routes, sr.Note = len(routes), strings.Join(notes, "; ")
	sr.Status = StatusNone
	if len(routes) > 0 || doc.XMPP != nil {
		// A Host Meta 2 object counts as found even without usable links
		// for this kind: it still tells us to skip SRV (X3).
		sr.Status = StatusFound
	}
	return routes, sr
}

// lookupHostMetaXRD reads the XEP-0156 XRD host-meta (X2).
func (r *Resolver) lookupHostMetaXRD(ctx context.Context, domain string) ([]hacx.Route, SourceResult) {
	u := "https://" + domain + "/.well-known/host-meta"
	sr := SourceResult{Source: hacx.SourceHostMeta, Query: u}
	body, ok := r.fetchHostMeta(ctx, u, &sr)
	if !ok {
		return nil, sr
	}
	doc, err := hostmeta.Parse(body)
	if err != nil {
		sr.Status, sr.Err = StatusError, &FetchError{URL: sr.FinalURL, Op: "parse", Err: err}
		return nil, sr
	}
	routes, notes := r.hostMetaRoutes(ctx, domain, hacx.Client, doc, hacx.SourceHostMeta)
	sr.Routes, sr.Note = len(routes), strings.Join(notes, "; ")
	sr.Status = StatusNone
	if len(routes) > 0 {
		sr.Status = StatusFound
	}
	return routes, sr
}

// hostMetaRoutes converts the links of doc that suit kind into routes, one
// per IP: the link's ips (Host Meta 2) or the addresses of the URL host.
func (r *Resolver) hostMetaRoutes(ctx context.Context, domain string, kind hacx.Kind, doc *hostmeta.Document, src hacx.Source) ([]hacx.Route, []string) {
	var pins []hacx.Pin
	if doc.XMPP != nil {
		for _, p := range doc.XMPP.PublicKeyPinsSHA256 {
			// An undecodable pin keeps a nil digest: it can never match,
			// so a set of only bad pins fails closed (A9).
			v, _ := base64.StdEncoding.DecodeString(p)
			pins = append(pins, hacx.Pin{Digests: []hacx.Digest{{Hash: "sha-256", Value: v}}})
		}
	}
	var routes []hacx.Route
	var notes []string
	for i, l := range doc.Links {
		method, ok := linkMethod(l.Rel, kind)
		if !ok {
			continue // other rels, other kind: C1
		}
		rt := hacx.Route{Method: method, Source: src, Index: i + 1, Pins: pins, Priority: l.Priority, Weight: l.Weight}
		if src == hacx.SourceHostMeta && doc.XMPP == nil {
			rt.Priority, rt.Weight = legacyPriority, 0
		}
		var host string
		var port uint16
		switch method {
		case hacx.MethodTLS:
			if l.Port == 0 {
				notes = append(notes, fmt.Sprintf("link %d: tls without port ignored", i+1))
				continue
			}
			host, port = domain, l.Port
			rt.ALPN = alpnFor(kind)
		case hacx.MethodQUIC:
			// Q1: XEP-0467 names UDP 443 when the link gives no port, and
			// its ALPN is required (xmpp-client or xmpp-server).
			host, port = domain, l.Port
			if port == 0 {
				port = quicDefaultPort
			}
			rt.ALPN = alpnFor(kind)
		default:
			h, p, err := linkURL(l.Href, method)
			if err != nil {
				notes = append(notes, fmt.Sprintf("link %d: %v", i+1, err))
				continue
			}
			host, port, rt.URL = h, p, l.Href
			if l.Port != 0 {
				port = l.Port
			}
		}
		rt.Host = host
		// Host Meta 2's sni is the exact name to send; without it the
		// name we verify (domain or URL host) is sent.
		rt.SNI, rt.HasSNI = host, true
		if l.SNI != "" {
			rt.SNI = l.SNI
		}
		if l.ECH != "" {
			// E4: a link that publishes ECH is dialed with it or not at
			// all; one whose list is unusable is dropped, never dialed
			// with a clear SNI.
			b, _, err := ech.DecodeList(l.ECH)
			if err != nil {
				notes = append(notes, fmt.Sprintf("link %d: %v", i+1, err))
				continue
			}
			rt.ECH = b
		}
		var ips []netip.Addr
		if len(l.IPs) > 0 {
			for _, s := range l.IPs {
				ip, err := netip.ParseAddr(s)
				if err != nil {
					notes = append(notes, fmt.Sprintf("link %d: bad ip %q", i+1, s))
					continue
				}
				ips = append(ips, ip.Unmap())
			}
		} else if r.noDNS() {
			notes = append(notes, fmt.Sprintf("link %d: no ips and %s", i+1, r.noDNSReason()))
			continue
		} else {
			var err error
			if ips, err = r.lookupIPs(ctx, host); err != nil {
				notes = append(notes, fmt.Sprintf("link %d: %v", i+1, err))
				continue
			}
		}
		for _, ip := range ips {
			x := rt
			x.Addr = netip.AddrPortFrom(ip, port)
			routes = append(routes, x)
		}
	}
	return routes, notes
}

// quicDefaultPort is the UDP port of a quic link without one (XEP-0467).
const quicDefaultPort = 443

// linkMethod maps a link relation to a method for kind.
func linkMethod(rel string, kind hacx.Kind) (hacx.Method, bool) {
	if kind == hacx.Server {
		switch rel {
		case hostmeta.RelS2STLS:
			return hacx.MethodTLS, true
		case hostmeta.RelS2SQUIC:
			return hacx.MethodQUIC, true // Q1
		case hostmeta.RelS2SWebSocket:
			return hacx.MethodWebSocket, true
		}
		return "", false
	}
	switch rel {
	case hostmeta.RelTLS:
		return hacx.MethodTLS, true
	case hostmeta.RelWebSocket:
		return hacx.MethodWebSocket, true
	case hostmeta.RelBOSH:
		return hacx.MethodBOSH, true
	case hostmeta.RelQUIC:
		return hacx.MethodQUIC, true // Q1
	}
	return "", false
}

// linkURL checks a websocket (wss://) or BOSH (https://) href and returns
// its host and port.
func linkURL(href string, method hacx.Method) (string, uint16, error) {
	u, err := url.Parse(href)
	if err != nil {
		return "", 0, fmt.Errorf("bad href: %w", err)
	}
	want := "https"
	if method == hacx.MethodWebSocket {
		want = "wss"
	}
	if u.Scheme != want || u.Hostname() == "" {
		return "", 0, fmt.Errorf("href %q is not %s:// (A10 rules apply to host-meta too)", href, want)
	}
	port := uint16(443)
	if ps := u.Port(); ps != "" {
		p, err := strconv.ParseUint(ps, 10, 16)
		if err != nil || p == 0 {
			return "", 0, fmt.Errorf("href %q: bad port", href)
		}
		port = uint16(p)
	}
	host := strings.ToLower(u.Hostname())
	if _, err := netip.ParseAddr(host); err != nil && !validHost(host) {
		return "", 0, fmt.Errorf("href %q: bad host", href)
	}
	return host, port, nil
}

func validHost(h string) bool {
	_, ok := dns.IsDomainName(h)
	return ok && net.ParseIP(h) == nil
}

// dnsReported runs one source's lookup with a fresh record of its DNS
// answers and fills in the source's DNSSEC report (D1); a source all of
// whose answers came from the cache is reported cached.
func dnsReported(ctx context.Context, lookup func(context.Context) ([]hacx.Route, SourceResult)) ([]hacx.Route, SourceResult) {
	ctx, notes := withDNSNotes(ctx)
	routes, sr := lookup(ctx)
	sr.DNSSEC = notes.String()
	if sr.Source == hacx.SourceSRV || sr.Source == hacx.SourceFallback {
		sr.Cached = sr.Cached || notes.allCached()
	}
	return routes, sr
}

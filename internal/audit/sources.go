package audit

import (
	"fmt"
	"net/url"
	"strings"

	"hacx.dev/hacx"
	"hacx.dev/hacx/discover"
)

// comparedSources are the published sources P6 compares, in the order
// findings name them. The F1 fallback is nobody's publication.
var comparedSources = []hacx.Source{hacx.SourceHACX, hacx.SourceHostMeta2, hacx.SourceHostMeta, hacx.SourceSRV}

// expresses reports whether source s can publish a route of method m at
// all: XEP-0156 host-meta knows only WebSocket and BOSH, SRV only direct
// TLS and STARTTLS, HACX and Host Meta 2 everything but STARTTLS. A source
// is only blamed for leaving out what it could have said.
func expresses(s hacx.Source, m hacx.Method) bool {
	web := m == hacx.MethodWebSocket || m == hacx.MethodBOSH
	switch s {
	case hacx.SourceHostMeta:
		return web
	case hacx.SourceSRV:
		return m == hacx.MethodTLS || m == hacx.MethodStartTLS
	default:
		return m != hacx.MethodStartTLS
	}
}

// hasPriorities reports whether a source states priorities: XEP-0156
// host-meta has none (discovery gives its links a fixed last place).
func hasPriorities(s hacx.Source) bool { return s != hacx.SourceHostMeta }

// endpoint is where a route leads, as sources can be compared on it: the
// URL for WebSocket and BOSH (host-meta gives no address, and the same URL
// resolves to the addresses a HACX record lists), the address otherwise.
type endpoint struct {
	method hacx.Method
	where  string // normalised URL, or ip:port
}

func (e endpoint) String() string { return string(e.method) + " " + e.where }

func endpointOf(r hacx.Route) endpoint {
	if r.Method == hacx.MethodWebSocket || r.Method == hacx.MethodBOSH {
		return endpoint{r.Method, normalURL(r.URL)}
	}
	return endpoint{r.Method, r.Dest()}
}

// normalURL lower-cases scheme and host and drops a default port, so that
// wss://Example.org:443/ws and wss://example.org/ws compare equal.
func normalURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Scheme = strings.ToLower(u.Scheme)
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "443" {
		port = ""
	}
	u.Host = host
	if port != "" {
		u.Host = host + ":" + port
	}
	return u.String()
}

// published is one source's endpoints: the first route of each, in the
// order found, and the lowest priority it gave the endpoint.
type published struct {
	source hacx.Source
	order  []endpoint
	first  map[endpoint]hacx.Route
	prio   map[endpoint]uint16
}

func (p *published) add(r hacx.Route) {
	e := endpointOf(r)
	if _, ok := p.first[e]; !ok {
		p.order = append(p.order, e)
		p.first[e] = r
		p.prio[e] = r.Priority
	}
	p.prio[e] = min(p.prio[e], r.Priority)
}

// publications groups the routes of every source that answered with
// something (status found) by source.
func publications(f *Facts) []*published {
	if f.Result == nil {
		return nil
	}
	found := map[hacx.Source]bool{}
	for _, s := range f.Result.Sources {
		if s.Status == discover.StatusFound {
			found[s.Source] = true
		}
	}
	if len(f.SRV) > 0 {
		found[hacx.SourceSRV] = true
	}
	by := map[hacx.Source]*published{}
	for _, r := range append(append([]hacx.Route{}, f.Result.Routes...), f.SRV...) {
		if !found[r.Source] {
			continue
		}
		p := by[r.Source]
		if p == nil {
			p = &published{source: r.Source, first: map[endpoint]hacx.Route{}, prio: map[endpoint]uint16{}}
			by[r.Source] = p
		}
		p.add(r)
	}
	var out []*published
	for _, s := range comparedSources {
		if p := by[s]; p != nil {
			out = append(out, p)
		}
	}
	return out
}

// sourceFindings compares every pair of published sources (P6): an
// endpoint one lists and the other could list but does not (the same
// address on another port is said so, once), and two shared endpoints
// that the sources order differently.
func sourceFindings(f *Facts) []Finding {
	pubs := publications(f)
	var out []Finding
	for i, a := range pubs {
		for _, b := range pubs[i+1:] {
			out = append(out, comparePair(a, b)...)
		}
	}
	return out
}

func comparePair(a, b *published) []Finding {
	var out []Finding
	fix := fmt.Sprintf("publish the same endpoints in %s and %s (hacx serve writes the HACX document and both host-meta files from one configuration, P5; keep the SRV records in line with it)", a.source, b.source)
	portMoved := map[endpoint]bool{}
	missing := func(from, other *published) {
		for _, e := range from.order {
			if !expresses(other.source, e.method) || portMoved[e] {
				continue
			}
			if _, ok := other.first[e]; ok {
				continue
			}
			r := from.first[e]
			msg := fmt.Sprintf("%s publishes %s; %s does not", from.source, e, other.source)
			// The same address on another port in the other source is
			// one difference, not two.
			if moved, ok := samePlaceOtherPort(e, other); ok {
				portMoved[e], portMoved[moved] = true, true
				msg = fmt.Sprintf("%s publishes %s, %s the same address on another port: %s", from.source, e, other.source, moved)
			}
			out = append(out, Finding{Check: CheckSourcesDisagree, Rule: "P6", Severity: SeverityWarning,
				Subject: r.String(), Message: msg, Fix: fix})
		}
	}
	missing(a, b)
	missing(b, a)

	if !hasPriorities(a.source) || !hasPriorities(b.source) {
		return out
	}
	var shared []endpoint
	for _, e := range a.order {
		if _, ok := b.first[e]; ok {
			shared = append(shared, e)
		}
	}
	for i, x := range shared {
		for _, y := range shared[i+1:] {
			da := int(a.prio[x]) - int(a.prio[y])
			db := int(b.prio[x]) - int(b.prio[y])
			if da*db >= 0 {
				continue
			}
			first, second := x, y
			if da > 0 {
				first, second = y, x
			}
			out = append(out, Finding{Check: CheckSourcesDisagree, Rule: "P6", Severity: SeverityWarning,
				Subject: string(a.source) + " and " + string(b.source),
				Message: fmt.Sprintf("%s tries %s (priority %d) before %s (priority %d); %s the other way round (priorities %d and %d)",
					a.source, first, a.prio[first], second, a.prio[second], b.source, b.prio[first], b.prio[second]),
				Fix: "give the endpoints the same priority order in every source, so that every client prefers the same way in"})
		}
	}
	return out
}

// samePlaceOtherPort finds, in p, the endpoint of e's method at e's host
// (its IP, or its URL without the port) on another port.
func samePlaceOtherPort(e endpoint, p *published) (endpoint, bool) {
	host := func(e endpoint) string {
		if e.method == hacx.MethodWebSocket || e.method == hacx.MethodBOSH {
			if u, err := url.Parse(e.where); err == nil {
				u.Host = u.Hostname()
				return u.String()
			}
			return e.where
		}
		if i := strings.LastIndexByte(e.where, ':'); i >= 0 {
			return e.where[:i]
		}
		return e.where
	}
	for _, o := range p.order {
		if o.method == e.method && o != e && host(o) == host(e) {
			return o, true
		}
	}
	return endpoint{}, false
}

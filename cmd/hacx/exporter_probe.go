package main

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/discover"
	"hacx.dev/hacx/internal/audit"
)

// One probe of hacx exporter: the lookup and dials of hacx check, and its
// audit when the module asks, as Prometheus metrics in a registry of the
// probe's own (as blackbox_exporter does), so that a scrape shows that
// probe and nothing else. exporterHelp lists the metrics.

// routeLabels identify a route across probes: its source, its position in
// that source and where it leads. The order of the routes may change from
// probe to probe (RFC 2782 weights, C2), these do not.
var routeLabels = []string{"source", "index", "method", "address"}

// probeMetrics are the collectors of one probe.
type probeMetrics struct {
	reg                                            *prometheus.Registry
	success, duration, lookup, routes, working     prometheus.Gauge
	result                                         *prometheus.GaugeVec
	srcFound, srcFresh, srcAge, srcRoutes, srcStat *prometheus.GaugeVec
	ttl                                            prometheus.Gauge
	info, up, phase, connect, tls, stream, total   *prometheus.GaugeVec
	verified, pin, dane, tlsInfo, certExpiry       *prometheus.GaugeVec
	findings                                       *prometheus.GaugeVec
	auditDuration, docCertExpiry                   prometheus.Gauge
}

func newProbeMetrics(withAudit bool) *probeMetrics {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	v := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	}
	rl := func(extra ...string) []string { return append(append([]string{}, routeLabels...), extra...) }
	src := []string{"source", "query"}
	m := &probeMetrics{
		reg:       prometheus.NewRegistry(),
		success:   g("hacx_probe_success", "1 when a route gave a verified XMPP stream from the domain (C4), else 0."),
		duration:  g("hacx_probe_duration_seconds", "How long the lookup and the dials took."),
		lookup:    g("hacx_probe_lookup_duration_seconds", "How long discovery took."),
		routes:    g("hacx_probe_routes", "Routes discovered, after the module's methods."),
		working:   g("hacx_probe_routes_working", "Routes that gave a verified stream."),
		result:    v("hacx_probe_result", "1 for the result hacx check would report: ok, partial, failed, nothing-published, discovery-failed.", "result"),
		srcFound:  v("hacx_source_found", "1 when the source published something (status found).", src...),
		srcFresh:  v("hacx_source_fresh", "1 when a found source's answer is fresh, 0 for a stale cached copy (H5).", src...),
		srcAge:    v("hacx_source_age_seconds", "Seconds since the source's answer was fetched from the network.", src...),
		srcRoutes: v("hacx_source_routes", "Routes the source gave.", src...),
		srcStat:   v("hacx_source_status", "1 for the source's status: found, none, error, skipped.", append(src, "status")...),
		ttl:       g("hacx_document_ttl_seconds", "The HACX document's ttl (H5)."),
		info:      v("hacx_route_info", "1 per route, with its transport parameters as labels (A5, A6, A8).", rl("sni", "alpn", "url", "priority", "weight")...),
		up:        v("hacx_route_up", "1 when the route gave a verified XMPP stream (C4), 0 when it failed; absent when not tried.", rl()...),
		phase:     v("hacx_route_phase_reached", "How far the attempt got: 1 tcp, 2 starttls, 3 tls, 4 verify, 5 stream, 6 done.", rl()...),
		connect:   v("hacx_route_connect_seconds", "Time from the attempt's start to TCP connected.", rl()...),
		tls:       v("hacx_route_tls_seconds", "Time from the attempt's start to TLS verified.", rl()...),
		stream:    v("hacx_route_stream_seconds", "Time from TLS verified to a verified XMPP stream.", rl()...),
		total:     v("hacx_route_duration_seconds", "Time from the attempt's start to a verified stream or the failure.", rl()...),
		verified:  v("hacx_route_verified", "1 with how the certificate was accepted: pin, dane, webpki (A9, A10, X4).", rl("by")...),
		pin:       v("hacx_route_pin", "1 with the pin result: match, mismatch, none (A9).", rl("result")...),
		dane:      v("hacx_route_dane", "1 with the DANE result: match, mismatch, none, insecure, error, bogus (X4).", rl("result")...),
		tlsInfo:   v("hacx_route_tls_info", "1 with the TLS version, cipher and negotiated ALPN of the attempt.", rl("version", "cipher", "alpn")...),
		certExpiry: v("hacx_route_cert_expiry_timestamp_seconds",
			"When the route's leaf certificate expires, in seconds since the epoch.", rl()...),
	}
	cs := []prometheus.Collector{m.success, m.duration, m.lookup, m.routes, m.working, m.result, m.srcFound, m.srcFresh,
		m.srcAge, m.srcRoutes, m.srcStat, m.info, m.up, m.phase, m.connect, m.tls, m.stream, m.total, m.verified,
		m.pin, m.dane, m.tlsInfo, m.certExpiry}
	if withAudit {
		m.findings = v("hacx_audit_findings", "Findings of the audit by check and rule (0 for a check that found nothing).", "check", "rule")
		m.auditDuration = g("hacx_audit_duration_seconds", "How long the audit took.")
		m.docCertExpiry = g("hacx_document_cert_expiry_timestamp_seconds", "When the certificate of the documents' HTTPS host expires, in seconds since the epoch.")
		cs = append(cs, m.findings, m.auditDuration)
	}
	m.reg.MustRegister(cs...)
	return m
}

// auditChecks are every check of the audit with its rule, so that each
// has a series, 0 when it found nothing.
var auditChecks = []struct{ check, rule string }{
	{audit.CheckSourcesDisagree, "P6"}, {audit.CheckCertExpiry, "P7"}, {audit.CheckCertName, "A10"},
	{audit.CheckPinNoMatch, "A9"}, {audit.CheckPinNoBackup, "P2"}, {audit.CheckHSTS, "X5"},
	{audit.CheckDocumentCORS, "P3"}, {audit.CheckAddressFamily, "A1"}, {audit.CheckTTL, "H5"},
	{audit.CheckALPN, "A6"}, {audit.CheckWebCORS, "P8"},
}

// runProbe probes target with module m and returns its metrics and
// whether it succeeded.
func (e *exporter) runProbe(ctx context.Context, target string, kind hacx.Kind, m *probeModule) (*probeMetrics, bool) {
	pm := newProbeMetrics(m.Audit)
	server := m.Resolver
	if server == "" {
		server = e.resolver
	}
	guard := e.guard(server)
	newResolver := func() *discover.Resolver {
		return &discover.Resolver{Roots: e.roots, DNSServer: server, DialContext: guard("fetch"), Timeout: m.FetchTimeout, Now: e.now}
	}
	r := newResolver()
	if m.Cache {
		r.Cache = e.cache(m.Name)
	}
	// Only the methods whose connections go through the guard (all over
	// TCP, through DialContext): a method the dial package may add later,
	// over another transport, is not probed until it is guarded too.
	methods := m.Methods
	if len(methods) == 0 {
		methods = probeMethods
	}
	d := &dial.Dialer{Routes: r, Roots: e.roots, Methods: methods, Memory: dial.NoMemory,
		ConnectTimeout: m.ConnectTimeout, HandshakeTimeout: m.HandshakeTimeout, StreamTimeout: m.StreamTimeout,
		DialContext: guard("route")}

	start := e.now()
	res, lerr := r.Lookup(ctx, target, kind)
	pm.lookup.Set(e.now().Sub(start).Seconds())
	var planned []dial.PlannedRoute
	if res != nil {
		planned = d.Plan(ctx, res.Domain, kind, res.Routes)
		now := e.now()
		for _, s := range res.Sources {
			l := prometheus.Labels{"source": string(s.Source), "query": s.Query}
			pm.srcStat.With(prometheus.Labels{"source": string(s.Source), "query": s.Query, "status": string(s.Status)}).Set(1)
			pm.srcRoutes.With(l).Set(float64(s.Routes))
			found := s.Status == discover.StatusFound
			pm.srcFound.With(l).Set(b2f(found))
			if found {
				pm.srcFresh.With(l).Set(b2f(!s.Stale))
			}
			if !s.FetchedAt.IsZero() {
				pm.srcAge.With(l).Set(now.Sub(s.FetchedAt).Seconds())
			}
		}
		if res.Document != nil {
			pm.ttl.Set(float64(res.Document.TTL))
			pm.reg.MustRegister(pm.ttl)
		}
	}
	pm.routes.Set(float64(len(planned)))
	for _, p := range planned {
		rr := p.Route.Report()
		pm.info.With(routeInfoLabels(p.Route, rr)).Set(1)
	}

	var attempts []dial.Attempt
	result := resultOK
	switch {
	case lerr != nil && (res == nil || len(res.Routes) == 0):
		result = resultDiscovery
	case len(planned) == 0:
		result = resultNothing
	case m.All:
		attempts, _ = d.DialAll(ctx, res.Domain, kind, res.Routes)
	default:
		c, err := d.DialRoutes(ctx, res.Domain, kind, res.Routes)
		if c != nil {
			attempts = c.Attempts
			c.Close()
		} else if de := (*dial.Error)(nil); errors.As(err, &de) {
			attempts = de.Attempts
		}
	}
	working := 0
	now := e.now()
	for i, a := range attempts {
		if errors.Is(a.Err, dial.ErrLostRace) {
			continue // cut short by the winner: neither up nor down
		}
		rr := a.Route.Report()
		l := routeLabelValues(a.Route, rr)
		ca := reportAttempt(i+1, rr, a, kind, now)
		pm.up.With(l).Set(b2f(a.OK()))
		pm.phase.With(l).Set(float64(a.Phase))
		pm.total.With(l).Set(a.Duration.Seconds())
		if a.Connect > 0 {
			pm.connect.With(l).Set(a.Connect.Seconds())
		}
		if a.Handshake > 0 {
			pm.tls.With(l).Set(a.Handshake.Seconds())
		}
		if a.OK() {
			working++
			if a.Handshake > 0 {
				pm.stream.With(l).Set((a.Duration - a.Handshake).Seconds())
			}
		}
		if a.Verified != "" {
			pm.verified.With(with(l, "by", string(a.Verified))).Set(1)
		}
		if ca.Pin != "" {
			pm.pin.With(with(l, "result", ca.Pin)).Set(1)
		}
		if a.DANE != "" {
			pm.dane.With(with(l, "result", string(a.DANE))).Set(1)
		}
		if t := ca.TLS; t != nil {
			tl := with(with(with(l, "version", t.Version), "cipher", t.Cipher), "alpn", t.ALPN)
			pm.tlsInfo.With(tl).Set(1)
			if t.Cert != nil {
				pm.certExpiry.With(l).Set(float64(t.Cert.NotAfter.Unix()))
			}
		}
	}
	switch {
	case result != resultOK:
	case working == 0:
		result = resultFailed
	case m.All && working < len(planned):
		result = resultPartial
	}
	pm.working.Set(float64(working))
	pm.result.With(prometheus.Labels{"result": result}).Set(1)
	pm.success.Set(b2f(working > 0))
	pm.duration.Set(e.now().Sub(start).Seconds())

	if m.Audit && res != nil {
		astart := e.now()
		ar := newResolver()
		ar.Fallback = discover.FallbackAlways
		srv := newResolver()
		srv.Transport = audit.NotFoundTransport
		au := &audit.Auditor{Lookup: ar.Lookup, LookupSRV: srv.Lookup, Dialer: d, Roots: e.roots, DialContext: guard("fetch"), Now: e.now}
		if f, err := au.Gather(ctx, res.Domain, kind, attempts); err == nil {
			counts := map[string]int{}
			for _, fd := range audit.Findings(f) {
				counts[fd.Check]++
			}
			for _, c := range auditChecks {
				pm.findings.With(prometheus.Labels{"check": c.check, "rule": c.rule}).Set(float64(counts[c.check]))
			}
			if doc := f.Document; doc != nil && len(doc.Chain) > 0 {
				pm.docCertExpiry.Set(float64(doc.Chain[0].NotAfter.Unix()))
				pm.reg.MustRegister(pm.docCertExpiry)
			}
		}
		pm.auditDuration.Set(e.now().Sub(astart).Seconds())
	}
	return pm, working > 0
}

// routeLabelValues are a route's identifying labels.
func routeLabelValues(r hacx.Route, rr hacx.RouteReport) prometheus.Labels {
	return prometheus.Labels{"source": string(r.Source), "index": strconv.Itoa(r.Index), "method": string(r.Method), "address": routeAddr(rr)}
}

func routeInfoLabels(r hacx.Route, rr hacx.RouteReport) prometheus.Labels {
	l := routeLabelValues(r, rr)
	l["sni"], l["alpn"], l["url"] = rr.SNI, rr.ALPN, rr.URL
	l["priority"], l["weight"] = strconv.Itoa(int(rr.Priority)), strconv.Itoa(int(rr.Weight))
	return l
}

// with is l plus one label.
func with(l prometheus.Labels, k, v string) prometheus.Labels {
	out := make(prometheus.Labels, len(l)+1)
	for a, b := range l {
		out[a] = b
	}
	out[k] = v
	return out
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// scrapeTimeout is the time a probe may take: the module's timeout,
// lowered to leave Prometheus half a second of its scrape timeout (the
// header it sends), as blackbox_exporter does.
func scrapeTimeout(r *http.Request, m *probeModule) time.Duration {
	t := m.Timeout
	if v, err := strconv.ParseFloat(r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"), 64); err == nil && v > 0 {
		if s := time.Duration((v - 0.5) * float64(time.Second)); s > 0 && s < t {
			t = s
		}
	}
	return t
}

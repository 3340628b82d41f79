package main

import (
	"crypto/x509"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"hacx.dev/hacx/serve"
)

// serveMetrics publishes what a serve.Server counts (serve.Metrics) as
// the Prometheus metrics of hacx serve --metrics. It lives here, not in
// package serve, so that programs embedding serve do not link Prometheus.
type serveMetrics struct {
	requests *prometheus.CounterVec
	reloads  *prometheus.CounterVec
	certs    *certExpiry

	// The gateway's connections (G1-G4), counted as they end.
	conns      *prometheus.CounterVec   // listener, route, outcome
	bytes      *prometheus.CounterVec   // route, direction
	upstream   *prometheus.CounterVec   // route
	handshakes *prometheus.CounterVec   // listener, reason
	durations  *prometheus.HistogramVec // route
}

var _ serve.Metrics = (*serveMetrics)(nil)

// newServeMetrics creates the collectors and registers them on reg, a
// private registry, so that only these metrics are exposed.
func newServeMetrics(reg prometheus.Registerer) (*serveMetrics, error) {
	m := &serveMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hacx_serve_requests_total",
			Help: "Discovery file requests by file, HTTP status and client variant.",
		}, []string{"file", "status", "variant"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hacx_serve_config_reloads_total",
			Help: "Configuration and certificate reloads by result (ok, failed).",
		}, []string{"result"}),
		certs: &certExpiry{
			desc: prometheus.NewDesc("hacx_serve_cert_expiry_seconds",
				"Seconds until the served certificate expires, by certificate name (subject common name, else first DNS name).",
				[]string{"cert"}, nil),
		},
		conns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hacx_serve_gateway_connections_total",
			Help: "Gateway connections by listener (https, xmpps), route (c2s, s2s, http, websocket, bosh; empty before routing) and outcome, counted when they end.",
		}, []string{"listener", "route", "outcome"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hacx_serve_gateway_bytes_total",
			Help: "Bytes on clients' connections to the gateway, TLS included, by route and direction (in: from the client, out: to the client).",
		}, []string{"route", "direction"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hacx_serve_gateway_upstream_errors_total",
			Help: "Gateway connections whose upstream could not be reached (the client got a stream error), by route.",
		}, []string{"route"}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hacx_serve_gateway_handshake_failures_total",
			Help: "TLS handshakes with clients that failed or timed out, by listener and reason (failed, timeout).",
		}, []string{"listener", "reason"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hacx_serve_gateway_connection_duration_seconds",
			Help:    "How long gateway connections lasted, by route.",
			Buckets: []float64{0.1, 1, 10, 60, 600, 3600, 6 * 3600, 24 * 3600},
		}, []string{"route"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.reloads, m.certs, m.conns, m.bytes, m.upstream, m.handshakes, m.durations} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// statusText spares the common statuses a strconv allocation per request.
var statusText = map[int]string{200: "200", 302: "302", 304: "304", 404: "404", 405: "405"}

func (m *serveMetrics) Request(file string, status int, variant string) {
	s, ok := statusText[status]
	if !ok {
		s = strconv.Itoa(status)
	}
	m.requests.WithLabelValues(file, s, variant).Inc()
}

func (m *serveMetrics) Reload(err error) {
	r := "ok"
	if err != nil {
		r = "failed"
	}
	m.reloads.WithLabelValues(r).Inc()
}

func (m *serveMetrics) Certificates(leaves []*x509.Certificate) { m.certs.replace(leaves) }

func (m *serveMetrics) Connection(c *serve.ConnInfo) {
	m.conns.WithLabelValues(c.Listener, c.Route, c.Outcome).Inc()
	switch c.Outcome {
	case serve.OutcomeUpstreamFailed:
		m.upstream.WithLabelValues(c.Route).Inc()
	case serve.OutcomeHandshakeFailed:
		m.handshakes.WithLabelValues(c.Listener, "failed").Inc()
	case serve.OutcomeHandshakeTimeout:
		m.handshakes.WithLabelValues(c.Listener, "timeout").Inc()
	}
	if c.Outcome == serve.OutcomeLimit {
		return // no bytes, no time: refused before TLS
	}
	m.bytes.WithLabelValues(c.Route, "in").Add(float64(c.In))
	m.bytes.WithLabelValues(c.Route, "out").Add(float64(c.Out))
	m.durations.WithLabelValues(c.Route).Observe(c.Duration.Seconds())
}

// certExpiry exports the time left on each served certificate, computed
// at scrape time so that the value keeps falling between reloads.
type certExpiry struct {
	desc     *prometheus.Desc
	mu       sync.Mutex
	notAfter map[string]time.Time
}

func (c *certExpiry) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *certExpiry) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, t := range c.notAfter {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, time.Until(t).Seconds(), name)
	}
}

// replace makes leaves the certificates reported.
func (c *certExpiry) replace(leaves []*x509.Certificate) {
	m := make(map[string]time.Time, len(leaves))
	for _, l := range leaves {
		m[certName(l)] = l.NotAfter
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.notAfter = m
}

func certName(leaf *x509.Certificate) string {
	if leaf.Subject.CommonName != "" {
		return leaf.Subject.CommonName
	}
	if len(leaf.DNSNames) > 0 {
		return leaf.DNSNames[0]
	}
	return "certificate"
}

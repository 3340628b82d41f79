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
	}
	for _, c := range []prometheus.Collector{m.requests, m.reloads, m.certs} {
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

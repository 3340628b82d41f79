package serve

import (
	"crypto/tls"
	"crypto/x509"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus collectors of a Handler and Server. Register
// them on a private registry (NewMetrics does) so that embedding programs
// keep control of their own /metrics.
type Metrics struct {
	requests *prometheus.CounterVec
	reloads  *prometheus.CounterVec
	certs    *certExpiry
}

// NewMetrics creates the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
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
			notAfter: map[string]time.Time{},
		},
	}
	for _, c := range []prometheus.Collector{m.requests, m.reloads, m.certs} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

var statusText = map[int]string{200: "200", 302: "302", 304: "304", 404: "404", 405: "405"}

func (m *Metrics) observe(f file, status int, variant string) {
	s, ok := statusText[status]
	if !ok {
		s = strconv.Itoa(status)
	}
	m.requests.WithLabelValues(fileNames[f], s, variant).Inc()
}

func (m *Metrics) reload(ok bool) {
	if m == nil {
		return
	}
	r := "ok"
	if !ok {
		r = "failed"
	}
	m.reloads.WithLabelValues(r).Inc()
}

// certExpiry exports the time left on each served certificate, computed
// at scrape time so that the value keeps falling between reloads. File
// certificates replace the whole set at reload; ACME certificates are
// added per name as handshakes are served.
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

// replace makes leaf the only certificate reported.
func (c *certExpiry) replace(leaf *x509.Certificate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.notAfter)
	if leaf != nil {
		c.notAfter[certName(leaf)] = leaf.NotAfter
	}
}

// set records a served certificate next to the others. It runs on every
// ACME handshake, so it writes only when the certificate changed.
func (c *certExpiry) set(cert *tls.Certificate) {
	if cert == nil {
		return
	}
	leaf := cert.Leaf
	if leaf == nil {
		if len(cert.Certificate) == 0 {
			return
		}
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return
		}
	}
	name := certName(leaf)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.notAfter[name].Equal(leaf.NotAfter) {
		c.notAfter[name] = leaf.NotAfter
	}
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

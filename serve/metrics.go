package serve

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus collectors of a Handler and Server. Register
// them on a private registry (NewMetrics does) so that embedding programs
// keep control of their own /metrics.
type Metrics struct {
	requests   *prometheus.CounterVec
	reloads    *prometheus.CounterVec
	certExpiry *prometheus.GaugeVec
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
		certExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hacx_serve_cert_expiry_seconds",
			Help: "Seconds until the served certificate expires, by certificate subject.",
		}, []string{"cert"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.reloads, m.certExpiry} {
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

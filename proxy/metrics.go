package proxy

import (
	"github.com/prometheus/client_golang/prometheus"

	"hacx.dev/hacx"
)

// Metrics are the Prometheus collectors of a Server. NewMetrics registers
// them on a registry the caller owns, so that an embedding program keeps
// control of its /metrics. A nil *Metrics records nothing.
type Metrics struct {
	active   *prometheus.GaugeVec
	total    *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	winners  *prometheus.CounterVec
	failures *prometheus.CounterVec
	refused  *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hacx_proxy_connections_active",
			Help: "Connections being relayed now, by kind (client, server).",
		}, []string{"kind"}),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hacx_proxy_connections_total",
			Help: "Connections accepted, by kind (client, server).",
		}, []string{"kind"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hacx_proxy_bytes_total",
			Help: "Bytes relayed, by direction (to_server: from local clients; to_client: from upstream servers), counted on the local side.",
		}, []string{"direction"}),
		winners: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hacx_proxy_route_winners_total",
			Help: "Upstream connections made, by the winning route's method (tls, websocket, bosh) and discovery source (hacx, srv, ...).",
		}, []string{"method", "source"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hacx_proxy_upstream_failures_total",
			Help: "Connections for which no route reached the domain's XMPP service, by kind.",
		}, []string{"kind"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hacx_proxy_refused_total",
			Help: "Connections refused or ended by the proxy, by reason (limit, idle, bad-stream, oversized, shutdown).",
		}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{m.active, m.total, m.bytes, m.winners, m.failures, m.refused} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) open(k hacx.Kind) {
	if m == nil {
		return
	}
	m.total.WithLabelValues(k.String()).Inc()
	m.active.WithLabelValues(k.String()).Inc()
}

func (m *Metrics) done(k hacx.Kind) {
	if m == nil {
		return
	}
	m.active.WithLabelValues(k.String()).Dec()
}

func (m *Metrics) addBytes(toServer, toClient int64) {
	if m == nil {
		return
	}
	m.bytes.WithLabelValues("to_server").Add(float64(toServer))
	m.bytes.WithLabelValues("to_client").Add(float64(toClient))
}

func (m *Metrics) winner(r hacx.Route) {
	if m == nil {
		return
	}
	m.winners.WithLabelValues(string(r.Method), string(r.Source)).Inc()
}

func (m *Metrics) upstreamFailed(k hacx.Kind) {
	if m == nil {
		return
	}
	m.failures.WithLabelValues(k.String()).Inc()
}

func (m *Metrics) refuse(reason string) {
	if m == nil {
		return
	}
	m.refused.WithLabelValues(reason).Inc()
}

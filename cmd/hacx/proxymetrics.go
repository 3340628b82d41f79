package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"hacx.dev/hacx"
	"hacx.dev/hacx/proxy"
)

// proxyMetrics exports a proxy.Server's counts to Prometheus, under the
// names "hacx proxy --metrics" has always served. The collectors are
// registered on a registry of the command's own, so /metrics shows only
// them.
type proxyMetrics struct {
	active   *prometheus.GaugeVec
	total    *prometheus.CounterVec
	winners  *prometheus.CounterVec
	failures *prometheus.CounterVec
	refused  *prometheus.CounterVec
	// ConnBytes is called for every read relayed: its two counters are
	// looked up once.
	toServer, toClient prometheus.Counter
}

var _ proxy.Metrics = (*proxyMetrics)(nil)

// newProxyMetrics creates the collectors and registers them on reg.
func newProxyMetrics(reg prometheus.Registerer) (*proxyMetrics, error) {
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hacx_proxy_bytes_total",
		Help: "Bytes relayed, by direction (to_server: from local clients; to_client: from upstream servers), counted on the local side.",
	}, []string{"direction"})
	m := &proxyMetrics{
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hacx_proxy_connections_active",
			Help: "Connections being relayed now, by kind (client, server).",
		}, []string{"kind"}),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hacx_proxy_connections_total",
			Help: "Connections accepted, by kind (client, server).",
		}, []string{"kind"}),
		winners: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hacx_proxy_route_winners_total",
			Help: "Upstream connections made, by the winning route's method (tls, starttls, websocket, bosh) and discovery source (hacx, srv, ...).",
		}, []string{"method", "source"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hacx_proxy_upstream_failures_total",
			Help: "Connections for which no route reached the domain's XMPP service, by kind.",
		}, []string{"kind"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hacx_proxy_refused_total",
			Help: "Connections refused or ended by the proxy, by reason (limit, idle, bad-stream, oversized, shutdown).",
		}, []string{"reason"}),
		toServer: bytes.WithLabelValues("to_server"),
		toClient: bytes.WithLabelValues("to_client"),
	}
	for _, c := range []prometheus.Collector{m.active, m.total, bytes, m.winners, m.failures, m.refused} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *proxyMetrics) ConnOpened(k hacx.Kind) {
	m.total.WithLabelValues(k.String()).Inc()
	m.active.WithLabelValues(k.String()).Inc()
}

func (m *proxyMetrics) ConnClosed(k hacx.Kind) { m.active.WithLabelValues(k.String()).Dec() }

func (m *proxyMetrics) ConnBytes(toServer, toClient int64) {
	if toServer > 0 {
		m.toServer.Add(float64(toServer))
	}
	if toClient > 0 {
		m.toClient.Add(float64(toClient))
	}
}

func (m *proxyMetrics) RouteWon(r hacx.Route) {
	m.winners.WithLabelValues(string(r.Method), string(r.Source)).Inc()
}

func (m *proxyMetrics) UpstreamFailed(k hacx.Kind) { m.failures.WithLabelValues(k.String()).Inc() }

func (m *proxyMetrics) Refused(reason string) { m.refused.WithLabelValues(reason).Inc() }

package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"hacx.dev/hacx"
)

// TestProxyMetrics_Names: every count the proxy reports is exported under
// the name and labels hacx proxy --metrics has always served.
func TestProxyMetrics_Names(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newProxyMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.ConnOpened(hacx.Client)
	m.ConnOpened(hacx.Client)
	m.ConnClosed(hacx.Client)
	m.ConnBytes(10, 0)
	m.ConnBytes(5, 7)
	m.RouteWon(hacx.Route{Method: hacx.MethodBOSH, Source: hacx.SourceHACX})
	m.UpstreamFailed(hacx.Server)
	m.Refused("idle")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			var labels []string
			for _, l := range s.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := s.GetCounter().GetValue() + s.GetGauge().GetValue()
			got = append(got, fmt.Sprintf("%s{%s} %g", mf.GetName(), strings.Join(labels, ","), v))
		}
	}
	slices.Sort(got)
	want := []string{
		"hacx_proxy_bytes_total{direction=to_client} 7",
		"hacx_proxy_bytes_total{direction=to_server} 15",
		"hacx_proxy_connections_active{kind=client} 1",
		"hacx_proxy_connections_total{kind=client} 2",
		"hacx_proxy_refused_total{reason=idle} 1",
		"hacx_proxy_route_winners_total{method=bosh,source=hacx} 1",
		"hacx_proxy_upstream_failures_total{kind=server} 1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("exported\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

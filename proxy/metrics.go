package proxy

import "hacx.dev/hacx"

// Metrics receives what a Server counts. The proxy calls it from many
// connections at once, so an implementation must be safe for concurrent
// use and cheap: ConnBytes is called for every read relayed. A nil
// Server.Metrics counts nothing; "hacx proxy" exports these counts to
// Prometheus.
type Metrics interface {
	// ConnOpened is called when a connection of kind is accepted for
	// relaying, ConnClosed when it ends.
	ConnOpened(kind hacx.Kind)
	ConnClosed(kind hacx.Kind)
	// ConnBytes adds bytes relayed, counted on the local side: toServer
	// read from the local client and passed upstream, toClient written to
	// it.
	ConnBytes(toServer, toClient int64)
	// RouteWon is called when the upstream is connected, with the route
	// that won.
	RouteWon(r hacx.Route)
	// UpstreamFailed is called when no route reached the domain's XMPP
	// service for a connection of kind.
	UpstreamFailed(kind hacx.Kind)
	// Refused is called when the proxy refuses or ends a connection
	// itself, with the reason: RefusedLimit, RefusedIdle,
	// RefusedBadStream, RefusedOversized or RefusedShutdown.
	Refused(reason string)
}

// Reasons given to Metrics.Refused.
const (
	RefusedLimit     = "limit"      // over MaxConns
	RefusedIdle      = "idle"       // nothing moved for IdleTimeout
	RefusedBadStream = "bad-stream" // the client's input is not an acceptable stream
	RefusedOversized = "oversized"  // an element larger than MaxElement
	RefusedShutdown  = "shutdown"   // ended by Shutdown
)

// noMetrics is the Metrics of a Server whose Metrics is nil.
type noMetrics struct{}

func (noMetrics) ConnOpened(hacx.Kind)     {}
func (noMetrics) ConnClosed(hacx.Kind)     {}
func (noMetrics) ConnBytes(int64, int64)   {}
func (noMetrics) RouteWon(hacx.Route)      {}
func (noMetrics) UpstreamFailed(hacx.Kind) {}
func (noMetrics) Refused(string)           {}

func (s *Server) metrics() Metrics {
	if s.Metrics != nil {
		return s.Metrics
	}
	return noMetrics{}
}

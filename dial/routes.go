package dial

import (
	"context"

	"hacx.dev/hacx"
	"hacx.dev/hacx/discover"
	"hacx.dev/hacx/socks"
)

// RouteSource finds the ordered connection candidates of a domain. A
// *discover.Resolver is one (its Routes method); tests and callers with
// their own discovery plug in here.
type RouteSource interface {
	Routes(ctx context.Context, domain string, kind hacx.Kind) ([]hacx.Route, error)
}

// RouteSourceFunc adapts a function to RouteSource.
type RouteSourceFunc func(ctx context.Context, domain string, kind hacx.Kind) ([]hacx.Route, error)

// Routes calls f.
func (f RouteSourceFunc) Routes(ctx context.Context, domain string, kind hacx.Kind) ([]hacx.Route, error) {
	return f(ctx, domain, kind)
}

// proxiedSource is a RouteSource that discovers through a SOCKS proxy,
// as a *discover.Resolver with Proxy set does: the routes it finds are
// dialed through the same proxy (T1). nil means it discovers directly.
type proxiedSource interface {
	SOCKSProxy() *socks.Proxy
}

// defaultResolver serves Dialers without Routes or Proxy; a Resolver is
// safe for concurrent use.
var defaultResolver discover.Resolver

// Dial connects to the client-to-server service of domain with a zero
// Dialer: discovery through a zero discover.Resolver (the system's DNS
// resolver and roots), the default timings. It is to Dialer.Dial what
// net.Dial is to net.Dialer.Dial.
func Dial(ctx context.Context, domain string) (*Conn, error) {
	var d Dialer
	return d.Dial(ctx, domain)
}

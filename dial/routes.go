package dial

import (
	"context"

	"github.com/miekg/dns"

	"hacx.dev/hacx"
	"hacx.dev/hacx/discover"
)

// Discovery adapts a discover.Resolver to RouteSource and TLSASource: the
// routes of its Lookup, in its order (C2), and its DNSSEC-aware TLSA
// lookups (X4). A nil Resolver means a zero discover.Resolver.
type Discovery struct {
	Resolver *discover.Resolver
}

// defaultResolver serves zero Dialers; a Resolver is safe for concurrent use.
var defaultResolver discover.Resolver

func (s Discovery) resolver() *discover.Resolver {
	if s.Resolver != nil {
		return s.Resolver
	}
	return &defaultResolver
}

// Routes returns the routes discovery found for domain, in order.
func (s Discovery) Routes(ctx context.Context, domain string, kind hacx.Kind) ([]hacx.Route, error) {
	res, err := s.resolver().Lookup(ctx, domain, kind)
	if err != nil {
		return nil, err
	}
	return res.Routes, nil
}

// LookupTLSA is the Resolver's TLSA lookup.
func (s Discovery) LookupTLSA(ctx context.Context, host string, port uint16) ([]*dns.TLSA, bool, error) {
	return s.resolver().LookupTLSA(ctx, host, port)
}

// defaultRoutes is the RouteSource of a zero Dialer.
func defaultRoutes() RouteSource { return Discovery{} }

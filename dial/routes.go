package dial

import (
	"context"
	"errors"

	"hacx.dev/hacx"
)

// defaultRoutes is the RouteSource of a zero Dialer.
//
// TODO(dial): plug in a zero discover.Resolver once discover exports it.
func defaultRoutes() RouteSource {
	return RouteSourceFunc(func(context.Context, string, hacx.Kind) ([]hacx.Route, error) {
		return nil, errors.New("dial: no route source: set Dialer.Routes (discover.Resolver is not available yet)")
	})
}

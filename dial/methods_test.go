package dial_test

import (
	"errors"
	"testing"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
)

// TestDialer_Methods_C1: with Methods set, routes of other methods are
// never tried, even when they come first and work.
func TestDialer_Methods_C1(t *testing.T) {
	ca := newCA(t)
	cert := issue(t, ca, domain, urlHost)
	tlsSrv := startTLS(t, "127.0.0.1", cert, domain, modeXMPP)
	ws := startHTTP(t, "127.0.0.2", cert, httpOpts{from: domain})
	routes := []hacx.Route{route(hacx.MethodTLS, tlsSrv.addr, 1), route(hacx.MethodWebSocket, ws.addr, 2)}

	d := newDialer(ca)
	d.Methods = []hacx.Method{hacx.MethodWebSocket, hacx.MethodBOSH}
	c := dialOK(t, d, routes...)
	if c.Route.Method != hacx.MethodWebSocket || len(c.Attempts) != 1 {
		t.Errorf("won over %v after %d attempts; want websocket, the only one tried", c.Route, len(c.Attempts))
	}
	if n := len(tlsSrv.seen()); n != 0 {
		t.Errorf("the direct-TLS route was tried %d time(s)", n)
	}

	d.Methods = []hacx.Method{hacx.MethodStartTLS}
	de := dialFail(t, d, routes...)
	if !errors.Is(de, dial.ErrNoRoutes) || len(de.Attempts) != 0 {
		t.Errorf("no allowed route: %v, want ErrNoRoutes and no attempt", de)
	}
}

package dial_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
)

// TestTimeout_SaysWhichAndHowLong_C3_C5: a route that times out reports
// the phase's own limit ("tls handshake: no answer within 300ms
// (handshake timeout)"), not a bare "context deadline exceeded", and still
// matches context.DeadlineExceeded and os.ErrDeadlineExceeded.
func TestTimeout_SaysWhichAndHowLong_C3_C5(t *testing.T) {
	ca := newCA(t)
	cert := issue(t, ca, domain)
	const limit = 300 * time.Millisecond
	// The WebSocket stream limit covers the upgrade as well as <open/>:
	// a loaded machine can spend 300 ms on the upgrade alone and report
	// that phase instead. A limit the upgrade cannot reach on loopback
	// keeps the case about <open/>.
	const wsLimit = 3 * time.Second
	// A SYN that is never answered: the dial hook holds it until its
	// context ends, as an unrouted address would.
	unanswered := netip.MustParseAddrPort("127.0.0.9:5222")
	silentTLS := startTLS(t, "127.0.0.2", cert, domain, modeSilent)
	silentHTTP := startHTTP(t, "127.0.0.3", cert, httpOpts{from: domain, silent: true})

	tests := []struct {
		name  string
		route hacx.Route
		phase dial.Phase
		want  string        // the route error's text, after "route: phase: "
		limit time.Duration // the one under test
		// limits other than the one under test are long, so only the
		// phase under test can expire.
		connect, handshake, stream time.Duration
	}{
		{"connect", route(hacx.MethodTLS, unanswered, 1), dial.PhaseTCP,
			"tcp connect: no answer within 300ms (connect timeout)", limit, limit, time.Minute, time.Minute},
		{"tls handshake (blackhole)", route(hacx.MethodTLS, startTLS(t, "127.0.0.4", cert, domain, modeBlackhole).addr, 1), dial.PhaseTLS,
			"tls handshake: no answer within 300ms (handshake timeout)", limit, time.Minute, limit, time.Minute},
		{"stream header", route(hacx.MethodTLS, silentTLS.addr, 1), dial.PhaseStream,
			"xmpp stream header: no answer within 300ms (stream timeout)", limit, time.Minute, time.Minute, limit},
		{"websocket <open/>", route(hacx.MethodWebSocket, silentHTTP.addr, 1), dial.PhaseStream,
			"websocket <open/>: no answer within 3s (stream timeout)", wsLimit, time.Minute, time.Minute, wsLimit},
		{"bosh session", route(hacx.MethodBOSH, silentHTTP.addr, 1), dial.PhaseStream,
			"bosh session creation: no answer within 300ms (stream timeout)", limit, time.Minute, time.Minute, limit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDialer(ca)
			d.ConnectTimeout, d.HandshakeTimeout, d.StreamTimeout = tt.connect, tt.handshake, tt.stream
			d.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				if addr == unanswered.String() {
					<-ctx.Done()
					return nil, ctx.Err()
				}
				var nd net.Dialer
				return nd.DialContext(ctx, network, addr)
			}
			de := dialFail(t, d, tt.route)
			a := de.Attempts[0]
			if a.Phase != tt.phase {
				t.Errorf("phase %s, want %s (err %v)", a.Phase, tt.phase, a.Err)
			}
			var te *dial.TimeoutError
			if !errors.As(de, &te) || te.Limit != tt.limit || te.Error() != tt.want {
				t.Fatalf("error %q, want a *dial.TimeoutError %q", a.Err, tt.want)
			}
			if !errors.Is(de, context.DeadlineExceeded) || !errors.Is(de, os.ErrDeadlineExceeded) {
				t.Errorf("errors.Is(DeadlineExceeded) false for %v", de)
			}
			var ne interface{ Timeout() bool }
			if !errors.As(a.Err, &ne) || !ne.Timeout() {
				t.Errorf("%v has no Timeout() true", a.Err)
			}
			line := de.Error()
			if !strings.Contains(line, ": "+tt.phase.String()+": "+tt.want+" (") || strings.Contains(line, "context deadline exceeded") {
				t.Errorf("report line does not name the timeout:\n%s", line)
			}
			if a.Duration < tt.limit {
				t.Errorf("failed after %v, before its %v limit", a.Duration, tt.limit)
			}
		})
	}
}

// TestTimeout_CallerDeadlineIsNotARouteTimeout: when the caller's own
// context ends first, the attempt is not blamed with a route timeout.
func TestTimeout_CallerDeadlineIsNotARouteTimeout(t *testing.T) {
	ca := newCA(t)
	dead := startTLS(t, "127.0.0.2", issue(t, ca, domain), domain, modeBlackhole)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := newDialer(ca).DialRoutes(ctx, domain, hacx.Client, []hacx.Route{route(hacx.MethodTLS, dead.addr, 1)})
	var te *dial.TimeoutError
	if !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &te) {
		t.Fatalf("err = %v, want the caller's deadline, no route timeout", err)
	}
}

package dial_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptrace"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
)

// TestWebSocket_CancelledWhileTransportDials_NoLeak_C5: an attempt that
// gives up (a lost race, C5) while the HTTP transport is still taking its
// verified TLS connection leaves no pooled connection behind: the
// transport's dial goes on without the request, and what it produces must
// be closed, not kept idle for ever.
func TestWebSocket_CancelledWhileTransportDials_NoLeak_C5(t *testing.T) {
	ca := newCA(t)
	srv := startHTTP(t, "127.0.0.2", issue(t, ca, domain), httpOpts{from: domain})
	base := runtime.NumGoroutine()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	returned := make(chan struct{})
	var hooked atomic.Bool
	// The transport's dial goroutine calls TLSHandshakeStart after our
	// DialTLSContext handed it the verified connection: cancel there and
	// hold the dial until DialRoutes has returned, so the request is gone
	// before the connection reaches the pool.
	trace := &httptrace.ClientTrace{TLSHandshakeStart: func() {
		hooked.Store(true)
		cancel()
		<-returned
	}}
	_, err := newDialer(ca).DialRoutes(httptrace.WithClientTrace(ctx, trace), domain, hacx.Client,
		[]hacx.Route{route(hacx.MethodWebSocket, srv.addr, 1)})
	close(returned)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the caller's cancellation", err)
	}
	if !hooked.Load() {
		t.Fatal("the transport never dialed: the test did not reach the case it is about")
	}
	waitGoroutines(t, base)
}

// TestWebSocket_UpgradeRefused_NoPooledConn_C3: a server that answers the
// upgrade with a plain HTTP response leaves a reusable keep-alive
// connection in the transport's pool; the failed attempt must close it.
func TestWebSocket_UpgradeRefused_NoPooledConn_C3(t *testing.T) {
	ca := newCA(t)
	srv := startHTTP(t, "127.0.0.2", issue(t, ca, domain), httpOpts{from: domain, upgradeStatus: http.StatusNotFound})
	base := runtime.NumGoroutine()
	de := dialFail(t, newDialer(ca), route(hacx.MethodWebSocket, srv.addr, 1))
	if a := de.Attempts[0]; a.Phase != dial.PhaseStream || !strings.Contains(a.Err.Error(), "404") {
		t.Fatalf("attempt %s: %v, want a stream-phase HTTP 404", a.Phase, a.Err)
	}
	waitGoroutines(t, base)
}

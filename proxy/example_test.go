package proxy_test

import (
	"context"
	"errors"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/proxy"
)

// connCount is a proxy.Metrics that counts connections only; "hacx
// proxy" exports every count to Prometheus.
type connCount struct{ open, total atomic.Int64 }

func (c *connCount) ConnOpened(hacx.Kind)     { c.open.Add(1); c.total.Add(1) }
func (c *connCount) ConnClosed(hacx.Kind)     { c.open.Add(-1) }
func (c *connCount) ConnBytes(int64, int64)   {}
func (c *connCount) RouteWon(hacx.Route)      {}
func (c *connCount) UpstreamFailed(hacx.Kind) {}
func (c *connCount) Refused(string)           {}

// A local proxy for XMPP clients without HACX support: they connect to
// 127.0.0.1:5222 in plain text and reach their server over the best
// route its HACX document lists (direct TLS, WebSocket or BOSH).
func ExampleServer() {
	var conns connCount
	srv := &proxy.Server{
		Addr:    "127.0.0.1:5222",
		Dialer:  &dial.Dialer{}, // discovers with a zero discover.Resolver
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, nil)),
		Metrics: &conns,
	}
	interrupted := make(chan os.Signal, 1)
	signal.Notify(interrupted, os.Interrupt)
	go func() {
		<-interrupted
		// Streams end politely: each side gets its transport's goodbye.
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	// Cancelling this context would end streams abruptly; Shutdown is the
	// polite way.
	if err := srv.ListenAndServe(context.Background()); !errors.Is(err, proxy.ErrServerClosed) {
		log.Fatal(err)
	}
}

package proxy_test

import (
	"context"
	"errors"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/proxy"
)

// A local proxy for XMPP clients without HACX support: they connect to
// 127.0.0.1:5222 in plain text and reach their server over the best
// route its HACX document lists (direct TLS, WebSocket or BOSH).
func ExampleServer() {
	metrics, err := proxy.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		log.Fatal(err)
	}
	srv := &proxy.Server{
		Addr:    "127.0.0.1:5222",
		Dialer:  &dial.Dialer{}, // discovers with a zero discover.Resolver
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, nil)),
		Metrics: metrics,
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

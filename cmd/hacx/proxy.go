package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"hacx.dev/hacx"
	"hacx.dev/hacx/proxy"
)

// proxyShutdownGrace is how long SIGINT/SIGTERM waits for streams to end
// politely before closing what is left.
const proxyShutdownGrace = 10 * time.Second

func init() {
	register(&command{
		name:  "proxy",
		args:  "[--listen ADDR] [--listen-s2s ADDR] [--tls-cert F --tls-key F [--tls-required]] [--allow-remote] [--metrics ADDR] [--max-conns N] [--idle-timeout D] [-v] [network flags]",
		short: "let any XMPP client or server connect through HACX routes",
		long: `Proxy accepts plain XMPP streams on a local address and carries each one to
the domain its stream header names (to='example.org'), over the best route
hacx finds for that domain: the HACX document, then SRV and host-meta, tried
the way "hacx check" shows (pins, exact SNI and ALPN, DANE or WebPKI, a
verified stream, rules A5-A10, C3-C5). The client needs no HACX support:
point it at the proxy as its server ("connect to host 127.0.0.1 port 5222")
and keep its JID.

The upstream may be direct TLS (bytes are copied both ways), WebSocket
(RFC 7395) or BOSH (XEP-0206); the proxy translates the framing, stream
restarts after SASL included. The first <stream:features/> the client sees
are the server's, without STARTTLS (the upstream is already encrypted and
verified) and without -PLUS SASL mechanisms or XEP-0440 channel-binding
types (channel binding cannot cross a proxy). A client that supports
channel binding and sees no -PLUS mechanism says so to the server (SCRAM
"y,,"), and a server that supports it then refuses the login: turn channel
binding off in such clients for accounts used through the proxy. When no route works the client gets <remote-connection-failed/>
with every route's reason in the text; an element larger than 256 KiB on a
WebSocket or BOSH relay is a <policy-violation/>.

--listen takes client-to-server streams (jabber:client, default
127.0.0.1:5222); --listen-s2s, when given, takes server-to-server streams
(jabber:server) for a local XMPP server, dialed with the domain's
xmpp-server document. Listening on anything but a loopback address needs
--allow-remote: whoever can reach the port can make the proxy connect to
any XMPP server. The same holds for --metrics.

Clients that insist on TLS even to 127.0.0.1 (most do) get it with
--tls-cert and --tls-key: the proxy then offers STARTTLS itself (and never
forwards it); --tls-required refuses clients that do not use it. Give the
client a certificate it trusts, or its "do not verify" option for a
loopback proxy. That TLS connection ends at the proxy, so channel binding
is not offered (see above): turn it off in the client.

One log line per connection goes to stderr (domain, route, bytes each way,
duration, outcome). --metrics serves Prometheus /metrics on a private
address: hacx_proxy_connections_active/_total, hacx_proxy_bytes_total,
hacx_proxy_route_winners_total{method,source},
hacx_proxy_upstream_failures_total and hacx_proxy_refused_total{reason}.
--timeout bounds discovery and dialing of each connection's upstream.
--idle-timeout ends a connection on which no byte moved either way for
that long (<connection-timeout/>; default 10m, 0 also means 10m, a
negative duration turns it off).
SIGINT or SIGTERM stops accepting, ends every stream politely and waits up
to 10 s for them.

Exit status: 0 after a signal-initiated shutdown, 1 when a listener fails,
2 bad usage (a non-loopback --listen, --listen-s2s or --metrics address
without --allow-remote, an unreadable certificate).`,
		run: runProxy,
	})
}

func runProxy(ctx context.Context, sio *stdio, args []string) error {
	c := commands["proxy"]
	fs := newFlags(c, sio)
	var nf netFlags
	nf.register(fs)
	var (
		listen      = fs.String("listen", "127.0.0.1:5222", "client-to-server listen `address` (IP:port)")
		listenS2S   = fs.String("listen-s2s", "", "server-to-server listen `address` (IP:port; off when empty)")
		certFile    = fs.String("tls-cert", "", "PEM certificate chain `file` for local STARTTLS")
		keyFile     = fs.String("tls-key", "", "PEM private key `file` for local STARTTLS")
		tlsRequired = fs.Bool("tls-required", false, "refuse clients that do not start TLS (needs --tls-cert)")
		allowRemote = fs.Bool("allow-remote", false, "allow listening (--listen, --listen-s2s, --metrics) on non-loopback addresses (an open relay to XMPP servers)")
		metricsAddr = fs.String("metrics", "", "serve Prometheus /metrics on this `address` (IP:port; beyond loopback only with --allow-remote)")
		maxConns    = fs.Int("max-conns", proxy.DefaultMaxConns, "relay at most `N` connections at once per listener")
		idle        = fs.Duration("idle-timeout", proxy.DefaultIdleTimeout, "end connections on which nothing moved for this `duration` (0 means the default, negative never)")
		verbose     = fs.Bool("v", false, "log every step (debug level)")
	)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	listens := map[hacx.Kind]string{hacx.Client: *listen}
	if *listenS2S != "" {
		listens[hacx.Server] = *listenS2S
	}
	for _, addr := range listens {
		loop, err := loopbackAddr(addr)
		if err != nil {
			return usagef("%v", err)
		}
		if !loop && !*allowRemote {
			return usagef("%s is not a loopback address: anyone who reaches it could use this proxy to connect anywhere; add --allow-remote if that is what you want", addr)
		}
	}
	if *metricsAddr != "" {
		// Metrics tell who uses the proxy, how much and where it fails:
		// private by default, like the relay itself.
		loop, err := loopbackAddr(*metricsAddr)
		if err != nil {
			return usagef("--metrics: %v", err)
		}
		if !loop && !*allowRemote {
			return usagef("--metrics %s is not a loopback address: anyone who reaches it could read the proxy's traffic and failure counts; add --allow-remote if that is what you want", *metricsAddr)
		}
	}
	if (*certFile == "") != (*keyFile == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	if *tlsRequired && *certFile == "" {
		return usagef("--tls-required needs --tls-cert and --tls-key")
	}
	if *maxConns <= 0 {
		return usagef("--max-conns must be positive")
	}
	var tlsCfg *tls.Config
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return usagef("--tls-cert/--tls-key: %v", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	_, dialer, err := nf.client(sio, c)
	if err != nil {
		return usagef("%v", err)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(sio.err, &slog.HandlerOptions{Level: level}))
	if *verbose {
		dialer.Logger = logger.With("component", "dial")
	}

	reg := prometheus.NewRegistry()
	metrics, err := newProxyMetrics(reg)
	if err != nil {
		return err
	}

	// Listen on everything first, so that a taken port fails before any
	// stream is accepted.
	type listener struct {
		srv *proxy.Server
		ln  net.Listener
	}
	var lns []listener
	closeAll := func() {
		for _, l := range lns {
			l.ln.Close()
		}
	}
	for _, kind := range []hacx.Kind{hacx.Client, hacx.Server} {
		addr, ok := listens[kind]
		if !ok {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll()
			return &exitError{code: exitFail, msg: err.Error()}
		}
		if !isLoopbackListener(ln) {
			logger.Warn("proxy: listening on a non-loopback address: this is an open relay to XMPP servers", "addr", ln.Addr().String())
		}
		lns = append(lns, listener{ln: ln, srv: &proxy.Server{
			Kind: kind, Dialer: dialer, Logger: logger, MaxConns: *maxConns,
			IdleTimeout: *idle, DialTimeout: nf.timeout,
			TLSConfig: tlsCfg, TLSRequired: *tlsRequired, Metrics: metrics,
		}})
		logger.Info("proxy: listening", "kind", kind.String(), "addr", ln.Addr().String(), "starttls", tlsCfg != nil)
	}

	var metricsSrv *http.Server
	if *metricsAddr != "" {
		mln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			closeAll()
			return &exitError{code: exitFail, msg: "--metrics: " + err.Error()}
		}
		if !isLoopbackListener(mln) {
			logger.Warn("proxy: metrics on a non-loopback address: anyone who reaches it can read them", "addr", mln.Addr().String())
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go metricsSrv.Serve(mln)
		logger.Info("proxy: metrics", "addr", mln.Addr().String())
	}

	// Serve outlives the signal: ctx ending starts a polite Shutdown
	// instead of dropping the connections.
	serveCtx := context.WithoutCancel(ctx)
	errs := make(chan error, len(lns))
	var wg sync.WaitGroup
	for _, l := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- l.srv.Serve(serveCtx, l.ln)
		}()
	}
	var failed error
	select {
	case <-ctx.Done():
		logger.Info("proxy: shutting down")
	case err := <-errs:
		failed = err
	}
	sctx, cancel := context.WithTimeout(context.Background(), proxyShutdownGrace)
	defer cancel()
	// Every listener and the metrics server share the grace period: they
	// shut down side by side, not one after the other.
	var swg sync.WaitGroup
	for _, l := range lns {
		swg.Go(func() {
			if err := l.srv.Shutdown(sctx); err != nil {
				logger.Warn("proxy: connections closed before they ended", "kind", l.srv.Kind.String(), "err", err)
			}
		})
	}
	if metricsSrv != nil {
		swg.Go(func() { metricsSrv.Shutdown(sctx) })
	}
	swg.Wait()
	wg.Wait()
	if failed != nil && !errors.Is(failed, proxy.ErrServerClosed) {
		return &exitError{code: exitFail, msg: failed.Error()}
	}
	return nil
}

// loopbackAddr reports whether a listen address is on loopback: an IP
// literal in 127.0.0.0/8 or ::1, or "localhost". An empty host (all
// interfaces) is not.
func loopbackAddr(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("listen address %q: %v", addr, err)
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	if ip == nil {
		if host == "" {
			return false, nil
		}
		return false, fmt.Errorf("listen address %q: give an IP address, not a host name", addr)
	}
	return ip.IsLoopback(), nil
}

func isLoopbackListener(ln net.Listener) bool {
	ta, ok := ln.Addr().(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

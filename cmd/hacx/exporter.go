package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"hacx.dev/hacx"
	"hacx.dev/hacx/discover"
)

// exporterShutdownGrace is how long SIGINT/SIGTERM lets running probes end.
const exporterShutdownGrace = 10 * time.Second

func init() {
	register(&command{
		name:  "exporter",
		args:  "[--listen ADDR] [--config FILE] [--allow-private] [--any-target] [--max-probes N] [--min-interval D] [--resolver IP:PORT] [--ca-file FILE]",
		short: "serve Prometheus probes of domains' HACX routes, like blackbox_exporter",
		long: `Exporter answers Prometheus probes in the manner of blackbox_exporter:
GET /probe?target=DOMAIN[&kind=server][&module=NAME] runs one "hacx check"
of DOMAIN (discovery, then every route dialed with its exact SNI, ALPN,
pins, DANE or WebPKI and a verified stream, rules A5-A10, C3-C5) and
answers with its metrics in the Prometheus text format. /metrics has the
exporter's own metrics. Point Prometheus at /probe with the domain as the
target parameter (examples/prometheus.yml; alert rules in
examples/hacx-alerts.yml; a Grafana dashboard in examples/grafana-hacx.json).

Modules (--config, a TOML file; examples/exporter.toml documents it) say
how to probe: kind ("client" or "server"), timeout (the whole probe; 20s
by default, lowered to Prometheus' scrape timeout less 0.5 s),
fetch-timeout, connect-timeout, handshake-timeout, stream-timeout,
methods (a subset of tls, starttls, websocket and bosh, which are the
default), resolver (a DNS server, IP:PORT), all (try every route, the
default; false stops at the first that works), audit (also run the audit
of "hacx check --audit") and cache (keep documents between probes for
their ttl, as a client does, H5: then hacx_source_fresh 0 says that a
refetch failed and a stale copy is in use; without it every probe fetches
anew). The module "default" exists always. &kind=server overrides the
module's kind.

Only the domains in the file's targets list are probed, unless
--any-target. Every connection a probe makes, the HTTPS fetches by name
and the routes by ip:port, goes to public addresses only: names are
resolved first, and loopback, private, shared, link-local, documentation,
multicast and the other special-purpose addresses of the IANA registries
are refused, unless --allow-private. A domain's publication chooses where
its probe connects, so without that guard a probe would be a way into the
network the exporter runs in.

At most --max-probes probes run at once; more wait for a slot until their
timeout, then get 503. A probe of the same target, module and kind that
starts less than --min-interval after the previous one gets 429 with
Retry-After, so that nobody can use the exporter to hammer a domain.
Wrong parameters get 400, a target not in the list 403.

Probe metrics (route labels: source, index, method, address):
  hacx_probe_success, hacx_probe_duration_seconds,
  hacx_probe_lookup_duration_seconds, hacx_probe_routes,
  hacx_probe_routes_working, hacx_probe_result{result};
  per source (labels source, query): hacx_source_found, hacx_source_fresh,
  hacx_source_age_seconds, hacx_source_routes, hacx_source_status{status};
  hacx_document_ttl_seconds (H5);
  per route: hacx_route_info{sni,alpn,url,priority,weight}, hacx_route_up,
  hacx_route_phase_reached (1 tcp, 2 starttls, 3 tls, 4 verify, 5 stream,
  6 done), hacx_route_connect_seconds, hacx_route_tls_seconds,
  hacx_route_stream_seconds, hacx_route_duration_seconds,
  hacx_route_verified{by}, hacx_route_pin{result}, hacx_route_dane{result},
  hacx_route_tls_info{version,cipher,alpn},
  hacx_route_cert_expiry_timestamp_seconds;
  with audit: hacx_audit_findings{check,rule}, hacx_audit_duration_seconds,
  hacx_document_cert_expiry_timestamp_seconds.
Exporter metrics: hacx_exporter_probes_total{module,result},
hacx_exporter_probes_refused_total{reason} (bad-request, target,
rate-limit, busy), hacx_exporter_probes_in_flight,
hacx_exporter_probes_waiting, hacx_exporter_blocked_connections_total{what}
(fetch, route), hacx_exporter_probe_duration_seconds{module}, and the Go
runtime's.

One log line per probe goes to stderr. SIGINT or SIGTERM stops the
server, letting running probes end for up to 10 s.

Exit status: 0 after a signal-initiated shutdown, 1 when the listener
fails, 2 bad usage (an unreadable or invalid --config, no target allowed).`,
		run: runExporter,
	})
}

func runExporter(ctx context.Context, sio *stdio, args []string) error {
	c := commands["exporter"]
	fs := newFlags(c, sio)
	var (
		listen       = fs.String("listen", "127.0.0.1:9469", "listen `address` (IP:port) for /probe and /metrics")
		configFile   = fs.String("config", "", "TOML `file` of targets and modules (see examples/exporter.toml)")
		allowPrivate = fs.Bool("allow-private", false, "let probes connect to loopback, private and other special-purpose addresses")
		anyTarget    = fs.Bool("any-target", false, "probe any domain asked for, not only the configured targets")
		maxProbes    = fs.Int("max-probes", 8, "run at most `N` probes at once")
		minInterval  = fs.Duration("min-interval", 5*time.Second, "refuse (429) a probe of the same target, module and kind started less than this `duration` after the last; 0 allows any rate")
		caFile       = fs.String("ca-file", "", "PEM `file` of extra trusted root certificates")
		resolver     string
	)
	fs.Func("resolver", "DNS `server` (IP:PORT) for modules that name none (default: system resolver)", func(v string) (err error) {
		resolver, err = parseResolver(v)
		return err
	})
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if *maxProbes <= 0 {
		return usagef("--max-probes must be positive")
	}
	cfg, err := loadExporterConfig(*configFile)
	if err != nil {
		return usagef("--config %v", err)
	}
	if len(cfg.Targets) == 0 && !*anyTarget {
		return usagef("no target may be probed: list them in --config (targets = [\"example.org\"]) or give --any-target")
	}
	e := newExporter(cfg, *maxProbes)
	e.allowPrivate, e.anyTarget, e.minInterval, e.resolver = *allowPrivate, *anyTarget, *minInterval, resolver
	if *caFile != "" {
		if e.roots, err = loadRoots(*caFile); err != nil {
			return usagef("%v", err)
		}
	}
	e.logger = slog.New(slog.NewTextHandler(sio.err, nil))

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return &exitError{code: exitFail, msg: err.Error()}
	}
	if *anyTarget && !isLoopbackListener(ln) {
		e.logger.Warn("exporter: --any-target on a non-loopback address: anyone who reaches it can make it probe any domain", "addr", ln.Addr().String())
	}
	srv := &http.Server{Handler: e.handler(), ReadHeaderTimeout: 10 * time.Second}
	e.logger.Info("exporter: listening", "addr", ln.Addr().String(), "modules", len(cfg.Modules), "targets", len(cfg.Targets), "any_target", *anyTarget, "allow_private", *allowPrivate)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), exporterShutdownGrace)
		defer cancel()
		srv.Shutdown(sctx)
		return nil
	case err := <-errc:
		return &exitError{code: exitFail, msg: err.Error()}
	}
}

// exporter serves /probe and /metrics.
type exporter struct {
	cfg          *exporterConfig
	allowPrivate bool
	anyTarget    bool
	minInterval  time.Duration
	resolver     string // DNS server of modules that name none
	roots        *x509.CertPool
	logger       *slog.Logger

	slots  chan struct{} // one per running probe (--max-probes)
	mu     sync.Mutex
	last   map[string]time.Time          // when the last probe of a target/module/kind started
	caches map[string]*discover.MemCache // per module with cache = true

	reg      *prometheus.Registry
	probes   *prometheus.CounterVec
	refused  *prometheus.CounterVec
	inFlight prometheus.Gauge
	waiting  prometheus.Gauge
	blocked  *prometheus.CounterVec
	probeDur *prometheus.HistogramVec

	// Tests set these: the clock, where checked connections go (after
	// the guard), and a call when a probe starts waiting for a slot.
	now       func() time.Time
	innerDial func(ctx context.Context, network, addr string) (net.Conn, error)
	onWait    func()
}

func newExporter(cfg *exporterConfig, maxProbes int) *exporter {
	e := &exporter{cfg: cfg, slots: make(chan struct{}, maxProbes), last: map[string]time.Time{}, now: time.Now,
		logger: slog.New(slog.DiscardHandler), reg: prometheus.NewRegistry()}
	e.probes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hacx_exporter_probes_total",
		Help: "Probes run, by module and result (success, failure)."}, []string{"module", "result"})
	e.refused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hacx_exporter_probes_refused_total",
		Help: "Probe requests refused: bad-request, target (not allowed), rate-limit, busy (no slot in time)."}, []string{"reason"})
	e.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "hacx_exporter_probes_in_flight", Help: "Probes running."})
	e.waiting = prometheus.NewGauge(prometheus.GaugeOpts{Name: "hacx_exporter_probes_waiting", Help: "Probes waiting for a slot (--max-probes)."})
	e.blocked = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hacx_exporter_blocked_connections_total",
		Help: "Connections refused for a special-purpose address: fetch (HTTPS) or route."}, []string{"what"})
	e.probeDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "hacx_exporter_probe_duration_seconds",
		Help: "How long probes took, audit included.", Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30}}, []string{"module"})
	e.reg.MustRegister(e.probes, e.refused, e.inFlight, e.waiting, e.blocked, e.probeDur,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, r := range []string{"bad-request", "target", "rate-limit", "busy"} {
		e.refused.WithLabelValues(r)
	}
	for _, w := range []string{"fetch", "route"} {
		e.blocked.WithLabelValues(w)
	}
	return e
}

func (e *exporter) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /probe", e.serveProbe)
	mux.Handle("GET /metrics", promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		names := make([]string, 0, len(e.cfg.Modules))
		for n := range e.cfg.Modules {
			names = append(names, n)
		}
		slices.Sort(names)
		fmt.Fprintf(w, "hacx exporter\n\n/probe?target=DOMAIN[&kind=server][&module=NAME]  modules: %s\n/metrics  the exporter's own metrics\n", strings.Join(names, ", "))
	})
	return mux
}

// guard returns, for what ("fetch" or "route"), the DialContext of a
// probe's resolver or dialer: the SSRF guard, resolving names through the
// DNS server the probe uses.
func (e *exporter) guard(server string) func(what string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	lookup := lookupWith(nil)
	if server != "" {
		lookup = lookupWith(dnsResolver(server))
	}
	inner := e.innerDial
	if inner == nil {
		d := &net.Dialer{Timeout: 10 * time.Second}
		inner = d.DialContext
	}
	return func(what string) func(ctx context.Context, network, addr string) (net.Conn, error) {
		g := &ssrfGuard{allowPrivate: e.allowPrivate, lookup: lookup, dial: inner,
			blocked: func() { e.blocked.WithLabelValues(what).Inc() }}
		return g.DialContext
	}
}

// refuse answers a probe request that will not run.
func (e *exporter) refuse(w http.ResponseWriter, reason string, code int, msg string) {
	e.refused.WithLabelValues(reason).Inc()
	http.Error(w, msg, code)
}

func (e *exporter) serveProbe(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	target := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(q.Get("target")), "."))
	if target == "" {
		e.refuse(w, "bad-request", http.StatusBadRequest, "target parameter missing")
		return
	}
	if err := domainArg(target); err != nil || strings.ContainsAny(target, " /:@") {
		e.refuse(w, "bad-request", http.StatusBadRequest, fmt.Sprintf("target %q is not a domain", target))
		return
	}
	name := q.Get("module")
	if name == "" {
		name = "default"
	}
	m, ok := e.cfg.Modules[name]
	if !ok {
		e.refuse(w, "bad-request", http.StatusBadRequest, fmt.Sprintf("unknown module %q", name))
		return
	}
	kind := m.Kind
	switch q.Get("kind") {
	case "":
	case "client":
		kind = hacx.Client
	case "server":
		kind = hacx.Server
	default:
		e.refuse(w, "bad-request", http.StatusBadRequest, fmt.Sprintf("kind %q is neither client nor server", q.Get("kind")))
		return
	}
	if !e.anyTarget && !slices.Contains(e.cfg.Targets, target) {
		e.refuse(w, "target", http.StatusForbidden, fmt.Sprintf("target %q is not in the exporter's targets list", target))
		return
	}
	key := target + "|" + name + "|" + kind.String()
	if wait := e.claim(key); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		e.refuse(w, "rate-limit", http.StatusTooManyRequests, fmt.Sprintf("%s was probed with module %s less than %s ago", target, name, e.minInterval))
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), scrapeTimeout(r, m))
	defer cancel()
	if !e.acquire(ctx) {
		e.unclaim(key) // it did not run: a retry need not wait
		e.refuse(w, "busy", http.StatusServiceUnavailable, fmt.Sprintf("%d probes running; none ended in time", cap(e.slots)))
		return
	}
	defer e.release()

	start := e.now()
	pm, ok := e.runProbe(ctx, target, kind, m)
	took := e.now().Sub(start)
	res := "failure"
	if ok {
		res = "success"
	}
	e.probes.WithLabelValues(name, res).Inc()
	e.probeDur.WithLabelValues(name).Observe(took.Seconds())
	e.logger.Info("exporter: probe", "target", target, "kind", kind.String(), "module", name, "success", ok, "duration", took.Round(time.Millisecond))
	promhttp.HandlerFor(pm.reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// claim records a probe of key starting now, or returns how long until
// one may start (--min-interval).
func (e *exporter) claim(key string) time.Duration {
	if e.minInterval <= 0 {
		return 0
	}
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if t, ok := e.last[key]; ok && now.Sub(t) < e.minInterval {
		return e.minInterval - now.Sub(t)
	}
	e.last[key] = now
	// Forget keys whose interval passed, so the map stays as small as
	// the set of targets probed lately.
	for k, t := range e.last {
		if now.Sub(t) >= e.minInterval {
			delete(e.last, k)
		}
	}
	return 0
}

// cache is the document cache of module name, shared by its probes.
func (e *exporter) cache(name string) *discover.MemCache {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.caches == nil {
		e.caches = map[string]*discover.MemCache{}
	}
	c := e.caches[name]
	if c == nil {
		c = &discover.MemCache{}
		e.caches[name] = c
	}
	return c
}

// unclaim forgets the probe of key that claim recorded.
func (e *exporter) unclaim(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.last, key)
}

// acquire takes a probe slot, waiting until ctx ends.
func (e *exporter) acquire(ctx context.Context) bool {
	select {
	case e.slots <- struct{}{}:
		e.inFlight.Inc()
		return true
	default:
	}
	e.waiting.Inc()
	defer e.waiting.Dec()
	if e.onWait != nil {
		e.onWait()
	}
	select {
	case e.slots <- struct{}{}:
		e.inFlight.Inc()
		return true
	case <-ctx.Done():
		return false
	}
}

func (e *exporter) release() {
	e.inFlight.Dec()
	<-e.slots
}

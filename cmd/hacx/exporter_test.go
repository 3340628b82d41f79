package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/testbed"
)

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseMetrics reads the Prometheus text format (what promhttp writes:
// one sample per line, label values quoted with \\, \" and \n escapes).
func parseMetrics(t *testing.T, text string) []sample {
	t.Helper()
	var out []sample
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s := sample{labels: map[string]string{}}
		i := strings.IndexAny(line, "{ ")
		s.name, line = line[:i], line[i:]
		if line[0] == '{' {
			line = line[1:]
			for line[0] != '}' {
				eq := strings.Index(line, `="`)
				key := line[:eq]
				line = line[eq+2:]
				var v strings.Builder
				for j := 0; ; j++ {
					c := line[j]
					if c == '\\' {
						j++
						if line[j] == 'n' {
							v.WriteByte('\n')
						} else {
							v.WriteByte(line[j])
						}
						continue
					}
					if c == '"' {
						line = line[j+1:]
						break
					}
					v.WriteByte(c)
				}
				s.labels[key] = v.String()
				line = strings.TrimPrefix(line, ",")
			}
			line = line[1:]
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			t.Fatalf("bad sample value in %q", line)
		}
		s.value = v
		out = append(out, s)
	}
	return out
}

// find returns the samples of name whose labels include want.
func find(ss []sample, name string, want map[string]string) []sample {
	var out []sample
	for _, s := range ss {
		if s.name != name {
			continue
		}
		ok := true
		for k, v := range want {
			ok = ok && s.labels[k] == v
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

// value is the one sample of name with labels want, failing otherwise.
func value(t *testing.T, ss []sample, name string, want map[string]string) float64 {
	t.Helper()
	got := find(ss, name, want)
	if len(got) != 1 {
		t.Fatalf("%d samples of %s%v, want 1", len(got), name, want)
	}
	return got[0].value
}

// expWorld is a loopback world for the exporter: a DNS server, a
// publisher that answers for every name, and a dial function that takes
// the guard's checked connections there (the publisher stands in for
// port 443 of whatever address a name has) or to the address itself.
type expWorld struct {
	t     *testing.T
	ca    *hacxtest.CA
	cert  *tls.Certificate
	dns   *testbed.DNSServer
	pub   *hacxtest.Publisher
	mu    sync.Mutex
	docs  map[string]http.Handler // by host
	dials []string                // every address the guard let through
	// block, when set, is called for route dials (not :443) before they go.
	block func(addr string)
}

func newExpWorld(t *testing.T, names ...string) *expWorld {
	t.Helper()
	w := &expWorld{t: t, docs: map[string]http.Handler{}}
	var err error
	if w.ca, err = hacxtest.NewCA("exporter"); err != nil {
		t.Fatal(err)
	}
	if w.cert, err = w.ca.IssueValid(time.Now().Add(-time.Hour), time.Now().Add(60*24*time.Hour), names...); err != nil {
		t.Fatal(err)
	}
	if w.dns, err = testbed.NewDNSServer(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.dns.Close() })
	w.pub, err = hacxtest.StartPublisher("127.0.0.1:0", w.cert, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		h := w.docs[r.Host]
		w.mu.Unlock()
		if h == nil {
			http.NotFound(rw, r)
			return
		}
		h.ServeHTTP(rw, r)
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.pub.Close() })
	return w
}

// publish serves doc as host's xmpp-client.xml, and points host at ip.
func (w *expWorld) publish(host, ip, doc string) {
	w.t.Helper()
	w.mu.Lock()
	w.docs[host] = http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/xmpp-client.xml" {
			http.NotFound(rw, r)
			return
		}
		rw.Header().Set("Content-Type", "application/xml")
		io.WriteString(rw, doc)
	})
	w.mu.Unlock()
	w.addr(host, ip)
}

func (w *expWorld) addr(host, ip string) {
	w.t.Helper()
	typ := "A"
	if strings.Contains(ip, ":") {
		typ = "AAAA"
	}
	if err := w.dns.Add(fmt.Sprintf("%s. 60 IN %s %s", host, typ, ip)); err != nil {
		w.t.Fatal(err)
	}
}

func (w *expWorld) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	w.mu.Lock()
	w.dials = append(w.dials, addr)
	block := w.block
	w.mu.Unlock()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("test: the guard passed %q, not an ip:port", addr)
	}
	if ap.Port() == 443 {
		addr = w.pub.Addr.String()
	} else if block != nil {
		block(addr)
	}
	if !ap.Addr().IsLoopback() && ap.Port() != 443 {
		return nil, fmt.Errorf("test: %s is outside the test", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (w *expWorld) dialed() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.dials)
}

// exporter is an exporter of the world: its DNS server, its CA, its
// dial behind the guard, everything it is given allowed.
func (w *expWorld) exp(cfg *exporterConfig) *exporter {
	if cfg == nil {
		cfg = &exporterConfig{Modules: map[string]*probeModule{"default": defaultModule()}}
	}
	e := newExporter(cfg, 4)
	e.roots, e.resolver, e.innerDial, e.anyTarget, e.allowPrivate = w.ca.Pool(), w.dns.Addr, w.dial, true, true
	return e
}

// get requests path from e's handler.
func get(t *testing.T, e *exporter, path string, header ...string) (int, http.Header, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.handler().ServeHTTP(rec, req)
	return rec.Code, rec.Header(), rec.Body.String()
}

func probe(t *testing.T, e *exporter, query string) []sample {
	t.Helper()
	code, _, body := get(t, e, "/probe?"+query)
	if code != http.StatusOK {
		t.Fatalf("/probe?%s: HTTP %d: %s", query, code, body)
	}
	return parseMetrics(t, body)
}

// startXMPPAt is a good direct-TLS endpoint for the world's domains.
func (w *expWorld) startXMPP(ip string) netip.AddrPort {
	w.t.Helper()
	s, err := hacxtest.StartXMPP(ip+":0", w.cert, hacxtest.XMPPConfig{})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { s.Close() })
	return s.Addr()
}

func TestExporter_ProbeMetrics(t *testing.T) {
	w := newExpWorld(t, "example.test")
	good := w.startXMPP("127.0.0.2")
	dead := refused(t)
	pin := `<public-key-pin sha-256="` + hacx.EncodeDigest(hacx.KeySHA256(w.cert.Leaf)) + `"/>`
	w.publish("example.test", "127.0.0.1", fmt.Sprintf(`<hacx ttl="600">
  <tls ip="%[1]s" port="%[2]d" priority="1" sni="example.test" alpn="eG1wcC1jbGllbnQ="/>
  <tls ip="%[3]s" port="%[4]d" priority="2"/>
  <tls ip="%[1]s" port="%[2]d" priority="3">%[5]s</tls>
</hacx>`, good.Addr(), good.Port(), dead.Addr(), dead.Port(), pin))
	e := w.exp(nil)
	ss := probe(t, e, "target=example.test")

	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"hacx_probe_success", nil, 1},
		{"hacx_probe_routes", nil, 3},
		{"hacx_probe_routes_working", nil, 2},
		{"hacx_probe_result", map[string]string{"result": "partial"}, 1},
		{"hacx_source_found", map[string]string{"source": "hacx", "query": "https://example.test/.well-known/xmpp-client.xml"}, 1},
		{"hacx_source_fresh", map[string]string{"source": "hacx"}, 1},
		{"hacx_source_status", map[string]string{"source": "hacx", "status": "found"}, 1},
		{"hacx_source_status", map[string]string{"source": "srv", "status": "skipped"}, 1},
		{"hacx_source_routes", map[string]string{"source": "hacx"}, 3},
		{"hacx_document_ttl_seconds", nil, 600},
		{"hacx_route_up", map[string]string{"source": "hacx", "index": "1", "method": "tls", "address": good.String()}, 1},
		{"hacx_route_up", map[string]string{"index": "2", "address": dead.String()}, 0},
		{"hacx_route_up", map[string]string{"index": "3"}, 1},
		{"hacx_route_phase_reached", map[string]string{"index": "1"}, 6},
		{"hacx_route_phase_reached", map[string]string{"index": "2"}, 1},
		{"hacx_route_verified", map[string]string{"index": "1", "by": "webpki"}, 1},
		{"hacx_route_verified", map[string]string{"index": "3", "by": "pin"}, 1},
		{"hacx_route_pin", map[string]string{"index": "1", "result": "none"}, 1},
		{"hacx_route_pin", map[string]string{"index": "3", "result": "match"}, 1},
		{"hacx_route_info", map[string]string{"index": "1", "sni": "example.test", "alpn": "xmpp-client", "priority": "1", "weight": "0"}, 1},
		{"hacx_route_info", map[string]string{"index": "2", "sni": "", "alpn": ""}, 1},
		{"hacx_route_tls_info", map[string]string{"index": "1", "version": "TLS 1.3"}, 1},
		{"hacx_route_cert_expiry_timestamp_seconds", map[string]string{"index": "1"}, float64(w.cert.Leaf.NotAfter.Unix())},
	} {
		if got := value(t, ss, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if age := value(t, ss, "hacx_source_age_seconds", map[string]string{"source": "hacx"}); age < 0 || age > 60 {
		t.Errorf("hacx_source_age_seconds = %v, want the moments since the fetch", age)
	}
	for _, m := range []string{"hacx_route_connect_seconds", "hacx_route_tls_seconds", "hacx_route_stream_seconds", "hacx_route_duration_seconds"} {
		if v := value(t, ss, m, map[string]string{"index": "1"}); v <= 0 || v > 10 {
			t.Errorf("%s = %v", m, v)
		}
	}
	if len(find(ss, "hacx_route_tls_seconds", map[string]string{"index": "2"})) != 0 {
		t.Error("a route refused at TCP has a TLS time")
	}
	if d := value(t, ss, "hacx_probe_duration_seconds", nil); d <= 0 {
		t.Errorf("hacx_probe_duration_seconds = %v", d)
	}

	_, _, own := get(t, e, "/metrics")
	mine := parseMetrics(t, own)
	if v := value(t, mine, "hacx_exporter_probes_total", map[string]string{"module": "default", "result": "success"}); v != 1 {
		t.Errorf("hacx_exporter_probes_total = %v", v)
	}
	if len(find(mine, "go_goroutines", nil)) != 1 {
		t.Error("/metrics lacks the Go runtime's metrics")
	}
}

// TestExporter_SSRFGuard: a published document decides where a probe
// connects. Without --allow-private a document whose routes lead to
// loopback, private, link-local, unique local or IPv4-mapped loopback
// addresses is probed without a single connection there, and so is a domain whose
// web host, or the host it redirects to, has such an address; the same
// world with --allow-private reaches the loopback route, so the guard is
// what refused.
func TestExporter_SSRFGuard(t *testing.T) {
	const public = "93.184.215.14" // stands for the publisher's public address
	w := newExpWorld(t, "routes.test", "inside.test", "redirect.test")
	good := w.startXMPP("127.0.0.2")
	w.publish("routes.test", public, fmt.Sprintf(`<hacx ttl="600">
  <tls ip="%s" port="%d" priority="1"/>
  <tls ip="10.0.0.1" port="5223" priority="2"/>
  <tls ip="169.254.169.254" port="80" priority="3"/>
  <tls ip="fe80::1" port="5223" priority="4"/>
  <tls ip="::ffff:127.0.0.1" port="5223" priority="5"/>
  <tls ip="fd00::1" port="5223" priority="6"/>
</hacx>`, good.Addr(), good.Port()))
	w.publish("inside.test", "127.0.0.1", `<hacx><tls ip="127.0.0.2" port="5223" priority="1"/></hacx>`)
	w.mu.Lock()
	w.docs["redirect.test"] = http.RedirectHandler("https://inside.test/.well-known/xmpp-client.xml", http.StatusFound)
	w.mu.Unlock()
	w.addr("redirect.test", public)

	e := w.exp(nil)
	e.allowPrivate = false
	ss := probe(t, e, "target=routes.test")
	if v := value(t, ss, "hacx_probe_success", nil); v != 0 {
		t.Errorf("hacx_probe_success = %v, want 0", v)
	}
	if v := value(t, ss, "hacx_probe_routes", nil); v != 6 {
		t.Errorf("hacx_probe_routes = %v, want 6", v)
	}
	for _, s := range find(ss, "hacx_route_phase_reached", nil) {
		if s.value != 1 {
			t.Errorf("route %v got to phase %v: it was connected", s.labels, s.value)
		}
	}
	if got := w.dialed(); !slices.Equal(got, []string{public + ":443"}) {
		t.Errorf("connections let through: %q, want the public web host's only", got)
	}
	blocked := func(what string) float64 {
		_, _, own := get(t, e, "/metrics")
		return value(t, parseMetrics(t, own), "hacx_exporter_blocked_connections_total", map[string]string{"what": what})
	}
	if r, f := blocked("route"), blocked("fetch"); r != 6 || f != 0 {
		t.Errorf("blocked routes %v, fetches %v; want 6 and 0", r, f)
	}

	// The web host itself inside, or a redirect there: the fetch is
	// refused. (The RFC 6120 fallback then tries the domain's own address,
	// F1: the public one is dialed, the inside one is not.)
	for _, target := range []string{"inside.test", "redirect.test"} {
		ss = probe(t, e, "target="+target)
		if v := value(t, ss, "hacx_source_status", map[string]string{"source": "hacx", "status": "error"}); v != 1 {
			t.Errorf("%s: hacx source not an error", target)
		}
	}
	for _, d := range w.dialed() {
		if ap := netip.MustParseAddrPort(d); specialPurpose(ap.Addr()) != "" {
			t.Errorf("connected to %s", d)
		}
	}
	// Three HTTPS sources each (HACX, host-meta.json, host-meta), all
	// inside or redirected there.
	if f := blocked("fetch"); f != 6 {
		t.Errorf("blocked fetches %v, want 6", f)
	}

	// The control: allowed, the loopback route works.
	e = w.exp(nil)
	ss = probe(t, e, "target=routes.test")
	if v := value(t, ss, "hacx_route_up", map[string]string{"address": good.String()}); v != 1 {
		t.Errorf("with --allow-private the loopback route is not up")
	}
}

func TestSpecialPurpose(t *testing.T) {
	for _, tt := range []struct {
		ip   string
		want string // a word of the reason, "" for public
	}{
		{"127.0.0.1", "loopback"}, {"10.1.2.3", "private"}, {"172.31.0.1", "private"}, {"192.168.1.1", "private"},
		{"100.64.0.1", "shared"}, {"169.254.169.254", "link-local"}, {"0.0.0.0", "this network"},
		{"192.0.2.1", "documentation"}, {"224.0.0.1", "multicast"}, {"255.255.255.255", "reserved"},
		{"::1", "loopback"}, {"::", "unspecified"}, {"fe80::1%eth0", "link-local"}, {"fd12::1", "unique local"},
		{"::ffff:10.0.0.1", "private"}, {"64:ff9b::a00:1", "private"}, {"2001:db8::1", "documentation"},
		{"ff02::1", "multicast"}, {"2002:c000:201::1", "6to4"},
		{"93.184.215.14", ""}, {"1.1.1.1", ""}, {"2a00:1450:4001::1", ""}, {"::ffff:93.184.215.14", ""},
		{"64:ff9b::5db8:d70e", ""},
	} {
		got := specialPurpose(netip.MustParseAddr(tt.ip))
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("specialPurpose(%s) = %q, want %q", tt.ip, got, tt.want)
		}
	}
}

// TestSSRFGuard_NameResolvedThenChecked: a name with a private and a
// public address is dialed at the public one only, by address; one with
// private addresses only is not dialed at all.
func TestSSRFGuard_NameResolvedThenChecked(t *testing.T) {
	var dialed []string
	g := &ssrfGuard{
		lookup: func(_ context.Context, host string) ([]netip.Addr, error) {
			return map[string][]netip.Addr{
				"mixed.test":  {netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("93.184.215.14")},
				"inside.test": {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")},
			}[host], nil
		},
		dial: func(_ context.Context, _, addr string) (net.Conn, error) {
			dialed = append(dialed, addr)
			return nil, fmt.Errorf("test: not connecting")
		},
	}
	g.DialContext(context.Background(), "tcp", "mixed.test:443")
	_, err := g.DialContext(context.Background(), "tcp", "inside.test:443")
	if !slices.Equal(dialed, []string{"93.184.215.14:443"}) {
		t.Errorf("dialed %q", dialed)
	}
	if err == nil || !strings.Contains(err.Error(), "refused to connect to inside.test:443 (127.0.0.1): loopback") {
		t.Errorf("error %v", err)
	}
	g.allowPrivate = true
	dialed = nil
	g.DialContext(context.Background(), "tcp", "inside.test:443")
	if !slices.Equal(dialed, []string{"127.0.0.1:443", "[::1]:443"}) {
		t.Errorf("with allowPrivate dialed %q", dialed)
	}
}

func TestExporter_RequestsRefused(t *testing.T) {
	w := newExpWorld(t, "example.test")
	cfg, err := parseExporterConfig([]byte("targets = [\"example.test\"]\n[module.s2s]\nkind = \"server\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := w.exp(cfg)
	e.anyTarget = false
	for _, tt := range []struct {
		query  string
		code   int
		reason string
	}{
		{"", 400, "bad-request"},
		{"target=http://example.test/", 400, "bad-request"},
		{"target=example.test&module=nope", 400, "bad-request"},
		{"target=example.test&kind=both", 400, "bad-request"},
		{"target=other.test", 403, "target"},
	} {
		code, _, body := get(t, e, "/probe?"+tt.query)
		if code != tt.code {
			t.Errorf("/probe?%s: HTTP %d (%s), want %d", tt.query, code, strings.TrimSpace(body), tt.code)
		}
	}
	_, _, own := get(t, e, "/metrics")
	mine := parseMetrics(t, own)
	if v := value(t, mine, "hacx_exporter_probes_refused_total", map[string]string{"reason": "bad-request"}); v != 4 {
		t.Errorf("refused bad-request = %v, want 4", v)
	}
	if v := value(t, mine, "hacx_exporter_probes_refused_total", map[string]string{"reason": "target"}); v != 1 {
		t.Errorf("refused target = %v, want 1", v)
	}
	// A listed target is probed, with the module's kind.
	w.publish("example.test", "127.0.0.1", `<hacx/>`)
	ss := probe(t, e, "target=Example.Test.&module=s2s")
	if v := value(t, ss, "hacx_source_found", map[string]string{"source": "hacx", "query": "https://example.test/.well-known/xmpp-server.xml"}); v != 0 {
		t.Errorf("the s2s module did not fetch xmpp-server.xml")
	}
}

// TestExporter_RateLimitPerTarget: a second probe of a target with the
// same module and kind within --min-interval is refused with 429 and
// Retry-After; other targets, modules and kinds are not held back, and
// after the interval the target is probed again.
func TestExporter_RateLimitPerTarget(t *testing.T) {
	w := newExpWorld(t, "a.test", "b.test")
	w.publish("a.test", "127.0.0.1", `<hacx/>`)
	w.publish("b.test", "127.0.0.1", `<hacx/>`)
	cfg, _ := parseExporterConfig([]byte("[module.other]\n"))
	e := w.exp(cfg)
	// The clock is read by what a probe left running (a TLSA lookup
	// ending after the probe's answer) while the test moves it.
	var clock atomic.Int64
	clock.Store(time.Unix(1_800_000_000, 0).UnixNano())
	e.now = func() time.Time { return time.Unix(0, clock.Load()) }
	e.minInterval = 30 * time.Second
	status := func(q string) (int, string) {
		code, h, _ := get(t, e, "/probe?"+q)
		return code, h.Get("Retry-After")
	}
	if code, _ := status("target=a.test"); code != 200 {
		t.Fatalf("first probe: HTTP %d", code)
	}
	clock.Add(int64(10 * time.Second))
	if code, retry := status("target=a.test"); code != 429 || retry != "20" {
		t.Errorf("second probe 10 s later: HTTP %d, Retry-After %q; want 429, 20", code, retry)
	}
	for _, q := range []string{"target=b.test", "target=a.test&module=other", "target=a.test&kind=server"} {
		if code, _ := status(q); code != 200 {
			t.Errorf("%s: HTTP %d, want 200", q, code)
		}
	}
	clock.Add(int64(20 * time.Second))
	if code, _ := status("target=a.test"); code != 200 {
		t.Errorf("after the interval: HTTP %d", code)
	}
	_, _, own := get(t, e, "/metrics")
	if v := value(t, parseMetrics(t, own), "hacx_exporter_probes_refused_total", map[string]string{"reason": "rate-limit"}); v != 1 {
		t.Errorf("refused rate-limit = %v, want 1", v)
	}
}

// TestExporter_ConcurrentProbes: with --max-probes 2, four probes at once
// run two at a time: two reach their route while two wait for a slot,
// then all four finish with their own result. A probe whose scrape
// timeout passes while waiting gets 503.
func TestExporter_ConcurrentProbes(t *testing.T) {
	names := []string{"c1.test", "c2.test", "c3.test", "c4.test"}
	w := newExpWorld(t, names...)
	good := w.startXMPP("127.0.0.2")
	for _, n := range names {
		w.publish(n, "127.0.0.1", fmt.Sprintf(`<hacx><tls ip="%s" port="%d" priority="1"/></hacx>`, good.Addr(), good.Port()))
	}
	entered, release := make(chan string, 8), make(chan struct{})
	w.block = func(addr string) {
		entered <- addr
		<-release
	}
	e := w.exp(nil)
	e.slots = make(chan struct{}, 2)
	e.minInterval = time.Hour
	waiting := make(chan struct{}, 8)
	e.onWait = func() { waiting <- struct{}{} }

	type res struct {
		target string
		code   int
		body   string
	}
	results := make(chan res, len(names))
	for _, n := range names {
		go func() {
			code, _, body := get(t, e, "/probe?target="+n)
			results <- res{n, code, body}
		}()
	}
	<-entered
	<-entered
	<-waiting
	<-waiting
	_, _, own := get(t, e, "/metrics")
	mine := parseMetrics(t, own)
	if in, wt := value(t, mine, "hacx_exporter_probes_in_flight", nil), value(t, mine, "hacx_exporter_probes_waiting", nil); in != 2 || wt != 2 {
		t.Errorf("in flight %v, waiting %v; want 2 and 2", in, wt)
	}
	// No third probe reached a route while two held the slots.
	select {
	case a := <-entered:
		t.Errorf("a third probe connected to %s while two were running", a)
	default:
	}

	// A fifth probe with a short scrape timeout gives up waiting.
	code, _, _ := get(t, e, "/probe?target=c5.test", "X-Prometheus-Scrape-Timeout-Seconds", "0.6")
	if code != http.StatusServiceUnavailable {
		t.Errorf("a probe that found no slot in time: HTTP %d, want 503", code)
	}

	close(release)
	for range names {
		r := <-results
		if r.code != 200 {
			t.Errorf("%s: HTTP %d: %s", r.target, r.code, r.body)
			continue
		}
		if v := value(t, parseMetrics(t, r.body), "hacx_probe_success", nil); v != 1 {
			t.Errorf("%s: hacx_probe_success = %v", r.target, v)
		}
	}
	// The probe that never ran does not count against the rate limit.
	if code, _, body := get(t, e, "/probe?target=c5.test"); code != http.StatusOK {
		t.Errorf("c5.test again after a 503: HTTP %d (%s), want 200", code, strings.TrimSpace(body))
	}
	_, _, own = get(t, e, "/metrics")
	mine = parseMetrics(t, own)
	if v := value(t, mine, "hacx_exporter_probes_total", map[string]string{"module": "default", "result": "success"}); v != 4 {
		t.Errorf("probes_total success = %v, want 4", v)
	}
	if v := value(t, mine, "hacx_exporter_probes_refused_total", map[string]string{"reason": "busy"}); v != 1 {
		t.Errorf("refused busy = %v, want 1", v)
	}
}

// TestExporter_AuditModule: a module with audit = true adds the findings
// of hacx check --audit, one series per check.
func TestExporter_AuditModule(t *testing.T) {
	w := newExpWorld(t, "example.test")
	good := w.startXMPP("127.0.0.2")
	w.publish("example.test", "127.0.0.1", fmt.Sprintf(`<hacx><tls ip="%s" port="%d" priority="1"/></hacx>`, good.Addr(), good.Port()))
	cfg, err := parseExporterConfig([]byte("[module.audit]\naudit = true\n"))
	if err != nil {
		t.Fatal(err)
	}
	ss := probe(t, w.exp(cfg), "target=example.test&module=audit")
	for _, c := range []struct {
		check, rule string
		want        float64
	}{{"ttl-range", "H5", 1}, {"hsts-missing", "X5", 1}, {"address-family", "A1", 1}, {"sources-disagree", "P6", 0}, {"cert-expiry", "P7", 0}} {
		if v := value(t, ss, "hacx_audit_findings", map[string]string{"check": c.check, "rule": c.rule}); v != c.want {
			t.Errorf("hacx_audit_findings{check=%q} = %v, want %v", c.check, v, c.want)
		}
	}
	if n := len(find(ss, "hacx_audit_findings", nil)); n != len(auditChecks) {
		t.Errorf("%d hacx_audit_findings series, want one per check (%d)", n, len(auditChecks))
	}
	if v := value(t, ss, "hacx_document_cert_expiry_timestamp_seconds", nil); v != float64(w.cert.Leaf.NotAfter.Unix()) {
		t.Errorf("hacx_document_cert_expiry_timestamp_seconds = %v", v)
	}
	if v := value(t, ss, "hacx_probe_success", nil); v != 1 {
		t.Errorf("hacx_probe_success = %v", v)
	}
}

// TestExporter_CacheModule_H5: with cache = true probes keep the document
// for its ttl as a client does: within it nothing is fetched and the age
// grows; after it a failed refetch leaves the stale copy in use, which
// hacx_source_fresh 0 reports while the routes still work.
func TestExporter_CacheModule_H5(t *testing.T) {
	w := newExpWorld(t, "example.test")
	good := w.startXMPP("127.0.0.2")
	w.publish("example.test", "127.0.0.1", fmt.Sprintf(`<hacx ttl="60"><tls ip="%s" port="%d" priority="1"/></hacx>`, good.Addr(), good.Port()))
	cfg, err := parseExporterConfig([]byte("[module.client]\ncache = true\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := w.exp(cfg)
	// Read by what a probe left running while the test moves it.
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	e.now = func() time.Time { return time.Unix(0, clock.Load()) }
	hacxSrc := map[string]string{"source": "hacx"}
	fetches := func() int {
		n := 0
		for _, d := range w.dialed() {
			if strings.HasSuffix(d, ":443") {
				n++
			}
		}
		return n
	}

	probe(t, e, "target=example.test&module=client")
	clock.Add(int64(30 * time.Second))
	before := fetches()
	ss := probe(t, e, "target=example.test&module=client")
	if fetches() != before {
		t.Error("a probe within the ttl fetched the document")
	}
	if age, fresh := value(t, ss, "hacx_source_age_seconds", hacxSrc), value(t, ss, "hacx_source_fresh", hacxSrc); age != 30 || fresh != 1 {
		t.Errorf("within the ttl: age %v, fresh %v; want 30 and 1", age, fresh)
	}

	w.mu.Lock()
	w.docs["example.test"] = http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { http.Error(rw, "down", 500) })
	w.mu.Unlock()
	clock.Add(int64(90 * time.Second))
	ss = probe(t, e, "target=example.test&module=client")
	if fresh, found := value(t, ss, "hacx_source_fresh", hacxSrc), value(t, ss, "hacx_source_found", hacxSrc); fresh != 0 || found != 1 {
		t.Errorf("after a failed refetch: fresh %v, found %v; want 0 and 1", fresh, found)
	}
	if age := value(t, ss, "hacx_source_age_seconds", hacxSrc); age != 120 {
		t.Errorf("stale copy's age %v, want 120", age)
	}
	if v := value(t, ss, "hacx_probe_success", nil); v != 1 {
		t.Errorf("hacx_probe_success = %v: the stale copy's route works", v)
	}
	// The default module, without a cache, sees the failure itself.
	ss = probe(t, e, "target=example.test")
	if v := value(t, ss, "hacx_source_status", map[string]string{"source": "hacx", "status": "error"}); v != 1 {
		t.Errorf("without a cache the hacx source is not an error")
	}
}

package serve

// Benchmarks of the gateway against what it replaces, each ratio measured
// in one run (see bench/README.md):
//
//	go test -run '^$' -bench Gateway -benchtime=1x ./serve
//
// BenchmarkGatewayProsody: messages per second and round-trip time of one
// client through the gateway (plain upstream with mod_hacx_gateway, and a
// tls:// upstream) against the same client on Prosody's own direct-TLS
// port. BenchmarkGatewayHandshakes: TLS handshakes per second, and server
// CPU per handshake, of "hacx serve" against nginx's stream module
// terminating TLS with the same certificate, both in front of the same
// upstream.

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
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
	"hacx.dev/hacx/xmppstream"
)

// benchClient is the smallest c2s client that logs in to a real server
// over direct TLS: SASL PLAIN, a restart, resource binding, then messages
// to its own full JID.
type benchClient struct {
	c      *tls.Conn
	sp     *xmppstream.Splitter
	domain string
	jid    string
}

func dialBenchClient(addr, domain, user, pass string, cfg *tls.Config) (*benchClient, error) {
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	x := &benchClient{c: c, sp: xmppstream.NewSplitter(c, 0), domain: domain}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	defer c.SetDeadline(time.Time{})
	cred := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
	steps := []func() error{
		x.open,
		func() error { return x.want("features") },
		func() error {
			return x.send([]byte("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + cred + "</auth>"))
		},
		func() error { return x.want("success") },
		x.open,
		func() error { return x.want("features") },
		func() error {
			return x.send([]byte("<iq type='set' id='bind1' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench</resource></bind></iq>"))
		},
		func() error {
			tok, err := x.next()
			if err != nil {
				return err
			}
			var iq struct {
				JID string `xml:"bind>jid"`
			}
			if err := xml.Unmarshal(tok.Raw, &iq); err != nil || iq.JID == "" {
				return fmt.Errorf("bind result %q: %v", tok.Raw, err)
			}
			x.jid = iq.JID
			return nil
		},
	}
	for i, step := range steps {
		if err := step(); err != nil {
			c.Close()
			return nil, fmt.Errorf("login step %d: %w", i, err)
		}
	}
	return x, nil
}

func (x *benchClient) open() error {
	if err := xmppstream.WriteOpen(x.c, x.domain, hacx.Client); err != nil {
		return err
	}
	tok, err := x.next()
	if err == nil && tok.Kind != xmppstream.TokenOpen {
		err = fmt.Errorf("want a stream header, got %q", tok.Raw)
	}
	return err
}

func (x *benchClient) send(elems ...[]byte) error {
	bufs := net.Buffers(elems)
	_, err := bufs.WriteTo(x.c)
	return err
}

func (x *benchClient) next() (xmppstream.Token, error) {
	for {
		tok, err := x.sp.Next()
		if err != nil || tok.Kind != xmppstream.TokenSpace {
			return tok, err
		}
	}
}

func (x *benchClient) want(local string) error {
	tok, err := x.next()
	if err == nil && (tok.Kind != xmppstream.TokenElement || tok.Name.Local != local) {
		err = fmt.Errorf("want <%s>, got %q", local, tok.Raw)
	}
	return err
}

func (x *benchClient) message(i int) []byte {
	return fmt.Appendf(nil, "<message to='%s' type='chat' id='m%d' xmlns='jabber:client'><body>benchmark message %d: the quick brown fox jumps over the lazy dog</body></message>", x.jid, i, i)
}

func (x *benchClient) readMessages(n int) error {
	for got := 0; got < n; {
		tok, err := x.next()
		if err != nil {
			return fmt.Errorf("after %d of %d messages: %w", got, n, err)
		}
		if tok.Kind == xmppstream.TokenElement && tok.Name.Local == "message" {
			got++
		}
	}
	return nil
}

// throughput sends n messages to itself in batches of about 8 KiB while
// reading them back, and returns messages per second.
func (x *benchClient) throughput(n int) (float64, error) {
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		var batch [][]byte
		size := 0
		for i := range n {
			m := x.message(i)
			batch, size = append(batch, m), size+len(m)
			if size > 8<<10 || i == n-1 {
				if err := x.send(batch...); err != nil {
					errc <- err
					return
				}
				batch, size = nil, 0
			}
		}
		errc <- nil
	}()
	if err := x.readMessages(n); err != nil {
		return 0, err
	}
	if err := <-errc; err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// roundTrip is the mean time for one message to come back, one at a time.
func (x *benchClient) roundTrip(n int) (time.Duration, error) {
	start := time.Now()
	for i := range n {
		if err := x.send(x.message(i)); err != nil {
			return 0, err
		}
		if err := x.readMessages(1); err != nil {
			return 0, err
		}
	}
	return time.Since(start) / time.Duration(n), nil
}

func (x *benchClient) close() {
	io.WriteString(x.c, "</stream:stream>")
	x.c.Close()
}

// BenchmarkGatewayProsody: the gateway's cost on a logged-in stream, goal
// at least 0.9 of Prosody's own direct-TLS port in messages per second.
func BenchmarkGatewayProsody(b *testing.B) {
	if err := testbed.ProsodyAvailable(); err != nil {
		b.Skip(err)
	}
	const domain = "gwbench.test"
	ca, err := hacxtest.NewCA("gateway bench")
	if err != nil {
		b.Fatal(err)
	}
	cert, err := ca.Issue(domain)
	if err != nil {
		b.Fatal(err)
	}
	snippet, err := os.ReadFile("../examples/prosody/hacx-gateway.cfg.lua")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p, err := testbed.StartProsody(ctx, testbed.ProsodyConfig{Domain: domain, IP: "127.0.0.61", Cert: cert,
		GatewaySnippet: string(snippet), PluginFiles: []string{"../examples/prosody/mod_hacx_gateway.lua"}, Modules: []string{"hacx_gateway"}})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	if err := p.Register(ctx, "alice", "secret"); err != nil {
		b.Fatal(err)
	}
	plain := startBenchGateway(b, ca, domain, &Upstream{C2S: p.StartTLSAddr.String()})
	reenc := startBenchGateway(b, ca, domain, &Upstream{C2S: "tls://" + p.TLSAddr.String(), RootCAs: ca.Pool()})

	cfg := &tls.Config{ServerName: domain, RootCAs: ca.Pool()}
	alpn := &tls.Config{ServerName: domain, RootCAs: ca.Pool(), NextProtos: []string{"xmpp-client"}}
	paths := []struct {
		name string
		addr string
		cfg  *tls.Config
	}{
		{"direct", p.TLSAddr.String(), cfg},
		{"gateway", plain, alpn},
		{"gateway-tls", reenc, alpn},
	}
	// Rounds alternate the paths, so that the machine's other load falls
	// on all of them; the median of each is reported.
	const msgs, rtts, rounds = 10000, 1000, 5
	rates := map[string][]float64{}
	rtrips := map[string][]float64{}
	for range b.N {
		for round := range rounds {
			for _, pt := range paths {
				x, err := dialBenchClient(pt.addr, domain, "alice", "secret", pt.cfg)
				if err != nil {
					b.Fatalf("%s: %v\n%s", pt.name, err, p.Log())
				}
				rate, err := x.throughput(msgs)
				if err != nil {
					b.Fatalf("%s: %v", pt.name, err)
				}
				d, err := x.roundTrip(rtts)
				if err != nil {
					b.Fatalf("%s: %v", pt.name, err)
				}
				x.close()
				b.Logf("round %d %-12s %8.0f msg/s  round trip %v", round+1, pt.name, rate, d)
				rates[pt.name] = append(rates[pt.name], rate)
				rtrips[pt.name] = append(rtrips[pt.name], float64(d))
			}
		}
	}
	best := map[string]float64{}
	rtt := map[string]time.Duration{}
	for _, pt := range paths {
		best[pt.name] = median(rates[pt.name])
		rtt[pt.name] = time.Duration(median(rtrips[pt.name]))
	}
	for _, pt := range paths {
		b.ReportMetric(best[pt.name], pt.name+"-msg/s")
		b.ReportMetric(float64(rtt[pt.name].Microseconds()), pt.name+"-rtt-µs")
	}
	b.ReportMetric(best["gateway"]/best["direct"], "ratio-msg/s")
	b.ReportMetric(best["gateway-tls"]/best["direct"], "ratio-tls-msg/s")
	b.Logf("gateway/direct: %.2f messages per second (goal >= 0.9), round trip +%v; tls:// upstream: %.2f, +%v",
		best["gateway"]/best["direct"], rtt["gateway"]-rtt["direct"], best["gateway-tls"]/best["direct"], rtt["gateway-tls"]-rtt["direct"])
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// startBenchGateway serves a gateway for domain in this process and
// returns its HTTPS address.
func startBenchGateway(b *testing.B, ca *hacxtest.CA, domain string, u *Upstream) string {
	b.Helper()
	dir := b.TempDir()
	writeCertFiles(b, ca, dir, domain)
	ln := listenOn(b, "127.0.0.62")
	cfg := &Config{Domains: []Domain{{Name: domain, Upstream: u}}, Gateway: Gateway{PublicIPs: []netip.Addr{netip.MustParseAddr("127.0.0.62")}}}
	s := &Server{Load: func() (*Config, error) { c := *cfg; return &c, nil }, PollInterval: -1,
		CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	b.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// BenchmarkGatewayHandshakes: new connections per second through "hacx
// serve" and through nginx's stream module terminating TLS with the same
// certificate, to the same upstream: TCP, a full TLS handshake (no
// resumption, X25519 and the same ECDSA P-256 key for both, each server
// with its default session tickets), the client's
// first bytes, one byte back from the upstream, close. Each server runs
// on one CPU (GOMAXPROCS=1, one nginx worker, both pinned to CPU 0 when
// taskset is there); its CPU time per connection is reported too. Goal:
// at least nginx's rate.
func BenchmarkGatewayHandshakes(b *testing.B) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/nginx"); err2 != nil {
			b.Skip("nginx is not installed")
		}
		nginx = "/usr/sbin/nginx"
	}
	const module = "/usr/lib/nginx/modules/ngx_stream_module.so"
	if _, err := os.Stat(module); err != nil {
		b.Skip("nginx's stream module is not installed (Debian: libnginx-mod-stream)")
	}
	const domain = "hsbench.test"
	ca, err := hacxtest.NewCA("handshake bench")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	writeCertFiles(b, ca, dir, domain)
	up := startEchoUpstream(b)

	bin := filepath.Join(dir, "hacx")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/hacx").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	pin := func(args ...string) *exec.Cmd {
		if tp, err := exec.LookPath("taskset"); err == nil {
			return exec.Command(tp, append([]string{"-c", "0"}, args...)...)
		}
		return exec.Command(args[0], args[1:]...)
	}

	gwAddr := freeAddr(b, "127.0.0.63")
	gw := pin(bin, "serve", "--domain", domain, "--c2s", up, "--public-ip", "127.0.0.63",
		"--cert", filepath.Join(dir, "cert.pem"), "--key", filepath.Join(dir, "key.pem"),
		"--listen", gwAddr, "--http-listen", "", "--poll", "0")
	gw.Env = append(os.Environ(), "GOMAXPROCS=1")
	gwLog := new(syncBuffer)
	gw.Stderr = gwLog
	startProc(b, gw, gwAddr)

	ngAddr := freeAddr(b, "127.0.0.64")
	conf := fmt.Sprintf(`load_module %s;
worker_processes 1;
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log;
%[3]s
events { worker_connections 4096; }
stream {
	server {
		listen %[4]s ssl;
		ssl_certificate %[2]s/cert.pem;
		ssl_certificate_key %[2]s/key.pem;
		ssl_protocols TLSv1.2 TLSv1.3;
		proxy_pass %[5]s;
	}
}
`, module, dir, rootUser(), ngAddr, up)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	ng := pin(nginx, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", confPath)
	startProc(b, ng, ngAddr)

	cfg := &tls.Config{ServerName: domain, RootCAs: ca.Pool(), NextProtos: []string{"xmpp-client"},
		CurvePreferences: []tls.CurveID{tls.X25519}, ClientSessionCache: nil}
	servers := []struct {
		name, addr string
		pid        func() []int
	}{
		{"hacx", gwAddr, func() []int { return []int{gw.Process.Pid} }},
		{"nginx", ngAddr, func() []int { return append([]int{ng.Process.Pid}, childPids(ng.Process.Pid)...) }},
	}
	const conns, dur, rounds = 32, 3 * time.Second, 3
	rate := map[string]float64{}
	cpu := map[string]time.Duration{}
	for range b.N {
		for round := range rounds {
			for _, sv := range servers {
				before := cpuTime(sv.pid())
				n, errs := hammer(sv.addr, cfg, conns, dur)
				used := cpuTime(sv.pid()) - before
				r := float64(n) / dur.Seconds()
				b.Logf("round %d %-6s %8.0f connections/s, %5.0f µs CPU each, %d errors", round+1, sv.name, r, float64(used.Microseconds())/float64(max(n, 1)), errs)
				if errs > n/100 {
					b.Fatalf("%s: %d errors for %d connections\n%s", sv.name, errs, n, gwLog)
				}
				if r > rate[sv.name] {
					rate[sv.name] = r
					cpu[sv.name] = used / time.Duration(max(n, 1))
				}
			}
		}
	}
	b.ReportMetric(rate["hacx"], "hacx-conn/s")
	b.ReportMetric(rate["nginx"], "nginx-conn/s")
	b.ReportMetric(rate["hacx"]/rate["nginx"], "ratio")
	b.ReportMetric(float64(cpu["hacx"].Microseconds()), "hacx-cpu-µs/conn")
	b.ReportMetric(float64(cpu["nginx"].Microseconds()), "nginx-cpu-µs/conn")
	b.Logf("hacx/nginx: %.2f connections per second (goal >= 1.0); CPU per connection %v vs %v", rate["hacx"]/rate["nginx"], cpu["hacx"], cpu["nginx"])
}

// hammer opens connections to addr from conns goroutines for dur and
// returns how many completed and how many failed.
func hammer(addr string, cfg *tls.Config, conns int, dur time.Duration) (ok, failed int) {
	var n, bad atomic.Int64
	stop := time.Now().Add(dur)
	hello := []byte("<?xml version='1.0'?><stream:stream to='hsbench.test' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64)
			for time.Now().Before(stop) {
				c, err := tls.Dial("tcp", addr, cfg)
				if err == nil {
					c.SetDeadline(time.Now().Add(10 * time.Second))
					if _, err = c.Write(hello); err == nil {
						_, err = c.Read(buf)
					}
					c.Close()
				}
				if err != nil {
					bad.Add(1)
				} else {
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return int(n.Load()), int(bad.Load())
}

// startEchoUpstream is the upstream of both servers: it answers each
// connection's first bytes with a stream header and reads to the end.
func startEchoUpstream(b *testing.B) string {
	ln := listenOn(b, "127.0.0.65")
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				if _, err := r.ReadByte(); err != nil {
					return
				}
				io.WriteString(c, "<stream:stream>")
				io.Copy(io.Discard, r)
			}()
		}
	}()
	return ln.Addr().String()
}

func freeAddr(b *testing.B, ip string) string {
	ln := listenOn(b, ip)
	defer ln.Close()
	return ln.Addr().String()
}

// startProc starts a server and waits until it accepts on addr.
func startProc(b *testing.B, cmd *exec.Cmd, addr string) {
	b.Helper()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(20 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s does not listen on %s", cmd.Path, addr)
		}
		time.Sleep(20 * time.Millisecond) // polling the port
	}
}

// rootUser keeps nginx's worker as root when we are root, so that it can
// read the benchmark's private directory.
func rootUser() string {
	if os.Geteuid() == 0 {
		return "user root;"
	}
	return ""
}

// childPids lists the children of pid (nginx's worker).
func childPids(pid int) []int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(data)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// cpuTime is the user and system time the processes used so far.
func cpuTime(pids []int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
	}
	return total
}

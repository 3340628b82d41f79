package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"hacx.dev/hacx"
)

// TestExporterConfig_Example: the shipped example loads, and says what it
// says in its comments.
func TestExporterConfig_Example(t *testing.T) {
	cfg, err := loadExporterConfig("../../examples/exporter.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Targets, []string{"example.org", "example.net"}) {
		t.Errorf("targets %q", cfg.Targets)
	}
	d, s2s, web, au := cfg.Modules["default"], cfg.Modules["s2s"], cfg.Modules["web"], cfg.Modules["audit"]
	if d == nil || s2s == nil || web == nil || au == nil {
		t.Fatalf("modules %v", cfg.Modules)
	}
	if d.Kind != hacx.Client || d.Timeout != 20*time.Second || d.FetchTimeout != 10*time.Second || d.ConnectTimeout != 5*time.Second ||
		d.HandshakeTimeout != 5*time.Second || d.StreamTimeout != 5*time.Second || !d.All || d.Audit {
		t.Errorf("default module %+v", d)
	}
	if s2s.Kind != hacx.Server || s2s.Resolver != "127.0.0.1:53" {
		t.Errorf("s2s module %+v", s2s)
	}
	if !slices.Equal(web.Methods, []hacx.Method{hacx.MethodWebSocket, hacx.MethodBOSH}) {
		t.Errorf("web module methods %q", web.Methods)
	}
	if !au.Audit || au.Timeout != 45*time.Second {
		t.Errorf("audit module %+v", au)
	}
}

func TestExporterConfig_Problems(t *testing.T) {
	_, err := parseExporterConfig([]byte(`targets = ["ok.test", "http://x.test/", "a@b.test"]
colour = "blue"
[module.m]
kind = "peer"
timeout = "soon"
connect-timeout = "-1s"
methods = ["tls", "carrier-pigeon"]
resolver = "dns.example"
`))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`targets[1]: "http://x.test/" is not a domain`, `targets[2]: "a@b.test" is not a domain`,
		"colour: unknown setting", `module.m.kind: "peer" is neither`, `module.m.timeout: "soon" is not a positive duration`,
		`module.m.connect-timeout: "-1s"`, `module.m.methods: unknown method "carrier-pigeon"`, `module.m.resolver: `,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := parseExporterConfig([]byte("targets = [")); err == nil || !strings.Contains(err.Error(), "line 1: not valid TOML") {
		t.Errorf("bad TOML: %v", err)
	}
}

// TestExporterConfig_MethodsApplied: a module's methods leave the other
// routes out of the probe, as if not published (C1).
func TestExporterConfig_MethodsApplied(t *testing.T) {
	w := newExpWorld(t, "example.test")
	good := w.startXMPP("127.0.0.2")
	w.publish("example.test", "127.0.0.1", `<hacx ttl="600"><tls ip="`+good.Addr().String()+`" port="`+strconv.Itoa(int(good.Port()))+`" priority="1"/>
  <websocket ip="127.0.0.3" port="443" priority="2" url="wss://example.test/ws"/></hacx>`)
	cfg, err := parseExporterConfig([]byte("[module.tls]\nmethods = [\"tls\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := w.exp(cfg)
	ss := probe(t, e, "target=example.test&module=tls")
	if v := value(t, ss, "hacx_probe_routes", nil); v != 1 {
		t.Errorf("hacx_probe_routes = %v, want the tls route only", v)
	}
	if v := value(t, ss, "hacx_probe_result", map[string]string{"result": "ok"}); v != 1 {
		t.Errorf("result not ok")
	}
	ss = probe(t, e, "target=example.test")
	if v := value(t, ss, "hacx_probe_routes", nil); v != 2 {
		t.Errorf("default module: hacx_probe_routes = %v, want 2", v)
	}
}

// TestExporter_Command: hacx exporter refuses to start without a target
// to probe or with a bad configuration, and otherwise serves until its
// context ends, then exits 0.
func TestExporter_Command(t *testing.T) {
	dir := t.TempDir()
	bad := dir + "/bad.toml"
	os.WriteFile(bad, []byte("[module.x]\nkind = 1\n"), 0o600)
	for _, args := range [][]string{
		{"exporter", "--listen", "127.0.0.1:0"},
		{"exporter", "--listen", "127.0.0.1:0", "--config", bad},
		{"exporter", "--listen", "127.0.0.1:0", "--any-target", "--max-probes", "0"},
		{"exporter", "--listen", "127.0.0.1:0", "--any-target", "extra"},
	} {
		if code, out, errOut := runCmd(t, "", args...); code != exitUsage || out != "" || !strings.HasPrefix(errOut, "hacx exporter: ") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2", args, code, out, errOut)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"exporter", "--listen", "127.0.0.1:0", "--any-target"}, &stdio{in: strings.NewReader(""), out: io.Discard, err: pw})
		pw.Close()
	}()
	// The first log line says where it listens.
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	m := regexp.MustCompile(`addr=(127\.0\.0\.1:\d+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no address in %q", line)
	}
	for path, want := range map[string]string{"/": "/probe?target=DOMAIN", "/metrics": "hacx_exporter_probes_in_flight 0", "/probe": "target parameter missing"} {
		resp, err := http.Get("http://" + m[1] + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %q, want %q in it", path, resp.StatusCode, body, want)
		}
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("exit %d after the context ended, want 0", code)
	}
}

// TestExporterExamples_NameExportedMetrics: the Prometheus and Grafana
// examples use only metrics the exporter documents (and so exports:
// TestExporter_* check them), and the dashboard is JSON.
func TestExporterExamples_NameExportedMetrics(t *testing.T) {
	_, help, _ := runCmd(t, "", "help", "exporter")
	metric := regexp.MustCompile(`hacx_[a-z_]+[a-z]`)
	documented := map[string]bool{}
	for _, n := range metric.FindAllString(help, -1) {
		documented[n] = true
	}
	if len(documented) < 30 {
		t.Fatalf("only %d metrics in the help", len(documented))
	}
	for _, f := range []string{"prometheus.yml", "hacx-alerts.yml", "grafana-hacx.json"} {
		data, err := os.ReadFile("../../examples/" + f)
		if err != nil {
			t.Fatal(err)
		}
		names := metric.FindAllString(string(data), -1)
		if len(names) == 0 && f != "prometheus.yml" {
			t.Errorf("%s names no metric", f)
		}
		for _, n := range names {
			if !documented[n] && n != "hacx_audit" && n != "hacx_exporter" {
				t.Errorf("%s uses %s, which hacx exporter does not document", f, n)
			}
		}
		if strings.HasSuffix(f, ".json") {
			var v map[string]any
			if err := json.Unmarshal(data, &v); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}
	}
	// Every alert of the brief is there: probe failing, certificates, sources.
	alerts, _ := os.ReadFile("../../examples/hacx-alerts.yml")
	for _, want := range []string{"hacx_probe_success", "hacx_route_cert_expiry_timestamp_seconds - time()) < 14 * 86400", `hacx_audit_findings{check="sources-disagree"} > 0`} {
		if !strings.Contains(string(alerts), want) {
			t.Errorf("hacx-alerts.yml lacks %q", want)
		}
	}
}

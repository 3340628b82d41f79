//go:build unix

package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"hacx.dev/hacx/internal/testenv"
)

// TestHTMLReport_Chromium opens the report of an audited check in
// Debian's Chromium, driven over the DevTools protocol: the page renders
// (a full-page screenshot, written under the test's directory, and to
// $HACX_HTML_SCREENSHOT when set), its text says what the report says,
// the timeline has a bar per phase, and the browser logged no error and
// requested nothing but the file itself. A page that breaks the rules is
// loaded first, so that the checks are known to catch what they look for.
func TestHTMLReport_Chromium(t *testing.T) {
	bin, err := chromiumPath()
	testenv.Require(t, err)

	dir := t.TempDir()
	report := filepath.Join(dir, "report.html")
	flags := auditedDomain(t)
	if code, out, errOut := runCmd(t, "", append([]string{"check", "--audit", "--html", report}, flags...)...); code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b := startChromium(ctx, t, bin)

	// The harness must see a blocked script, a blocked image and the
	// request for it: a page that would fetch something is caught.
	bad := filepath.Join(dir, "bad.html")
	os.WriteFile(bad, []byte(`<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"></head>
<body><p>bad</p><img src="http://127.0.0.1:9/x.png"><script>console.error("boom")</script></body></html>`), 0o644)
	pb := b.open(ctx, t, "file://"+bad)
	if len(pb.errors) == 0 || len(pb.requests) == 0 {
		t.Fatalf("the harness missed a page that breaks the rules: errors %q, requests %q", pb.errors, pb.requests)
	}

	p := b.open(ctx, t, "file://"+report)
	for _, e := range p.errors {
		t.Errorf("console or log error: %s", e)
	}
	for _, r := range p.requests {
		t.Errorf("the report requested %s: it must be self-contained", r)
	}
	for _, want := range []string{
		"example.test", "Sources", "Routes, in the order tried", "Timeline", "Attempts",
		"failed in tcp", "failed in stream", "ok, verified by webpki",
		"Audit: ", "no Strict-Transport-Security header", "ttl 30 s (the default when the attribute is absent)",
		"tcp connect", "tls + verify", "xmpp stream",
	} {
		if !strings.Contains(p.text, want) {
			t.Errorf("page text lacks %q:\n%s", want, p.text)
		}
	}
	// One bar per phase reached: the refused route a failed tcp bar, the
	// wrong-domain route tcp, tls and a failed stream bar, the winner
	// tcp, tls and stream; all laid out with a width.
	var bars struct{ Failed, TCP, TLS, Stream, Rows, Zero int }
	p.eval(ctx, t, `(() => {
		const q = s => document.querySelectorAll("svg.timeline g " + s);
		const all = [...document.querySelectorAll("svg.timeline g rect")];
		return {Failed: q("rect.failed").length, TCP: q("rect.phase-tcp").length, TLS: q("rect.phase-tls").length,
			Stream: q("rect.phase-stream").length, Rows: document.querySelectorAll("svg.timeline g").length,
			Zero: all.filter(r => r.getBoundingClientRect().width <= 0).length};
	})()`, &bars)
	if bars.Rows != 3 || bars.Failed != 2 || bars.TCP != 2 || bars.TLS != 2 || bars.Stream != 1 || bars.Zero != 0 {
		t.Errorf("timeline bars %+v, want 3 rows: 2 failed, 2 tcp, 2 tls, 1 stream, none without width", bars)
	}

	png := p.screenshot(ctx, t)
	shot := filepath.Join(dir, "report.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	if len(png) < 10_000 || string(png[1:4]) != "PNG" {
		t.Errorf("screenshot is %d bytes, not a page's PNG", len(png))
	}
	if keep := os.Getenv("HACX_HTML_SCREENSHOT"); keep != "" {
		if err := os.WriteFile(keep, png, 0o644); err != nil {
			t.Error(err)
		}
		t.Logf("screenshot copied to %s", keep)
	}
}

// chromiumPath finds Debian's chromium, or says why not.
func chromiumPath() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("chromium not found: install Debian's chromium package to render the HTML report")
}

// browser is a headless Chromium and one DevTools connection to it.
type browser struct {
	conn    *websocket.Conn
	mu      sync.Mutex
	next    int
	pending map[int]chan cdpMessage
	events  chan cdpMessage
}

type cdpMessage struct {
	ID        int             `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// startChromium starts the browser with a fresh profile and nothing it
// would fetch on its own, and connects to its DevTools websocket, which
// it names on stderr once it listens.
func startChromium(ctx context.Context, t *testing.T, bin string) *browser {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		"--user-data-dir="+t.TempDir(), "about:blank")
	// Its own process group: Chromium starts helper processes, and the
	// group is what the test ends if the browser does not close.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	wsURL := make(chan string, 1)
	var log strings.Builder
	var logMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			logMu.Lock()
			log.WriteString(line + "\n")
			logMu.Unlock()
			if u, ok := strings.CutPrefix(line, "DevTools listening on "); ok {
				wsURL <- strings.TrimSpace(u)
			}
		}
		io.Copy(io.Discard, stderr)
		cmd.Wait()
		close(exited)
	}()
	var u string
	select {
	case u = <-wsURL:
	case <-ctx.Done():
		logMu.Lock()
		defer logMu.Unlock()
		t.Fatalf("chromium did not start: %v\n%s", ctx.Err(), log.String())
	}
	conn, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(256 << 20) // full-page screenshots
	t.Cleanup(func() { conn.CloseNow() })
	b := &browser{conn: conn, pending: map[int]chan cdpMessage{}, events: make(chan cdpMessage, 1024)}
	go b.read(context.WithoutCancel(ctx))
	t.Cleanup(func() {
		// Closed politely, Chromium ends its helpers itself. It may exit
		// before it answers: no answer is awaited.
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		msg, _ := json.Marshal(cdpMessage{ID: -1, Method: "Browser.close", Params: json.RawMessage("{}")})
		b.conn.Write(cctx, websocket.MessageText, msg)
	})
	return b
}

func (b *browser) read(ctx context.Context) {
	defer close(b.events)
	for {
		_, data, err := b.conn.Read(ctx)
		if err != nil {
			return
		}
		var m cdpMessage
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		if m.ID != 0 {
			b.mu.Lock()
			ch := b.pending[m.ID]
			delete(b.pending, m.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			continue
		}
		b.events <- m
	}
}

// call sends one command (to a page's session when session is set) and
// decodes its result into out.
func (b *browser) call(ctx context.Context, session, method string, params, out any) error {
	b.mu.Lock()
	b.next++
	id := b.next
	ch := make(chan cdpMessage, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	p, err := json.Marshal(params)
	if err != nil {
		return err
	}
	msg, _ := json.Marshal(cdpMessage{ID: id, Method: method, Params: p, SessionID: session})
	if err := b.conn.Write(ctx, websocket.MessageText, msg); err != nil {
		return err
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return fmt.Errorf("%s: %s", method, m.Error.Message)
		}
		if out != nil {
			return json.Unmarshal(m.Result, out)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// page is a loaded page: its session, what the browser logged as an
// error while loading it, the requests for anything but the page itself,
// and its text.
type page struct {
	b        *browser
	session  string
	errors   []string
	requests []string
	text     string
}

// open loads url in a new tab and collects, until the load event, every
// console message of level error, uncaught exception, log entry of level
// error (Content-Security-Policy refusals among them) and network
// request other than url.
func (b *browser) open(ctx context.Context, t *testing.T, url string) *page {
	t.Helper()
	var target struct{ TargetID string }
	must(t, b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target))
	var att struct{ SessionID string }
	must(t, b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att))
	p := &page{b: b, session: att.SessionID}
	for _, m := range []string{"Page.enable", "Runtime.enable", "Log.enable", "Network.enable"} {
		must(t, b.call(ctx, p.session, m, map[string]any{}, nil))
	}
	must(t, b.call(ctx, p.session, "Emulation.setDeviceMetricsOverride",
		map[string]any{"width": 1200, "height": 900, "deviceScaleFactor": 1, "mobile": false}, nil))
	must(t, b.call(ctx, p.session, "Page.navigate", map[string]any{"url": url}, nil))
	for loaded := false; !loaded; {
		select {
		case m, ok := <-b.events:
			if !ok {
				t.Fatal("chromium closed the DevTools connection")
			}
			if m.SessionID != p.session {
				continue
			}
			loaded = p.note(m, url)
		case <-ctx.Done():
			t.Fatalf("%s did not load: %v", url, ctx.Err())
		}
	}
	p.eval(ctx, t, "document.body.innerText", &p.text)
	// Events sent before the answer above are already queued: collect
	// them too.
	for {
		select {
		case m := <-b.events:
			if m.SessionID == p.session {
				p.note(m, url)
			}
			continue
		default:
		}
		break
	}
	return p
}

// note records one event; it reports the load event.
func (p *page) note(m cdpMessage, url string) bool {
	switch m.Method {
	case "Page.loadEventFired":
		return true
	case "Runtime.consoleAPICalled":
		var e struct {
			Type string
			Args []struct {
				Value       any
				Description string
			}
		}
		json.Unmarshal(m.Params, &e)
		if e.Type == "error" || e.Type == "assert" {
			p.errors = append(p.errors, fmt.Sprintf("console.%s %v", e.Type, e.Args))
		}
	case "Runtime.exceptionThrown":
		p.errors = append(p.errors, "exception: "+string(m.Params))
	case "Log.entryAdded":
		var e struct {
			Entry struct{ Level, Source, Text, URL string }
		}
		json.Unmarshal(m.Params, &e)
		if e.Entry.Level == "error" {
			p.errors = append(p.errors, fmt.Sprintf("%s: %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL))
		}
	case "Network.requestWillBeSent":
		var e struct{ Request struct{ URL string } }
		json.Unmarshal(m.Params, &e)
		if e.Request.URL != url {
			p.requests = append(p.requests, e.Request.URL)
		}
	}
	return false
}

// eval evaluates a JavaScript expression in the page and decodes its value.
func (p *page) eval(ctx context.Context, t *testing.T, expr string, out any) {
	t.Helper()
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct{ Text string } `json:"exceptionDetails"`
	}
	must(t, p.b.call(ctx, p.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &r))
	if r.ExceptionDetails != nil {
		t.Fatalf("evaluate %q: %s", expr, r.ExceptionDetails.Text)
	}
	must(t, json.Unmarshal(r.Result.Value, out))
}

// screenshot is a PNG of the whole page, beyond the viewport.
func (p *page) screenshot(ctx context.Context, t *testing.T) []byte {
	t.Helper()
	var lm struct {
		CSSContentSize struct{ Width, Height float64 } `json:"cssContentSize"`
	}
	must(t, p.b.call(ctx, p.session, "Page.getLayoutMetrics", map[string]any{}, &lm))
	var shot struct{ Data string }
	must(t, p.b.call(ctx, p.session, "Page.captureScreenshot", map[string]any{
		"format": "png", "captureBeyondViewport": true,
		"clip": map[string]any{"x": 0, "y": 0, "width": 1200, "height": lm.CSSContentSize.Height, "scale": 1},
	}, &shot))
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	must(t, err)
	return png
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

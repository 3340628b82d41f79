package serve

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServer_StartErrorNotReload_P1: a certificate that cannot be read when
// Serve starts is a *StartError, returned once and not logged: nothing was
// serving, so the reload wording ("still serving the previous one") would
// be false. Reloads keep their ReloadError.
func TestServer_StartErrorNotReload_P1(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hacx.toml")
	if err := WriteFile(cfgPath, []byte(serverTOML("60")), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	s := &Server{
		Load:         func() (*Config, error) { return LoadConfig(cfgPath) },
		CertFile:     filepath.Join(dir, "cert.pem"),
		KeyFile:      filepath.Join(dir, "key.pem"),
		PollInterval: -1,
		Logger:       slog.New(slog.NewTextHandler(&logs, nil)),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = s.Serve(context.Background(), ln)
	var se *StartError
	var re *ReloadError
	if !errors.As(err, &se) || errors.As(err, &re) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Serve = %v, want a *StartError wrapping the missing file, no ReloadError", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "serve: certificate: ") || strings.Contains(msg, "previous") {
		t.Errorf("message %q", msg)
	}
	if logs.Len() != 0 {
		t.Errorf("start-up failure logged as well as returned:\n%s", logs.String())
	}
	// Later loads are reloads: same failure, reload wording, logged.
	if err := s.Reload(); !errors.As(err, &re) || re.Part != "certificate" || errors.As(err, &se) {
		t.Errorf("Reload = %v, want a certificate ReloadError", err)
	}
	if !strings.Contains(logs.String(), "reload failed") {
		t.Errorf("reload failure not logged: %q", logs.String())
	}
}

// TestServer_RunLoadsBeforeListening_P1: Run reads what it serves before
// it binds a port, so a missing certificate is reported as that, a
// *StartError, even when the port is taken (or would need privileges).
func TestServer_RunLoadsBeforeListening_P1(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hacx.toml")
	if err := WriteFile(cfgPath, []byte(serverTOML("60")), 0o644); err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	s := &Server{
		Load:         func() (*Config, error) { return LoadConfig(cfgPath) },
		Addr:         taken.Addr().String(),
		CertFile:     filepath.Join(dir, "cert.pem"),
		KeyFile:      filepath.Join(dir, "key.pem"),
		PollInterval: -1,
	}
	err = s.Run(context.Background())
	if _, ok := errors.AsType[*StartError](err); !ok || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Run = %v, want a *StartError for the missing certificate, before binding the taken port", err)
	}
}

// TestServer_RunUsesListenerFields: a Listener field takes precedence over
// its Addr field, so Run does not try to bind HTTPAddr (taken here, which
// would fail) and answers plain HTTP on the listener it was given.
func TestServer_RunUsesListenerFields(t *testing.T) {
	ts := startServer(t) // for its certificate and configuration files
	taken := listenLoopback(t)
	defer taken.Close()
	httpLn := listenLoopback(t)
	s := &Server{
		Load:         ts.s.Load,
		CertFile:     ts.s.CertFile,
		KeyFile:      ts.s.KeyFile,
		PollInterval: -1,
		Addr:         "127.0.0.1:0",
		HTTPAddr:     taken.Addr().String(),
		HTTPListener: httpLn,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", "http://"+httpLn.Addr().String()+"/.well-known/xmpp-client.xml", nil)
	req.Host = "example.org"
	type answer struct {
		status int
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		res, err := noFollow.Do(req) // waits in the listen queue until Run serves
		if err != nil {
			answered <- answer{err: err}
			return
		}
		res.Body.Close()
		answered <- answer{status: res.StatusCode}
	}()
	select {
	case err := <-done:
		httpLn.Close() // ends the request waiting on it
		cancel()
		t.Fatalf("Run returned before serving: %v", err)
	case a := <-answered:
		if a.err != nil || a.status != http.StatusMovedPermanently {
			t.Errorf("plain HTTP on HTTPListener: %d, %v; want 301", a.status, a.err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	if err := httpLn.Close(); err == nil {
		t.Error("Run left HTTPListener open")
	}
}

package serve

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
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

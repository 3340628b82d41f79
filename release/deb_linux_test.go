package release_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestDeb_InstallRunRemove installs the package of this machine's
// architecture with dpkg, runs what it installed, and removes it again.
func TestDeb_InstallRunRemove(t *testing.T) {
	if os.Geteuid() != 0 {
		require(t, errors.New("installing a .deb needs root (dpkg -i); CI runs as root"))
	}
	if _, err := exec.LookPath("dpkg"); err != nil {
		require(t, fmt.Errorf("dpkg is not installed: %w", err))
	}
	// Two test runs on one machine (developers sharing it) would install
	// and purge the same package under each other: one at a time, until
	// the package is purged (cleanups run last registered, first run).
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "hacx-deb-test.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() })
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if exec.Command("dpkg-query", "-W", "hacx").Run() == nil {
		require(t, errors.New("a hacx package is installed on this machine already; the test does not replace it"))
	}
	arch := strings.TrimSpace(run(t, "dpkg", "--print-architecture"))
	debs, _ := filepath.Glob(filepath.Join(releaseDir(t), "hacx_*_"+arch+".deb"))
	if len(debs) != 1 {
		require(t, fmt.Errorf("no .deb for this machine's architecture %s (release/build.sh packages amd64 and arm64): %v", arch, debs))
	}

	// Removed even when a check below fails; purge takes the
	// configuration too, as a user removing it for good would.
	t.Cleanup(func() {
		if out, err := exec.Command("dpkg", "--purge", "hacx").CombinedOutput(); err != nil {
			t.Errorf("dpkg --purge hacx: %v\n%s", err, out)
		}
		if _, err := os.Stat("/usr/bin/hacx"); !os.IsNotExist(err) {
			t.Errorf("/usr/bin/hacx after dpkg --purge: %v", err)
		}
		if _, err := os.Stat("/etc/hacx/hacx.toml"); !os.IsNotExist(err) {
			t.Errorf("/etc/hacx/hacx.toml after dpkg --purge: %v", err)
		}
	})
	run(t, "dpkg", "-i", debs[0])

	// The installed binary says which build it is.
	var v struct {
		Version, Revision, Time, Platform string
		Modified                          bool
	}
	out := run(t, "/usr/bin/hacx", "version", "--json")
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("hacx version --json: %v\n%s", err, out)
	}
	if !strings.HasPrefix(v.Version, "v") || !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(v.Revision) || v.Time == "" {
		t.Errorf("hacx version --json: %+v, want a module version, the revision and its time", v)
	}
	if want := "linux/" + arch; v.Platform != want {
		t.Errorf("platform %q, want %q", v.Platform, want)
	}

	// The sample configuration is valid where the package puts it.
	out = run(t, "/usr/bin/hacx", "serve", "--check-config", "--config", "/etc/hacx/hacx.toml")
	if !strings.Contains(out, "configuration OK") {
		t.Errorf("hacx serve --check-config: %s", out)
	}
	if conffiles := run(t, "dpkg-query", "-W", "-f", "${Conffiles}", "hacx"); !strings.Contains(conffiles, "/etc/hacx/hacx.toml") {
		t.Errorf("/etc/hacx/hacx.toml is not a conffile (an upgrade would overwrite the operator's edits): %q", conffiles)
	}

	// Units run the packaged binary.
	for unit, want := range map[string]string{
		"/usr/lib/systemd/system/hacx-serve.service": "ExecStart=/usr/bin/hacx serve --config /etc/hacx/hacx.toml",
		"/usr/lib/systemd/user/hacx-proxy.service":   "ExecStart=/usr/bin/hacx proxy",
	} {
		data, err := os.ReadFile(unit)
		if err != nil || !strings.Contains(string(data), "\n"+want) {
			t.Errorf("%s: %v; want %q", unit, err, want)
		}
	}

	// A man page for hacx and for every command it lists, in the package
	// (a machine may exclude /usr/share/man from installs).
	contents := run(t, "dpkg-deb", "--contents", debs[0])
	pages := []string{"hacx"}
	for line := range strings.Lines(run(t, "/usr/bin/hacx", "help")) {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(line, "  ") {
			pages = append(pages, "hacx-"+f[0])
		}
	}
	if len(pages) < 5 {
		t.Errorf("hacx help lists %d commands", len(pages)-1)
	}
	for _, p := range pages {
		if !strings.Contains(contents, " ./usr/share/man/man1/"+p+".1.gz\n") {
			t.Errorf("no man page %s.1.gz in the package", p)
		}
	}
}

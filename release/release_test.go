// Package release_test checks what release/build.sh makes: the binaries
// of every target, their checksums, and the Debian package, installed for
// real with dpkg (as root) and used.
package release_test

import (
	"bufio"
	"crypto/sha256"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"hacx.dev/hacx/hacxtest"
)

var (
	buildOnce sync.Once
	builtDir  string
	buildErr  error
)

// releaseDir is the output of release/build.sh: HACX_RELEASE_DIR when
// set (test.sh builds the release before the tests), else a build made
// here once for every test. That build may not reach the network (tests
// talk only to loopback): nfpm's modules must already be in the module
// cache, as any run of release/build.sh leaves them.
func releaseDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("HACX_RELEASE_DIR"); d != "" {
		return d
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hacx-release-test-")
		if err != nil {
			buildErr = err
			return
		}
		builtDir = dir
		cmd := exec.Command("./build.sh", dir)
		cmd.Env = append(os.Environ(), "GOPROXY=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("release/build.sh: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		if strings.Contains(buildErr.Error(), "GOPROXY=off") || strings.Contains(buildErr.Error(), "module lookup disabled") {
			hacxtest.Require(t, fmt.Errorf("nfpm's modules are not in the module cache (run release/build.sh once, which downloads them): %w", buildErr))
		}
		t.Fatal(buildErr)
	}
	return builtDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

// TestRelease_Binaries: every target is there, for its own OS and CPU,
// statically linked, and SHA256SUMS names each binary and package with
// its digest.
func TestRelease_Binaries(t *testing.T) {
	dir := releaseDir(t)
	check := func(name string, f func(io.ReaderAt) error) {
		t.Helper()
		file, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Error(err)
			return
		}
		defer file.Close()
		if err := f(file); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	elfStatic := func(machine elf.Machine) func(io.ReaderAt) error {
		return func(r io.ReaderAt) error {
			f, err := elf.NewFile(r)
			if err != nil {
				return err
			}
			if f.Machine != machine {
				return fmt.Errorf("machine %v, want %v", f.Machine, machine)
			}
			// A dynamically linked binary names its loader in PT_INTERP.
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					return errors.New("dynamically linked (has an ELF interpreter)")
				}
			}
			return nil
		}
	}
	check("hacx-linux-amd64", elfStatic(elf.EM_X86_64))
	check("hacx-linux-arm64", elfStatic(elf.EM_AARCH64))
	check("hacx-darwin-arm64", func(r io.ReaderAt) error {
		f, err := macho.NewFile(r)
		if err == nil && f.Cpu != macho.CpuArm64 {
			err = fmt.Errorf("cpu %v, want arm64", f.Cpu)
		}
		return err
	})
	check("hacx-windows-amd64.exe", func(r io.ReaderAt) error {
		f, err := pe.NewFile(r)
		if err == nil && f.Machine != pe.IMAGE_FILE_MACHINE_AMD64 {
			err = fmt.Errorf("machine %#x, want amd64", f.Machine)
		}
		return err
	})

	sums, err := os.Open(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer sums.Close()
	listed := map[string]bool{}
	sc := bufio.NewScanner(sums)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Errorf("SHA256SUMS line %q", sc.Text())
			continue
		}
		listed[name] = true
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Error(err)
			continue
		}
		if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != sum {
			t.Errorf("SHA256SUMS: %s does not match", name)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	debs := 0
	for _, e := range entries {
		if e.IsDir() || e.Name() == "SHA256SUMS" {
			continue
		}
		if !listed[e.Name()] {
			t.Errorf("SHA256SUMS does not list %s", e.Name())
		}
		if strings.HasSuffix(e.Name(), ".deb") {
			debs++
		}
	}
	if debs != 2 {
		t.Errorf("%d .deb packages, want one per linux target (2)", debs)
	}
}

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
		hacxtest.Require(t, errors.New("installing a .deb needs root (dpkg -i); CI runs as root"))
	}
	if _, err := exec.LookPath("dpkg"); err != nil {
		hacxtest.Require(t, fmt.Errorf("dpkg is not installed: %w", err))
	}
	if exec.Command("dpkg-query", "-W", "hacx").Run() == nil {
		hacxtest.Require(t, errors.New("a hacx package is installed on this machine already; the test does not replace it"))
	}
	arch := strings.TrimSpace(run(t, "dpkg", "--print-architecture"))
	debs, _ := filepath.Glob(filepath.Join(releaseDir(t), "hacx_*_"+arch+".deb"))
	if len(debs) != 1 {
		hacxtest.Require(t, fmt.Errorf("no .deb for this machine's architecture %s (%s only builds amd64 and arm64): %v", arch, runtime.GOARCH, debs))
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

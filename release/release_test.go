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
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
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
			require(t, fmt.Errorf("nfpm's modules are not in the module cache (run release/build.sh once, which downloads them): %w", buildErr))
		}
		t.Fatal(buildErr)
	}
	return builtDir
}

// require skips t for a missing prerequisite, except in CI (the CI
// environment variable set, as .ci/run does), where every prerequisite is
// present and a skip would hide a broken setup: the rule of every
// integration test here.
func require(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%v (required when CI is set)", err)
	}
	t.Skip(err)
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

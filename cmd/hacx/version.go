package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"
)

// buildInfo is what "hacx version --json" prints; its fields and their
// meaning are a stable schema (documented in the command's help).
type buildInfo struct {
	Version  string `json:"version"`
	Revision string `json:"revision"`
	Time     string `json:"time"`
	Modified bool   `json:"modified"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// readBuildInfo is debug.ReadBuildInfo; tests substitute their own.
var readBuildInfo = debug.ReadBuildInfo

// currentBuild describes the running binary from the build information Go
// embeds in it. Go stamps the revision and its commit time, never the
// wall-clock time of the build, so that the same source gives the same
// binary: that commit time is the build's time.
func currentBuild() buildInfo {
	bi, ok := readBuildInfo()
	b := buildInfo{Version: "devel", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if !ok {
		return b
	}
	// "(devel)" is what go run, go test and a build without VCS stamping
	// report: no version worth printing.
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		b.Version = v
	}
	if bi.GoVersion != "" {
		b.Go = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified, _ = strconv.ParseBool(s.Value)
		}
	}
	return b
}

func init() {
	register(&command{
		name: "version", args: "[--json]", short: "print the hacx version and build",
		long: `Version prints what Go recorded when this binary was built: the hacx
module version ("devel" when none was stamped: go run, or a build with
-buildvcs=false), the VCS revision and its commit time, whether the work
tree had uncommitted changes, the Go version and the platform. Release
builds (release/build.sh) record all of them. Go records no wall-clock
build time, so that a build can be reproduced: the commit time stands for
it.

--json prints one object with these keys, all always present:

  version   module version, e.g. "v1.2.3" or a pseudo-version
            "v0.0.0-20260102150405-0123456789ab", "+dirty" when built from
            a modified work tree; "devel" when unknown
  revision  full VCS commit hash, "" when unknown
  time      commit time of revision, RFC 3339 in UTC, "" when unknown
  modified  true when the work tree had uncommitted changes
  go        Go version that built the binary, e.g. "go1.26.8"
  platform  GOOS/GOARCH, e.g. "linux/amd64"

New keys may be added; these keep their names and meaning.`,
		run: func(_ context.Context, sio *stdio, args []string) error {
			fs := newFlags(commands["version"], sio)
			asJSON := fs.Bool("json", false, "print JSON (schema above)")
			pos, err := parseFlags(fs, args)
			if err != nil {
				return err
			}
			if len(pos) > 0 {
				return usagef("unexpected argument %q", pos[0])
			}
			b := currentBuild()
			if *asJSON {
				return writeJSON(sio.out, b)
			}
			// The first line stays "hacx VERSION" for scripts that read it.
			fmt.Fprintln(sio.out, "hacx", b.Version)
			if b.Revision != "" {
				mod := ""
				if b.Modified {
					mod = " (modified)"
				}
				fmt.Fprintf(sio.out, "revision %s%s\n", b.Revision, mod)
			}
			if b.Time != "" {
				fmt.Fprintf(sio.out, "time     %s\n", b.Time)
			}
			fmt.Fprintf(sio.out, "go       %s %s\n", b.Go, b.Platform)
			return nil
		},
	})
}

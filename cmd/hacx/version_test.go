package main

import (
	"encoding/json"
	"reflect"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"testing"
)

// withBuildInfo makes the running binary report bi (ok false: no build
// information at all) until the test ends.
func withBuildInfo(t *testing.T, bi *debug.BuildInfo, ok bool) {
	t.Helper()
	old := readBuildInfo
	readBuildInfo = func() (*debug.BuildInfo, bool) { return bi, ok }
	t.Cleanup(func() { readBuildInfo = old })
}

var stampedBuild = &debug.BuildInfo{
	GoVersion: "go1.26.8",
	Main:      debug.Module{Path: "hacx.dev/hacx", Version: "v1.2.3"},
	Settings: []debug.BuildSetting{
		{Key: "-trimpath", Value: "true"},
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-01-02T15:04:05Z"},
		{Key: "vcs.modified", Value: "true"},
	},
}

func TestCurrentBuild(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want buildInfo
	}{
		{"stamped", stampedBuild, true, buildInfo{
			Version: "v1.2.3", Revision: "0123456789abcdef0123456789abcdef01234567",
			Time: "2026-01-02T15:04:05Z", Modified: true, Go: "go1.26.8", Platform: platform,
		}},
		{"go run", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, true,
			buildInfo{Version: "devel", Go: "go1.26.8", Platform: platform}},
		{"no build info", nil, false, buildInfo{Version: "devel", Go: runtime.Version(), Platform: platform}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			withBuildInfo(t, tt.bi, tt.ok)
			if got := currentBuild(); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestVersion_JSONSchema: --json has exactly the documented keys with
// their types, whatever the build recorded, and the help documents each.
func TestVersion_JSONSchema(t *testing.T) {
	want := map[string]string{
		"version": "string", "revision": "string", "time": "string",
		"modified": "bool", "go": "string", "platform": "string",
	}
	_, help, _ := runCmd(t, "", "help", "version")
	for _, bi := range []*debug.BuildInfo{stampedBuild, nil} {
		withBuildInfo(t, bi, bi != nil)
		code, out, errOut := runCmd(t, "", "version", "--json")
		var got map[string]any
		if err := json.Unmarshal([]byte(out), &got); code != exitOK || err != nil || errOut != "" {
			t.Fatalf("exit %d, %v, stdout %q, stderr %q", code, err, out, errOut)
		}
		types := map[string]string{}
		for k, v := range got {
			types[k] = reflect.TypeOf(v).Kind().String()
		}
		if !reflect.DeepEqual(types, want) {
			t.Errorf("keys and types %v, want %v", types, want)
		}
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !strings.Contains(help, "\n  "+k+" ") {
			t.Errorf("hacx help version does not document the %q key", k)
		}
	}
}

func TestVersion_Text(t *testing.T) {
	withBuildInfo(t, stampedBuild, true)
	code, out, _ := runCmd(t, "", "version")
	want := "hacx v1.2.3\n" +
		"revision 0123456789abcdef0123456789abcdef01234567 (modified)\n" +
		"time     2026-01-02T15:04:05Z\n" +
		"go       go1.26.8 " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if code != exitOK || out != want {
		t.Errorf("exit %d, got:\n%s\nwant:\n%s", code, out, want)
	}

	// Unknown fields are left out rather than printed empty.
	withBuildInfo(t, nil, false)
	_, out, _ = runCmd(t, "", "version")
	if !strings.HasPrefix(out, "hacx devel\ngo       ") || strings.Contains(out, "revision") {
		t.Errorf("without build information: %q", out)
	}
}

package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hacx.dev/hacx/discover"
	"hacx.dev/hacx/internal/testbed"
)

// TestSources_LookupAndCheckAgree: the same discovery reads the same in
// the text reports of lookup and check, errors included: one layout.
func TestSources_LookupAndCheckAgree(t *testing.T) {
	ca, cert := testCert(t, "sources", "broken.test")
	publish(t, cert, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	dnsSrv, err := testbed.NewDNSServer()
	if err != nil {
		t.Fatal(err)
	}
	defer dnsSrv.Close()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := []string{"--ca-file", caFile, "--resolver", dnsSrv.Addr, "--no-cache", "--state-dir", dir, "--socks", "none", "broken.test"}
	sections := map[string]string{}
	for _, cmd := range []string{"lookup", "check"} {
		code, out, errs := runCmd(t, "", append([]string{cmd}, flags...)...)
		if code != exitFail {
			t.Fatalf("%s: exit %d, want 1\n%s%s", cmd, code, out, errs)
		}
		sections[cmd] = sourcesSection(out)
	}
	if !strings.Contains(sections["lookup"], "error: discover: GET https://broken.test/.well-known/xmpp-client.xml: status 500") {
		t.Errorf("lookup's sources lack the fetch error:\n%s", sections["lookup"])
	}
	if sections["lookup"] != sections["check"] {
		t.Errorf("the sources read differently:\nlookup:\n%s\ncheck:\n%s", sections["lookup"], sections["check"])
	}
}

// sourcesSection is the "sources:" section of a text report: from that
// line to the next one that is not indented.
func sourcesSection(out string) string {
	_, rest, ok := strings.Cut(out, "sources:\n")
	if !ok {
		return ""
	}
	var b strings.Builder
	for line := range strings.Lines(rest) {
		if !strings.HasPrefix(line, "  ") {
			break
		}
		b.WriteString(line)
	}
	return b.String()
}

// TestSourceFacts_SaidOnce: a note that repeats the error (a stale copy
// kept because the refetch failed) or an error that repeats the note
// (every SRV target failed) is said once, in the longer form.
func TestSourceFacts_SaidOnce(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		s    discover.SourceReport
		want []string
	}{
		{"stale", discover.SourceReport{Cached: true, Stale: true, FetchedAt: &at, Error: "blocked", Note: "refetch failed, using stale copy: blocked"},
			[]string{"from cache (STALE), fetched 2026-01-02T03:04:05Z", "refetch failed, using stale copy: blocked"}},
		{"srv targets", discover.SourceReport{Error: "discover: _xmpps-client._tcp.x: record 1 target a.x: refused", Note: "record 1 target a.x: refused"},
			[]string{"error: discover: _xmpps-client._tcp.x: record 1 target a.x: refused"}},
		{"both", discover.SourceReport{Error: "refused", Note: "queried directly at 127.0.0.1:53, outside the proxy"},
			[]string{"error: refused", "queried directly at 127.0.0.1:53, outside the proxy"}},
	}
	for _, tt := range tests {
		if got := sourceFacts(tt.s); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
			t.Errorf("%s: facts %q, want %q", tt.name, got, tt.want)
		}
	}
}

package discover

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"hacx.dev/hacx"
)

// TestSourceResultJSON pins the one JSON form of a source every report
// shares: numbers and booleans always present, strings left out when
// empty, fetched_at only when known, redirects only when any (H3, H5).
func TestSourceResultJSON(t *testing.T) {
	fetched := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		src  SourceResult
		want string
	}{
		{
			name: "skipped: only the note",
			src:  SourceResult{Source: hacx.SourceSRV, Status: StatusSkipped, Note: "no local DNS (T1)"},
			want: `{"source":"srv","status":"skipped","routes":0,"cached":false,"stale":false,"note":"no local DNS (T1)"}`,
		},
		{
			name: "found after a redirect, with TLS facts (H2, H3, X4, X5, X6)",
			src: SourceResult{Source: hacx.SourceHACX, Query: "https://example.org/.well-known/xmpp-client.xml",
				Status: StatusFound, Routes: 3, FetchedAt: fetched,
				Redirects: []string{"https://www.example.org/x.xml"}, FinalURL: "https://www.example.org/x.xml",
				HSTS: "observed", HPKP: "none", DANE: "unsigned"},
			want: `{"source":"hacx","query":"https://example.org/.well-known/xmpp-client.xml","status":"found",` +
				`"routes":3,"cached":false,"stale":false,"fetched_at":"2026-01-02T03:04:05Z",` +
				`"redirects":["https://www.example.org/x.xml"],"final_url":"https://www.example.org/x.xml",` +
				`"hsts":"observed","hpkp":"none","dane":"unsigned"}`,
		},
		{
			name: "stale cached copy: the refetch error is kept (H5)",
			src: SourceResult{Source: hacx.SourceHACX, Query: "https://example.org/.well-known/xmpp-client.xml",
				Status: StatusFound, Routes: 1, Cached: true, Stale: true, FetchedAt: fetched,
				Err: fmt.Errorf("fetch: %w", errors.New("connection refused"))},
			want: `{"source":"hacx","query":"https://example.org/.well-known/xmpp-client.xml","status":"found",` +
				`"routes":1,"cached":true,"stale":true,"fetched_at":"2026-01-02T03:04:05Z",` +
				`"error":"fetch: connection refused"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("json.Marshal(SourceResult)\n got %s\nwant %s", got, tt.want)
			}
			viaReport, err := json.Marshal(tt.src.Report())
			if err != nil || !bytes.Equal(viaReport, got) {
				t.Errorf("Report() marshals to %s (%v), SourceResult to %s", viaReport, err, got)
			}
			var back SourceReport
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatal(err)
			}
			if again, _ := json.Marshal(back); !bytes.Equal(again, got) {
				t.Errorf("round trip through SourceReport: %s, want %s", again, got)
			}
		})
	}
}

// TestResultJSON_SharedForms checks that a whole Result marshals its
// routes and sources in the shared forms, not field by field.
func TestResultJSON_SharedForms(t *testing.T) {
	res := Result{Sources: []SourceResult{{Source: hacx.SourceHACX, Status: StatusNone}}}
	got, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	src, _ := json.Marshal(res.Sources[0])
	if !bytes.Contains(got, []byte(`"Sources":[`+string(src)+`]`)) {
		t.Errorf("Result JSON %s does not hold the source as %s", got, src)
	}
}

package trust

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var headerSeeds = []string{
	"max-age=31536000",
	"max-age=15768000 ; includeSubDomains",
	`max-age="31536000"; includeSubDomains; preload`,
	`max-age=5; foo="a;b\"c"`,
	"max-age=5;;",
	`max-age=3000; pin-sha256="` + pinA + `"; pin-sha256="` + pinB + `"`,
	`pin-sha256="` + pinA + `"; max-age=10000; includeSubDomains; report-uri="http://example.com/pkp-report"`,
	`max-age="5`,
	"max-age=99999999999999999999999",
}

// FuzzParseHSTS checks that any header (network input) parses without
// panicking and that an accepted policy survives a round trip.
func FuzzParseHSTS(f *testing.F) {
	for _, s := range headerSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		p, err := ParseHSTS(header)
		if err != nil {
			if p != (HSTSPolicy{}) {
				t.Fatalf("error with non-zero policy %+v", p)
			}
			return
		}
		if p.MaxAge < 0 || p.MaxAge > maxDeltaSeconds*time.Second {
			t.Fatalf("max-age %v out of range", p.MaxAge)
		}
		if !strings.Contains(strings.ToLower(header), "max-age") {
			t.Fatalf("accepted %q without max-age", header)
		}
		again := fmt.Sprintf("max-age=%d", int64(p.MaxAge/time.Second))
		if p.IncludeSubDomains {
			again += "; includeSubDomains"
		}
		if q, err := ParseHSTS(again); err != nil || q != p {
			t.Fatalf("round trip %q -> %+v, %v; want %+v", again, q, err, p)
		}
	})
}

// FuzzParseHPKP checks that any header parses without panicking and that
// accepted pins are well-formed sha-256 digests.
func FuzzParseHPKP(f *testing.F) {
	for _, s := range headerSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		p, err := ParseHPKP(header)
		if err != nil {
			return
		}
		if p.MaxAge < 0 {
			t.Fatalf("negative max-age %v", p.MaxAge)
		}
		for i, pin := range p.Pins {
			if len(pin) != 32 {
				t.Fatalf("pin %d has %d bytes", i, len(pin))
			}
			for _, q := range p.Pins[:i] {
				if string(q) == string(pin) {
					t.Fatal("duplicate pin kept")
				}
			}
		}
		_ = p.ReportURI
	})
}

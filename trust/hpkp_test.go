package trust

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	pinA = "d6qzRu9zOECb90Uez27xWltNsj0e1Md7GkYYkVoZWmM="
	pinB = "E9CZ9INDbd+2eRQozYqqbQ2yXLVKB9+xcprMF+44U1g="
	pinC = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="
)

func TestParseHPKP_X6(t *testing.T) {
	tests := []struct {
		name, header string
		pins         int
		maxAge       time.Duration
		sub          bool
		report       string
		bad          string
	}{
		// RFC 7469 §2.1.5 examples.
		{"rfc example 1", `max-age=3000; pin-sha256="` + pinA + `"; pin-sha256="` + pinB + `"`, 2, 3000 * time.Second, false, "", ""},
		{"rfc example 3 report-uri", `max-age=2592000; pin-sha256="` + pinB + `"; pin-sha256="` + pinC + `"; report-uri="http://example.com/pkp-report"`, 2, 2592000 * time.Second, false, "http://example.com/pkp-report", ""},
		{"rfc example 5 max-age last", `pin-sha256="` + pinA + `"; pin-sha256="` + pinC + `"; max-age=259200`, 2, 259200 * time.Second, false, "", ""},
		{"rfc example 6 includeSubDomains", `pin-sha256="` + pinA + `"; pin-sha256="` + pinB + `"; pin-sha256="` + pinC + `"; max-age=10000; includeSubDomains`, 3, 10000 * time.Second, true, "", ""},
		{"case-insensitive names", `PIN-SHA256="` + pinA + `"; Max-Age="60"; INCLUDESUBDOMAINS`, 1, time.Minute, true, "", ""},
		{"duplicate pin counted once", `pin-sha256="` + pinA + `"; pin-sha256="` + pinA + `"; max-age=1`, 1, time.Second, false, "", ""},
		{"other hash ignored", `pin-sha1="AAAAAAAAAAAAAAAAAAAAAAAAAAA="; pin-sha256="` + pinA + `"; max-age=1`, 1, time.Second, false, "", ""},
		{"unknown directive ignored", `pin-sha256="` + pinA + `"; max-age=1; future="x"`, 1, time.Second, false, "", ""},
		{"max-age=0 without pins", `max-age=0`, 0, 0, false, "", ""},

		{"missing max-age", `pin-sha256="` + pinA + `"; pin-sha256="` + pinB + `"`, 0, 0, false, "", "missing max-age"},
		{"duplicate max-age", `pin-sha256="` + pinA + `"; max-age=1; max-age=1`, 0, 0, false, "", "more than once"},
		{"duplicate report-uri", `max-age=1; report-uri="https://a.example/"; report-uri="https://b.example/"`, 0, 0, false, "", "more than once"},
		{"unquoted pin", `pin-sha256=` + strings.TrimSuffix(pinA, "=") + `; max-age=1`, 0, 0, false, "", "quoted"},
		{"pin without value", `pin-sha256; max-age=1`, 0, 0, false, "", "quoted"},
		{"pin not base64", `pin-sha256="not base64!"; max-age=1`, 0, 0, false, "", "32-byte"},
		{"pin of 20 bytes", `pin-sha256="AAAAAAAAAAAAAAAAAAAAAAAAAAA="; max-age=1`, 0, 0, false, "", "32-byte"},
		{"negative max-age", `pin-sha256="` + pinA + `"; max-age=-1`, 0, 0, false, "", "delta-seconds"},
		{"includeSubDomains with value", `pin-sha256="` + pinA + `"; max-age=1; includeSubDomains=1`, 0, 0, false, "", "no value"},
		{"unquoted report-uri", `max-age=1; report-uri=x`, 0, 0, false, "", "quoted URI"},
		{"relative report-uri", `max-age=1; report-uri="/report"`, 0, 0, false, "", "absolute"},
		{"comma separated", `max-age=1, pin-sha256="` + pinA + `"`, 0, 0, false, "", "unexpected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseHPKP(tt.header)
			if tt.bad != "" {
				var he *HeaderError
				if !errors.As(err, &he) || !strings.Contains(he.Reason, tt.bad) {
					t.Fatalf("err = %v, want *HeaderError containing %q", err, tt.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Pins) != tt.pins || p.MaxAge != tt.maxAge || p.IncludeSubDomains != tt.sub || p.ReportURI != tt.report {
				t.Fatalf("got %d pins, %+v; want %d pins, max-age %v, sub %v, report %q", len(p.Pins), p, tt.pins, tt.maxAge, tt.sub, tt.report)
			}
			for _, pin := range p.Pins {
				if len(pin) != sha256.Size {
					t.Errorf("pin of %d bytes", len(pin))
				}
			}
		})
	}
}

func b64pin(c *x509.Certificate) string { return spkiSHA256(c) }

// hpkpHeaderFor pins the given certificates' keys plus a backup key that is
// in no chain.
func hpkpHeaderFor(extra string, certs ...*x509.Certificate) string {
	var parts []string
	for _, c := range certs {
		parts = append(parts, `pin-sha256="`+b64pin(c)+`"`)
	}
	backup := sha256.Sum256([]byte("offline backup key"))
	parts = append(parts, `pin-sha256="`+base64.StdEncoding.EncodeToString(backup[:])+`"`, "max-age=3600")
	if extra != "" {
		parts = append(parts, extra)
	}
	return strings.Join(parts, "; ")
}

func TestHPKPStore_ObserveAndCheck_X6(t *testing.T) {
	w := getWorld(t)
	clk := newClock()
	s := &HPKPStore{Now: clk.Now}
	// Pin the intermediate: any key of the validated chain may match.
	if err := s.Observe("example.org", hpkpHeaderFor("includeSubDomains", w.leafInter[1]), w.leafInter); err != nil {
		t.Fatalf("Observe: %v", err)
	}
	if err := s.Observe("plain.example.net", hpkpHeaderFor("", w.leaf[0]), w.leaf); err != nil {
		t.Fatalf("Observe: %v", err)
	}
	tests := []struct {
		name     string
		host     string
		chain    []*x509.Certificate
		wantFail bool
		policy   string
	}{
		{"same chain", "example.org", w.leafInter, false, ""},
		{"other chain", "example.org", w.leafOther, true, "example.org"},
		{"subdomain enforced with includeSubDomains", "xmpp.example.org", w.leafOther, true, "example.org"},
		{"subdomain, pinned chain", "xmpp.example.org", w.leafInter, false, ""},
		{"leaf pin matches", "plain.example.net", w.leaf, false, ""},
		{"leaf pin mismatch", "PLAIN.example.net.", w.leafInter, true, "plain.example.net"},
		{"no includeSubDomains", "sub.plain.example.net", w.leafOther, false, ""},
		{"unpinned host", "example.com", w.leafOther, false, ""},
		{"empty chain on pinned host", "example.org", nil, true, "example.org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Check(tt.host, tt.chain)
			if !tt.wantFail {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			var he *HPKPError
			if !errors.As(err, &he) {
				t.Fatalf("err = %v, want *HPKPError", err)
			}
			if he.PolicyFor != tt.policy || len(he.Pins) == 0 {
				t.Errorf("HPKPError %+v, want policy of %s with pins", he, tt.policy)
			}
			if msg := err.Error(); !strings.Contains(msg, he.Pins[0]) || !strings.Contains(msg, he.Host) {
				t.Errorf("message %q does not name host and pins", msg)
			}
		})
	}
	// Expiry by the injected clock.
	clk.Advance(3600 * time.Second)
	if err := s.Check("example.org", w.leafOther); err != nil {
		t.Errorf("expired policy still enforced: %v", err)
	}
}

func TestHPKPStore_Refusals_X6(t *testing.T) {
	w := getWorld(t)
	s := &HPKPStore{}
	onlyCurrent := `pin-sha256="` + b64pin(w.leafInter[0]) + `"; pin-sha256="` + b64pin(w.leafInter[1]) + `"; max-age=3600`
	var re *HPKPRefusedError
	// RFC 7469 §4.3: no backup pin, not stored.
	if err := s.Observe("example.org", onlyCurrent, w.leafInter); !errors.As(err, &re) || !strings.Contains(re.Reason, "backup") {
		t.Fatalf("no backup pin: err = %v, want *HPKPRefusedError", err)
	}
	// RFC 7469 §2.5: no pin matches the chain, not stored.
	if err := s.Observe("example.org", hpkpHeaderFor("", w.leafOther[0]), w.leafInter); !errors.As(err, &re) {
		t.Fatalf("no matching pin: err = %v, want *HPKPRefusedError", err)
	}
	if err := s.Observe("example.org", hpkpHeaderFor("", w.leaf[0]), nil); !errors.As(err, &re) {
		t.Fatalf("no chain: err = %v, want *HPKPRefusedError", err)
	}
	var he *HeaderError
	if err := s.Observe("example.org", `pin-sha256="`+pinA+`"`, w.leafInter); !errors.As(err, &he) {
		t.Fatalf("invalid header: err = %v, want *HeaderError", err)
	}
	if err := s.Observe("192.0.2.7", hpkpHeaderFor("", w.leafInter[0]), w.leafInter); err != nil {
		t.Fatalf("IP literal: %v", err)
	}
	for _, h := range []string{"example.org", "192.0.2.7"} {
		if err := s.Check(h, w.leafOther); err != nil {
			t.Errorf("%s: a refused header was stored: %v", h, err)
		}
	}
}

func TestHPKPStore_ReportOnlyNotStored_X6(t *testing.T) {
	w := getWorld(t)
	s := &HPKPStore{}
	h := http.Header{}
	h.Set("Public-Key-Pins-Report-Only", hpkpHeaderFor("", w.leaf[0]))
	if err := s.ObserveResponse("example.org", h, w.leaf); err != nil {
		t.Fatal(err)
	}
	if err := s.Check("example.org", w.leafOther); err != nil {
		t.Fatalf("a Report-Only header was enforced: %v", err)
	}
	// Only the first Public-Key-Pins field counts.
	h = http.Header{}
	h.Add("Public-Key-Pins", hpkpHeaderFor("", w.leaf[0]))
	h.Add("Public-Key-Pins", hpkpHeaderFor("includeSubDomains", w.leaf[0]))
	if err := s.ObserveResponse("example.org", h, w.leaf); err != nil {
		t.Fatal(err)
	}
	if err := s.Check("example.org", w.leafOther); err == nil {
		t.Error("first Public-Key-Pins field not stored")
	}
	if err := s.Check("sub.example.org", w.leafOther); err != nil {
		t.Errorf("second field was used: %v", err)
	}
}

func TestHPKPStore_MaxAgeZeroAndCap_X6(t *testing.T) {
	w := getWorld(t)
	clk := newClock()
	s := &HPKPStore{Now: clk.Now}
	long := strings.Replace(hpkpHeaderFor("", w.leaf[0]), "max-age=3600", "max-age=31536000", 1)
	if err := s.Observe("example.org", long, w.leaf); err != nil {
		t.Fatal(err)
	}
	if err := s.Check("example.org", w.leafOther); err == nil {
		t.Fatal("policy not enforced")
	}
	clk.Advance(MaxHPKPAge)
	if err := s.Check("example.org", w.leafOther); err != nil {
		t.Errorf("a one-year max-age outlived the %v cap: %v", MaxHPKPAge, err)
	}
	if err := s.Observe("example.org", hpkpHeaderFor("", w.leaf[0]), w.leaf); err != nil {
		t.Fatal(err)
	}
	if err := s.Observe("example.org", "max-age=0", w.leaf); err != nil {
		t.Fatal(err)
	}
	if err := s.Check("example.org", w.leafOther); err != nil {
		t.Errorf("max-age=0 did not forget the host: %v", err)
	}
}

func TestHPKPStore_Persistence_X6(t *testing.T) {
	w := getWorld(t)
	path := filepath.Join(t.TempDir(), "hpkp.json")
	a := &HPKPStore{Path: path}
	if err := a.Observe("example.org", hpkpHeaderFor(`report-uri="https://r.example.org/pkp"`, w.leaf[0]), w.leaf); err != nil {
		t.Fatal(err)
	}
	b := &HPKPStore{Path: path}
	var he *HPKPError
	if err := b.Check("example.org", w.leafOther); !errors.As(err, &he) || he.ReportURI != "https://r.example.org/pkp" {
		t.Fatalf("reloaded store: err = %v, want *HPKPError with report-uri", err)
	}
	if err := b.Check("example.org", w.leaf); err != nil {
		t.Fatal(err)
	}
	// A damaged file fails closed on Check.
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	var se *StoreError
	if err := (&HPKPStore{Path: path}).Check("example.org", w.leaf); !errors.As(err, &se) {
		t.Fatalf("corrupt store: err = %v, want *StoreError", err)
	}
}

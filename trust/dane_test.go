package trust

import (
	"crypto/x509"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func tlsa(usage, selector, matching uint8, data string) *dns.TLSA {
	return &dns.TLSA{
		Hdr:   dns.RR_Header{Name: "_5223._tcp.example.org.", Rrtype: dns.TypeTLSA, Class: dns.ClassINET, Ttl: 300},
		Usage: usage, Selector: selector, MatchingType: matching, Certificate: data,
	}
}

func TestVerifyDANE_X4(t *testing.T) {
	w := getWorld(t)
	leaf, inter, root := w.leafInter[0], w.leafInter[1], w.inter.Cert
	names := []string{"example.org"}
	empty := x509.NewCertPool()
	spki256 := func(c *x509.Certificate) string { return hexSHA256(c.RawSubjectPublicKeyInfo) }
	// far future: DANE-EE ignores expiry (RFC 7671 §5.1), others do not.
	later := time.Now().Add(10 * 365 * 24 * time.Hour)
	const (
		ok       = "ok"
		noUsable = "no usable"
		mismatch = "mismatch"
	)
	tests := []struct {
		name  string
		recs  []*dns.TLSA
		certs []*x509.Certificate
		opts  VerifyOptions
		want  string
	}{
		// usage 3 DANE-EE
		{"3 1 1 leaf SPKI", []*dns.TLSA{tlsa(3, 1, 1, spki256(leaf))}, w.leafInter, VerifyOptions{Roots: empty}, ok},
		{"3 1 1 upper-case hex", []*dns.TLSA{tlsa(3, 1, 1, strings.ToUpper(spki256(leaf)))}, w.leafInter, VerifyOptions{Roots: empty}, ok},
		{"3 0 0 full leaf cert", []*dns.TLSA{tlsa(3, 0, 0, hex.EncodeToString(leaf.Raw))}, w.leafInter, VerifyOptions{Roots: empty}, ok},
		{"3 0 1 leaf cert sha-256", []*dns.TLSA{tlsa(3, 0, 1, hexSHA256(leaf.Raw))}, w.leafInter, VerifyOptions{Roots: empty}, ok},
		{"3 1 2 leaf SPKI sha-512", []*dns.TLSA{tlsa(3, 1, 2, hexSHA512(leaf.RawSubjectPublicKeyInfo))}, w.leafInter, VerifyOptions{Roots: empty}, ok},
		{"3 1 0 full SPKI", []*dns.TLSA{tlsa(3, 1, 0, hex.EncodeToString(leaf.RawSubjectPublicKeyInfo))}, w.leafInter, VerifyOptions{Roots: empty}, ok},
		{"3: no name or expiry check", []*dns.TLSA{tlsa(3, 1, 1, spki256(w.self[0]))}, w.self, VerifyOptions{Roots: empty, Names: []string{"other.example"}, Now: later}, ok},
		{"3 1 1 mismatch", []*dns.TLSA{tlsa(3, 1, 1, spki256(w.leafOther[0]))}, w.leafInter, VerifyOptions{Roots: empty}, mismatch},
		{"3 0 1 SPKI digest under cert selector", []*dns.TLSA{tlsa(3, 0, 1, spki256(leaf))}, w.leafInter, VerifyOptions{Roots: empty}, mismatch},
		{"3 on an intermediate does not match the leaf", []*dns.TLSA{tlsa(3, 1, 1, spki256(inter))}, w.leafInter, VerifyOptions{Roots: empty}, mismatch},

		// usage 2 DANE-TA
		{"2 1 1 presented intermediate", []*dns.TLSA{tlsa(2, 1, 1, spki256(inter))}, w.leafInter, VerifyOptions{Roots: empty, Names: names}, ok},
		{"2 0 0 root not presented, carried in record", []*dns.TLSA{tlsa(2, 0, 0, hex.EncodeToString(root.Raw))}, w.leafInter, VerifyOptions{Roots: empty, Names: names}, ok},
		{"2 1 1 root only in Roots", []*dns.TLSA{tlsa(2, 1, 1, spki256(root))}, w.leafInter, VerifyOptions{Roots: w.inter.Pool(), Names: names}, ok},
		{"2 1 1 root nowhere", []*dns.TLSA{tlsa(2, 1, 1, spki256(root))}, w.leafInter, VerifyOptions{Roots: empty, Names: names}, mismatch},
		{"2 wrong name", []*dns.TLSA{tlsa(2, 1, 1, spki256(inter))}, w.leafInter, VerifyOptions{Roots: empty, Names: []string{"example.net"}}, mismatch},
		{"2 expired", []*dns.TLSA{tlsa(2, 1, 1, spki256(inter))}, w.leafInter, VerifyOptions{Roots: empty, Names: names, Now: later}, mismatch},
		{"2 matching the leaf only", []*dns.TLSA{tlsa(2, 1, 1, spki256(leaf))}, w.leafInter, VerifyOptions{Roots: empty, Names: names}, mismatch},
		{"2 presented CA that did not sign the leaf", []*dns.TLSA{tlsa(2, 1, 1, spki256(root))},
			append(append([]*x509.Certificate{}, w.leafOther...), root), VerifyOptions{Roots: empty, Names: names}, mismatch},

		// usage 1 PKIX-EE
		{"1 1 1 leaf + WebPKI", []*dns.TLSA{tlsa(1, 1, 1, spki256(leaf))}, w.leafInter, VerifyOptions{Roots: w.inter.Pool(), Names: names}, ok},
		{"1 1 1 leaf, WebPKI fails", []*dns.TLSA{tlsa(1, 1, 1, spki256(leaf))}, w.leafInter, VerifyOptions{Roots: empty, Names: names}, mismatch},
		{"1 1 1 leaf, wrong name", []*dns.TLSA{tlsa(1, 1, 1, spki256(leaf))}, w.leafInter, VerifyOptions{Roots: w.inter.Pool(), Names: []string{"example.net"}}, mismatch},
		{"1 other key, WebPKI fine", []*dns.TLSA{tlsa(1, 1, 1, spki256(w.leafOther[0]))}, w.leafInter, VerifyOptions{Roots: w.inter.Pool(), Names: names}, mismatch},

		// usage 0 PKIX-TA
		{"0 1 1 intermediate + WebPKI", []*dns.TLSA{tlsa(0, 1, 1, spki256(inter))}, w.leafInter, VerifyOptions{Roots: w.inter.Pool(), Names: names}, ok},
		{"0 0 1 root in verified chain", []*dns.TLSA{tlsa(0, 0, 1, hexSHA256(root.Raw))}, w.leafInter, VerifyOptions{Roots: w.inter.Pool(), Names: names}, ok},
		{"0 intermediate, WebPKI fails", []*dns.TLSA{tlsa(0, 1, 1, spki256(inter))}, w.leafInter, VerifyOptions{Roots: empty, Names: names}, mismatch},
		{"0 on the leaf is not a TA", []*dns.TLSA{tlsa(0, 1, 1, spki256(leaf))}, w.leafInter, VerifyOptions{Roots: w.inter.Pool(), Names: names}, mismatch},

		// unusable sets (RFC 7671 §4.1)
		{"empty set", nil, w.leafInter, VerifyOptions{}, noUsable},
		{"usage 4", []*dns.TLSA{tlsa(4, 1, 1, spki256(leaf))}, w.leafInter, VerifyOptions{}, noUsable},
		{"selector 2", []*dns.TLSA{tlsa(3, 2, 1, spki256(leaf))}, w.leafInter, VerifyOptions{}, noUsable},
		{"matching 3", []*dns.TLSA{tlsa(3, 1, 3, spki256(leaf))}, w.leafInter, VerifyOptions{}, noUsable},
		{"bad hex", []*dns.TLSA{tlsa(3, 1, 1, "zz"+spki256(leaf)[2:])}, w.leafInter, VerifyOptions{}, noUsable},
		{"sha-256 of wrong length", []*dns.TLSA{tlsa(3, 1, 1, spki256(leaf)[:40])}, w.leafInter, VerifyOptions{}, noUsable},
		{"sha-512 given a sha-256", []*dns.TLSA{tlsa(3, 1, 2, spki256(leaf))}, w.leafInter, VerifyOptions{}, noUsable},
		{"nil record", []*dns.TLSA{nil}, w.leafInter, VerifyOptions{}, noUsable},
		{"unusable ignored, usable matches", []*dns.TLSA{tlsa(7, 1, 1, "00"), tlsa(3, 1, 1, spki256(leaf))}, w.leafInter, VerifyOptions{}, ok},
		{"usable mismatch beside unusable", []*dns.TLSA{tlsa(7, 1, 1, spki256(leaf)), tlsa(3, 1, 1, spki256(inter))}, w.leafInter, VerifyOptions{}, mismatch},
		{"one of several matches", []*dns.TLSA{tlsa(3, 1, 1, spki256(w.leafOther[0])), tlsa(2, 1, 1, spki256(inter))}, w.leafInter, VerifyOptions{Roots: empty, Names: names}, ok},
		{"no certificate", []*dns.TLSA{tlsa(3, 1, 1, spki256(leaf))}, nil, VerifyOptions{}, mismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyDANE(tt.recs, tt.certs, tt.opts)
			switch tt.want {
			case ok:
				if err != nil {
					t.Fatalf("VerifyDANE: %v", err)
				}
			case noUsable:
				if !errors.Is(err, ErrNoUsableTLSA) {
					t.Fatalf("err = %v, want ErrNoUsableTLSA", err)
				}
			case mismatch:
				var de *DANEError
				if !errors.As(err, &de) {
					t.Fatalf("err = %v (%T), want *DANEError", err, err)
				}
				if errors.Is(err, ErrNoUsableTLSA) {
					t.Fatal("a usable set must not report ErrNoUsableTLSA")
				}
				if len(de.Records) == 0 || !strings.Contains(err.Error(), de.Records[0]) {
					t.Errorf("message %q does not list the records", err)
				}
				if len(tt.certs) > 0 && !strings.Contains(err.Error(), spki256(tt.certs[0])) {
					t.Errorf("message %q does not name the leaf key", err)
				}
			}
		})
	}
}

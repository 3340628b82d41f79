package trust

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"hacx.dev/hacx"
)

func TestVerifyWebPKI_A10(t *testing.T) {
	w := getWorld(t)
	tests := []struct {
		name    string
		certs   []*x509.Certificate
		opts    VerifyOptions
		wantErr any // nil, or a pointer to the error type expected via errors.As
	}{
		{"root-signed leaf, domain", w.leaf, VerifyOptions{Roots: w.root.Pool(), Names: []string{"example.org"}}, nil},
		{"via intermediate", w.leafInter, VerifyOptions{Roots: w.inter.Pool(), Names: []string{"example.org"}}, nil},
		{"second name (URL host) accepted", w.leafInter, VerifyOptions{Roots: w.inter.Pool(), Names: []string{"xmpp.example.net", "chat.example.org"}}, nil},
		{"name case-insensitive", w.leaf, VerifyOptions{Roots: w.root.Pool(), Names: []string{"EXAMPLE.ORG"}}, nil},
		{"name with trailing dot", w.leaf, VerifyOptions{Roots: w.root.Pool(), Names: []string{"example.org."}}, nil},
		{"wrong name", w.leaf, VerifyOptions{Roots: w.root.Pool(), Names: []string{"example.net"}}, new(*NameError)},
		{"no names", w.leaf, VerifyOptions{Roots: w.root.Pool()}, new(*NameError)},
		{"unknown CA", w.leafOther, VerifyOptions{Roots: w.root.Pool(), Names: []string{"example.org"}}, new(x509.UnknownAuthorityError)},
		{"self-signed", w.self, VerifyOptions{Roots: w.root.Pool(), Names: []string{"example.org"}}, new(x509.UnknownAuthorityError)},
		{"intermediate missing", w.leafInter[:1], VerifyOptions{Roots: w.inter.Pool(), Names: []string{"example.org"}}, new(x509.UnknownAuthorityError)},
		{"expired", w.expired, VerifyOptions{Roots: w.root.Pool(), Names: []string{"example.org"}}, new(x509.CertificateInvalidError)},
		{"not yet valid at Now", w.leaf, VerifyOptions{Roots: w.root.Pool(), Names: []string{"example.org"}, Now: time.Now().Add(-72 * time.Hour)}, new(x509.CertificateInvalidError)},
		{"no certificate", nil, VerifyOptions{Roots: w.root.Pool(), Names: []string{"example.org"}}, new(error)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chains, err := VerifyWebPKI(tt.certs, tt.opts)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("VerifyWebPKI: %v", err)
				}
				if len(chains) == 0 || chains[0][0] != tt.certs[0] {
					t.Fatalf("chains = %v, want chains starting at the leaf", chains)
				}
				return
			}
			if err == nil {
				t.Fatal("VerifyWebPKI succeeded, want error")
			}
			if !errors.As(err, tt.wantErr) {
				t.Fatalf("error %v (%T) is not %T", err, err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "trust: ") {
				t.Errorf("error %q lacks package prefix", err)
			}
		})
	}
}

func TestVerifyPins_A9(t *testing.T) {
	w := getWorld(t)
	root := w.root.Cert
	interRoot := w.inter.Cert
	intermediate := w.leafInter[1]
	names := []string{"example.org"}
	empty := x509.NewCertPool()
	unknownHash := hacx.Pin{Digests: []hacx.Digest{{Hash: "sha-999", Value: make([]byte, 32)}}}
	tests := []struct {
		name   string
		pins   []hacx.Pin
		certs  []*x509.Certificate
		opts   VerifyOptions
		ok     bool
		reason string // substring of PinError.Reason when !ok
	}{
		{"leaf pin replaces CA: self-signed accepted", []hacx.Pin{pinOf(t, w.self[0])}, w.self,
			VerifyOptions{Roots: empty, Names: []string{"wrong.example"}}, true, ""},
		{"leaf pin: expired cert accepted", []hacx.Pin{pinOf(t, w.expired[0])}, w.expired,
			VerifyOptions{Roots: empty}, true, ""},
		{"leaf pin among others", []hacx.Pin{pinOf(t, w.leafOther[0]), pinOf(t, w.self[0], "sha-512")}, w.self,
			VerifyOptions{Roots: empty}, true, ""},
		{"leaf pin: strongest digest decides", []hacx.Pin{{Digests: append(weakPin(w.leafOther[0]).Digests, pinOf(t, w.self[0], "sha-384").Digests...)}}, w.self,
			VerifyOptions{Roots: empty}, true, ""},
		{"CA pin, chain verified to Roots", []hacx.Pin{pinOf(t, root)}, w.leaf,
			VerifyOptions{Roots: w.root.Pool(), Names: names}, true, ""},
		{"CA pin, root presented, not in Roots", []hacx.Pin{pinOf(t, root)}, append(append([]*x509.Certificate{}, w.leaf...), root),
			VerifyOptions{Roots: empty, Names: names}, true, ""},
		{"CA pin, no chain to it", []hacx.Pin{pinOf(t, root)}, w.leaf,
			VerifyOptions{Roots: empty, Names: names}, false, "no pin matches"},
		{"CA pin, root presented but leaf not signed by it", []hacx.Pin{pinOf(t, root)}, append(append([]*x509.Certificate{}, w.leafOther...), root),
			VerifyOptions{Roots: empty, Names: names}, false, "does not verify"},
		{"CA pin, wrong name", []hacx.Pin{pinOf(t, root)}, w.leaf,
			VerifyOptions{Roots: w.root.Pool(), Names: []string{"example.net"}}, false, "name check"},
		{"CA pin, expired leaf", []hacx.Pin{pinOf(t, root)}, append(append([]*x509.Certificate{}, w.expired...), root),
			VerifyOptions{Roots: empty, Names: names}, false, "does not verify"},
		{"intermediate pin, presented, Roots empty", []hacx.Pin{pinOf(t, intermediate)}, w.leafInter,
			VerifyOptions{Roots: empty, Names: names}, true, ""},
		{"intermediate pin, URL-host name", []hacx.Pin{pinOf(t, intermediate)}, w.leafInter,
			VerifyOptions{Roots: empty, Names: []string{"example.net", "chat.example.org"}}, true, ""},
		{"intermediate pin, wrong name", []hacx.Pin{pinOf(t, intermediate)}, w.leafInter,
			VerifyOptions{Roots: empty, Names: []string{"example.net"}}, false, "name check"},
		{"root pin above intermediate, root in Roots", []hacx.Pin{pinOf(t, interRoot)}, w.leafInter,
			VerifyOptions{Roots: w.inter.Pool(), Names: names}, true, ""},
		{"weak-only pins fail closed even when they match", []hacx.Pin{weakPin(w.self[0])}, w.self,
			VerifyOptions{Roots: empty}, false, "no usable pin"},
		{"unknown hash fails closed", []hacx.Pin{unknownHash}, w.self,
			VerifyOptions{Roots: empty}, false, "no usable pin"},
		{"no pins at all fails closed", nil, w.self, VerifyOptions{Roots: empty}, false, "no usable pin"},
		{"weak match ignored, strong mismatch", []hacx.Pin{weakPin(w.self[0]), pinOf(t, w.leafOther[0])}, w.self,
			VerifyOptions{Roots: empty}, false, "no pin matches"},
		{"wrong leaf key", []hacx.Pin{pinOf(t, w.leafOther[0])}, w.leaf,
			VerifyOptions{Roots: w.root.Pool(), Names: names}, false, "no pin matches"},
		{"no certificate", []hacx.Pin{pinOf(t, w.self[0])}, nil, VerifyOptions{}, false, "no certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyPins(tt.pins, tt.certs, tt.opts)
			if tt.ok {
				if err != nil {
					t.Fatalf("VerifyPins: %v", err)
				}
				return
			}
			var pe *PinError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want *PinError", err, err)
			}
			if !strings.Contains(pe.Reason, tt.reason) {
				t.Errorf("reason %q, want it to contain %q", pe.Reason, tt.reason)
			}
			// The message names the expected pins and the presented keys.
			msg := err.Error()
			for _, p := range pe.Expected {
				if !strings.Contains(msg, p) {
					t.Errorf("message %q lacks expected pin %s", msg, p)
				}
			}
			if len(tt.certs) > 0 {
				if want := spkiSHA256(tt.certs[0]); !strings.Contains(msg, want) {
					t.Errorf("message %q lacks presented leaf key %s", msg, want)
				}
			}
		})
	}
}

func TestVerifyPins_NameErrorUnwraps_A9(t *testing.T) {
	w := getWorld(t)
	err := VerifyPins([]hacx.Pin{pinOf(t, w.leafInter[1])}, w.leafInter, VerifyOptions{Roots: x509.NewCertPool(), Names: []string{"example.net"}})
	var ne *NameError
	if !errors.As(err, &ne) || ne.Names[0] != "example.net" {
		t.Fatalf("err = %v, want a wrapped *NameError for example.net", err)
	}
}

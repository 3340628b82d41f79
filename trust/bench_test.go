package trust

import (
	"path/filepath"
	"testing"

	"hacx.dev/hacx"
)

func BenchmarkVerifyPins_Leaf(b *testing.B) {
	w := getWorld(b)
	pins := []hacx.Pin{pinOf(b, w.self[0])}
	for b.Loop() {
		if err := VerifyPins(pins, w.self, VerifyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyPins_Intermediate(b *testing.B) {
	w := getWorld(b)
	pins := []hacx.Pin{pinOf(b, w.leafInter[1])}
	opts := VerifyOptions{Roots: pool(), Names: []string{"example.org"}}
	for b.Loop() {
		if err := VerifyPins(pins, w.leafInter, opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHSTSKnown_File(b *testing.B) {
	s := &HSTSStore{Path: filepath.Join(b.TempDir(), "hsts.json")}
	if err := s.Observe("example.org", "max-age=600; includeSubDomains"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !s.Known("a.b.example.org") {
			b.Fatal("not known")
		}
	}
}

func BenchmarkHSTSObserve_File(b *testing.B) {
	s := &HSTSStore{Path: filepath.Join(b.TempDir(), "hsts.json")}
	for b.Loop() {
		if err := s.Observe("example.org", "max-age=600"); err != nil {
			b.Fatal(err)
		}
	}
}

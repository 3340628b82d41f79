package discover

import (
	"context"
	"testing"
	"time"

	"hacx.dev/hacx"
)

// BenchmarkLookupCached measures a Lookup answered from a warm cache (H5):
// the document is fresh, so no network is used at all. The goal is at most
// 50 µs per lookup. As a baseline measured in the same run it also times
// uncached lookups (a full HTTPS fetch over loopback, TLS handshake
// included) and reports how many times faster the cached path is.
func BenchmarkLookupCached(b *testing.B) {
	for _, bc := range []struct {
		name  string
		cache func(b *testing.B) Cache
	}{
		{"MemCache", func(*testing.B) Cache { return &MemCache{} }},
		{"DirCache", func(b *testing.B) Cache { return DirCache(b.TempDir()) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w := newWorld(b)
			requests := w.serve(files{"/.well-known/xmpp-client.xml": docA}, []string{"example.test"}, "example.test")
			r := w.resolver()
			r.Cache = bc.cache(b)
			ctx := context.Background()

			const fetches = 20
			start := time.Now()
			for range fetches {
				nocache := w.resolver()
				if _, err := nocache.Lookup(ctx, "example.test", hacx.Client); err != nil {
					b.Fatal(err)
				}
			}
			fetchNs := float64(time.Since(start).Nanoseconds()) / fetches

			if _, err := r.Lookup(ctx, "example.test", hacx.Client); err != nil { // warm-up
				b.Fatal(err)
			}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				res, err := r.Lookup(ctx, "example.test", hacx.Client)
				if err != nil || len(res.Routes) != 2 || !res.Sources[0].Cached {
					b.Fatalf("lookup: %v", err)
				}
				n++
			}
			if got := requests.Load(); got != fetches+1 {
				b.Fatalf("%d HTTPS requests, want %d (baseline and warm-up only)", got, fetches+1)
			}
			cachedNs := float64(b.Elapsed().Nanoseconds()) / float64(n)
			b.ReportMetric(fetchNs, "fetch-ns")
			b.ReportMetric(fetchNs/cachedNs, "x-faster-than-fetch")
		})
	}
}

package discover

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"

	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/internal/testenv"
)

// BenchmarkTLSALookup measures a validated TLSA lookup (D1) against the
// nsd tree, in one run: cold (a new Resolver: the chain of trust is
// fetched, DNSKEY and DS from the root down, 6 queries), warm (the same
// Resolver again: remembered, no query), warm from the disk cache only
// (a new Resolver over a DirCache filled before: no query, every
// signature checked again) and, as the baseline of --dnssec resolver, a
// new Resolver trusting the AD bit of a validating unbound that already
// holds the answer (one query). It reports the cold, disk and resolver
// times and how many times faster the warm path is than each.
func BenchmarkTLSALookup(b *testing.B) {
	testenv.Require(b, testbed.UnboundAvailable())
	w, _ := newNSDWorld(b)
	ds := w.anchor.(*dns.DS)
	anchor := fmt.Sprintf(". DS %d %d %d %s", ds.KeyTag, ds.Algorithm, ds.DigestType, ds.Digest)
	u, err := testbed.StartUnbound(b.Context(), testbed.UnboundConfig{Upstream: w.nsd.Addr, TrustAnchors: []string{anchor}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { u.Close() })
	ctx := context.Background()
	lookup := func(r *Resolver, wantSecure bool) {
		recs, secure, err := r.LookupTLSA(ctx, "example.test", 443)
		if err != nil || len(recs) != 1 || secure != wantSecure {
			b.Fatalf("LookupTLSA: %d records, secure %v, %v", len(recs), secure, err)
		}
	}
	perOp := func(n int, f func()) float64 {
		start := time.Now()
		for range n {
			f()
		}
		return float64(time.Since(start).Nanoseconds()) / float64(n)
	}

	coldNs := perOp(50, func() { lookup(w.resolver(), true) })

	dir := DirCache(b.TempDir())
	filler := w.resolver()
	filler.Cache = dir
	lookup(filler, true)
	diskNs := perOp(50, func() {
		r := w.resolver()
		r.Cache = dir
		r.DNSServer = "127.0.0.1:1" // nothing listens: any query would fail the lookup
		lookup(r, true)
	})

	viaUnbound := func() *Resolver {
		r := w.resolver()
		r.DNSServer, r.DNSSEC = u.Addr, DNSSECResolver
		return r
	}
	lookup(viaUnbound(), true) // unbound validates and caches it once
	resolverNs := perOp(200, func() { lookup(viaUnbound(), true) })

	r := w.resolver()
	lookup(r, true)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		lookup(r, true)
		n++
	}
	warmNs := float64(b.Elapsed().Nanoseconds()) / float64(n)
	b.ReportMetric(coldNs, "cold-ns")
	b.ReportMetric(diskNs, "disk-ns")
	b.ReportMetric(resolverNs, "resolver-ns")
	b.ReportMetric(coldNs/warmNs, "x-faster-than-cold")
	b.ReportMetric(diskNs/warmNs, "x-faster-than-disk")
	b.ReportMetric(resolverNs/warmNs, "x-faster-than-resolver")
	b.ReportMetric(coldNs/resolverNs, "cold-vs-resolver")
}

package discover

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"hacx.dev/hacx"
)

// switchable serves the document until broken is set, then 503.
type switchable struct {
	body   string
	broken atomic.Bool
}

func (s *switchable) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if s.broken.Load() {
		http.Error(rw, "blocked", http.StatusServiceUnavailable)
		return
	}
	if s.body == "" {
		http.NotFound(rw, r)
		return
	}
	rw.Write([]byte(s.body))
}

func TestCache_FreshServedWithoutNetwork_H5(t *testing.T) {
	w := newWorld(t)
	n := w.serve(files{"/.well-known/xmpp-client.xml": docA}, []string{"example.test"}, "example.test")
	clk := &clock{t: time.Now()}
	r := w.resolver()
	r.Cache, r.Now = &MemCache{}, clk.Now
	if _, err := lookupNever(t, r, "example.test"); err != nil {
		t.Fatal(err)
	}
	clk.Add(59 * time.Second) // docA has ttl=60
	dialsBefore := w.dials.Load()
	res, err := lookupNever(t, r, "example.test")
	if err != nil {
		t.Fatal(err)
	}
	if n.Load() != 1 || w.dials.Load() != dialsBefore {
		t.Errorf("requests = %d, dials +%d; want 1 request and no dial for a fresh entry", n.Load(), w.dials.Load()-dialsBefore)
	}
	if s := res.Sources[0]; !s.Cached || s.Stale || len(res.Routes) != 2 {
		t.Errorf("source = %+v, routes %d", s, len(res.Routes))
	}

	clk.Add(2 * time.Second) // expired: refetch
	if res, err = lookupNever(t, r, "example.test"); err != nil || res.Sources[0].Cached {
		t.Fatalf("after ttl: cached=%v err=%v", res.Sources[0].Cached, err)
	}
	if n.Load() != 2 {
		t.Errorf("requests = %d after expiry, want 2", n.Load())
	}
}

func TestCache_StaleUsedWhenRefetchFails_H5(t *testing.T) {
	w := newWorld(t)
	sw := &switchable{body: docA}
	w.serve(sw, []string{"example.test"}, "example.test")
	clk := &clock{t: time.Now()}
	fetchedAt := clk.Now()
	r := w.resolver()
	r.Cache, r.Now = DirCache(t.TempDir()), clk.Now
	if _, err := lookupNever(t, r, "example.test"); err != nil {
		t.Fatal(err)
	}
	sw.broken.Store(true)
	clk.Add(10 * time.Minute)
	res, err := lookupNever(t, r, "example.test")
	if err != nil {
		t.Fatalf("stale copy not used: %v", err)
	}
	s := res.Sources[0]
	if !res.Stale || !s.Stale || !s.Cached || s.Err == nil || len(res.Routes) != 2 {
		t.Fatalf("result stale=%v source %+v routes %d", res.Stale, s, len(res.Routes))
	}
	if want := fetchedAt.Add(60 * time.Second); !res.StaleSince.Equal(want) || !s.FetchedAt.Equal(fetchedAt) {
		t.Errorf("StaleSince = %v FetchedAt = %v, want %v and %v", res.StaleSince, s.FetchedAt, want, fetchedAt)
	}
	var fe *FetchError
	if !errors.As(s.Err, &fe) || fe.StatusCode != 503 {
		t.Errorf("source error = %v, want the 503", s.Err)
	}

	// Without a cached copy the same failure is an error.
	r2 := w.resolver()
	if _, err := lookupNever(t, r2, "example.test"); err == nil {
		t.Error("no cache: failure not reported")
	}
}

func TestCache_404CachedForDefaultTTL_H5(t *testing.T) {
	w := newWorld(t)
	n := w.serve(files{}, []string{"example.test"}, "example.test")
	clk := &clock{t: time.Now()}
	r := w.resolver()
	r.Cache, r.Now = &MemCache{}, clk.Now
	for i := 0; i < 2; i++ {
		res, err := lookupNever(t, r, "example.test")
		if err != nil || res.Sources[0].Status != StatusNone {
			t.Fatalf("lookup %d: %v %+v", i, err, res.Sources[0])
		}
		clk.Add(29 * time.Second)
	}
	if n.Load() != 1 {
		t.Errorf("requests = %d, want 1 (404 cached for 30 s)", n.Load())
	}
	clk.Add(2 * time.Second)
	lookupNever(t, r, "example.test")
	if n.Load() != 2 {
		t.Errorf("requests = %d, want 2 after 30 s", n.Load())
	}
}

func TestCache_KeyIsolatesDomainAndKind_H5(t *testing.T) {
	w := newWorld(t)
	const docB = `<hacx ttl="600"><tls ip="127.0.0.9" port="5223" priority="1" sni="b.test"/></hacx>`
	na := w.serve(files{"/.well-known/xmpp-client.xml": docA}, []string{"a.test"}, "a.test")
	nb := w.serve(files{"/.well-known/xmpp-client.xml": docB, "/.well-known/xmpp-server.xml": docA}, []string{"b.test"}, "b.test")
	r := w.resolver()
	r.Cache = &MemCache{}
	r.Fallback = FallbackNever
	ctx := context.Background()
	ra, err := r.Lookup(ctx, "a.test", hacx.Client)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := r.Lookup(ctx, "b.test", hacx.Client)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := r.Lookup(ctx, "b.test", hacx.Server)
	if err != nil {
		t.Fatal(err)
	}
	if len(ra.Routes) != 2 || len(rb.Routes) != 1 || rb.Routes[0].Addr.Addr().String() != "127.0.0.9" || len(rs.Routes) != 2 {
		t.Errorf("routes a=%v b=%v b-server=%v", ra.Routes, rb.Routes, rs.Routes)
	}
	if rb.Sources[0].Cached || rs.Sources[0].Cached || na.Load() != 1 || nb.Load() != 2 {
		t.Errorf("a cached entry served for another domain or kind (requests a=%d b=%d)", na.Load(), nb.Load())
	}
}

func TestDirCache_AtomicFilesAndModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	c := DirCache(dir)
	ctx := context.Background()
	if _, err := c.Get(ctx, "k"); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("Get on empty: %v", err)
	}
	if err := c.Put(ctx, "hacx+client+example.test", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx, "hacx+client+example.test", []byte("two")); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, "hacx+client+example.test")
	if err != nil || string(got) != "two" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	di, _ := os.Stat(dir)
	fi, _ := os.Stat(filepath.Join(dir, "hacx+client+example.test"))
	if di.Mode().Perm() != 0o700 || fi.Mode().Perm() != 0o600 {
		t.Errorf("modes dir %v file %v, want 0700 and 0600", di.Mode().Perm(), fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	for _, bad := range []string{"", "..", "a/b", `a\b`} {
		if err := c.Put(ctx, bad, nil); err == nil {
			t.Errorf("Put(%q) accepted", bad)
		}
	}
	if err := c.Delete(ctx, "hacx+client+example.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "hacx+client+example.test"); err != nil {
		t.Errorf("second Delete: %v", err)
	}
}

func TestMemCache_CopiesValues(t *testing.T) {
	var c MemCache
	ctx := context.Background()
	v := []byte("abc")
	c.Put(ctx, "k", v)
	v[0] = 'x'
	got, _ := c.Get(ctx, "k")
	got[1] = 'y'
	again, _ := c.Get(ctx, "k")
	if string(again) != "abc" {
		t.Errorf("stored value changed through aliases: %q", again)
	}
	c.Delete(ctx, "k")
	if _, err := c.Get(ctx, "k"); !errors.Is(err, ErrCacheMiss) {
		t.Errorf("after Delete: %v", err)
	}
}

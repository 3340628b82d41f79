package dial_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/discover"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/loopback"
)

// BenchmarkRacingVsSequential measures time to a verified stream when the
// first three routes are blackholed (TCP accepted, never a byte back) and
// the fourth works: the case Happy Eyeballs racing (C5) exists for.
//
//   - sequential: Stagger < 0, 5 s per-phase timeouts, so each blackhole
//     costs its full handshake timeout before the next route starts (the
//     baseline, about 15 s per op);
//   - racing: the default Dialer without memory, where each dead route
//     costs only the adaptive stagger (100-250 ms).
//
// Run it with one op each (the baseline is slow):
//
//	go test -run '^$' -bench RacingVsSequential -benchtime=1x ./dial/
//
// Each sub-benchmark reports ms/stream; racing, run after the baseline,
// also reports the speed-up as x-faster and logs both.
func BenchmarkRacingVsSequential(b *testing.B) {
	ca := newCA(b)
	cert := issue(b, ca, domain)
	routes := stalledRoutes(b, cert)
	good, err := hacxtest.StartXMPP("127.0.0.5:0", cert, hacxtest.XMPPConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { good.Close() })
	routes = append(routes, route(hacx.MethodTLS, good.Addr(), 4))

	perOp := func(b *testing.B, d *dial.Dialer) time.Duration {
		return timeToStream(b, d, routes, nil, wonBy(4))
	}

	var sequential, racing time.Duration
	b.Run("sequential", func(b *testing.B) {
		sequential = perOp(b, &dial.Dialer{Roots: ca.Pool(), TLSA: dial.NoDANE, Stagger: -1, Memory: dial.NoMemory,
			ConnectTimeout: 5 * time.Second, HandshakeTimeout: 5 * time.Second, StreamTimeout: 5 * time.Second})
	})
	b.Run("racing", func(b *testing.B) {
		racing = perOp(b, &dial.Dialer{Roots: ca.Pool(), TLSA: dial.NoDANE, Memory: dial.NoMemory})
		if sequential > 0 {
			b.ReportMetric(float64(sequential)/float64(racing), "x-faster")
			b.Log(ratioLine(racing, sequential))
		}
	})
}

// stalledRoutes are three routes on 127.0.0.2-4 that accept TCP and
// never answer the ClientHello: the dead addresses racing exists for.
func stalledRoutes(b *testing.B, cert *tls.Certificate) []hacx.Route {
	var routes []hacx.Route
	for i, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		hole := startTLS(b, ip, cert, domain, modeBlackhole)
		routes = append(routes, route(hacx.MethodTLS, hole.addr, i+1))
	}
	return routes
}

// timeToStream runs d over routes b.N times, before (if set) preparing
// each run and check (if set) inspecting each connection outside the
// clock, and reports the mean time to a verified stream as ms/stream.
func timeToStream(b *testing.B, d *dial.Dialer, routes []hacx.Route, before func(), check func(*testing.B, *dial.Conn)) time.Duration {
	var total time.Duration
	for b.Loop() {
		if before != nil {
			before()
		}
		start := time.Now()
		c, err := d.DialRoutes(context.Background(), domain, hacx.Client, routes)
		el := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if check != nil {
			check(b, c)
		}
		c.Close()
		total += el
	}
	mean := total / time.Duration(b.N)
	b.ReportMetric(float64(mean.Microseconds())/1000, "ms/stream")
	return mean
}

// wonBy checks that the route of index i won.
func wonBy(i int) func(*testing.B, *dial.Conn) {
	return func(b *testing.B, c *dial.Conn) {
		if c.Route.Index != i {
			b.Fatalf("route %d won, want %d", c.Route.Index, i)
		}
	}
}

// reportRatio reports m against base (measured before it in the same run)
// as unit, when base was measured.
func reportRatio(b *testing.B, m, base time.Duration, unit string) {
	if base > 0 {
		b.ReportMetric(float64(m)/float64(base), unit)
	}
}

func ratioLine(racing, sequential time.Duration) string {
	return fmt.Sprintf("racing %.0f ms, sequential %.2f s, ratio %.1f×",
		float64(racing.Microseconds())/1000, sequential.Seconds(), float64(sequential)/float64(racing))
}

// BenchmarkSTARTTLSVsDirectTLS measures the time to a verified stream
// over STARTTLS (S1: a plaintext header and features, <starttls/>,
// <proceed/>, then TLS and the restarted stream) against direct TLS to
// the same in-process server code, on loopback, in one run:
//
//	go test -run '^$' -bench STARTTLSVsDirectTLS ./dial/
//
// starttls reports its cost relative to direct TLS as x-direct.
func BenchmarkSTARTTLSVsDirectTLS(b *testing.B) {
	ca := newCA(b)
	cert := issue(b, ca, domain)
	direct, err := hacxtest.StartXMPP("127.0.0.2:0", cert, hacxtest.XMPPConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { direct.Close() })
	st, err := loopback.StartStartTLS("127.0.0.3:0", cert, loopback.StartTLSGood, hacxtest.XMPPConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	d := &dial.Dialer{Roots: ca.Pool(), TLSA: dial.NoDANE}
	perOp := func(b *testing.B, r hacx.Route) time.Duration {
		r.SNI, r.HasSNI = domain, true
		return timeToStream(b, d, []hacx.Route{r}, nil, nil)
	}
	var tlsMean time.Duration
	b.Run("tls", func(b *testing.B) { tlsMean = perOp(b, route(hacx.MethodTLS, direct.Addr(), 1)) })
	b.Run("starttls", func(b *testing.B) {
		reportRatio(b, perOp(b, route(hacx.MethodStartTLS, st.Addr(), 1)), tlsMean, "x-direct")
	})
}

// BenchmarkReconnect is the reconnecting user's case: three routes that
// accept TCP and then stall, before a good one (real TLS on loopback).
//
//   - fixed: no memory, a fixed 250 ms stagger (hacx before route memory
//     and adaptive delays): about 3 x 250 ms every time;
//   - first: the default Dialer's first connection (adaptive stagger,
//     100 ms on loopback);
//   - second: the same Dialer again: the remembered winner goes first;
//   - dead-winner: the remembered winner has gone; the others are tried
//     (it fails at once, then the stalls cost their adaptive delays).
//
// Run it with:
//
//	go test -run '^$' -bench Reconnect -benchtime=10x ./dial/
//
// Each reports ms/stream and its speed-up over fixed as x-fixed.
func BenchmarkReconnect(b *testing.B) {
	ca := newCA(b)
	cert := issue(b, ca, domain)
	routes := stalledRoutes(b, cert)
	good := startTLS(b, "127.0.0.5", cert, domain, modeXMPP)
	spare := startTLS(b, "127.0.0.6", cert, domain, modeXMPP)

	routes = append(routes, route(hacx.MethodTLS, good.addr, 4), route(hacx.MethodTLS, spare.addr, 5))

	run := func(b *testing.B, d *dial.Dialer, wantIndex int, each func()) time.Duration {
		return timeToStream(b, d, routes, each, wonBy(wantIndex))
	}
	var fixed time.Duration
	speedup := func(b *testing.B, m time.Duration) {
		if m > 0 {
			reportRatio(b, fixed, m, "x-fixed")
		}
	}
	b.Run("fixed", func(b *testing.B) {
		fixed = run(b, &dial.Dialer{Roots: ca.Pool(), TLSA: dial.NoDANE, Memory: dial.NoMemory, Stagger: dial.DefaultStagger}, 4, nil)
	})
	b.Run("first", func(b *testing.B) {
		// A fresh memory each time: every op is a first connection.
		d := &dial.Dialer{Roots: ca.Pool(), TLSA: dial.NoDANE}
		speedup(b, run(b, d, 4, func() { d.Memory = &discover.MemCache{} }))
	})
	b.Run("second", func(b *testing.B) {
		d := &dial.Dialer{Roots: ca.Pool(), TLSA: dial.NoDANE, Memory: &discover.MemCache{}}
		c, err := d.DialRoutes(context.Background(), domain, hacx.Client, routes)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
		speedup(b, run(b, d, 4, nil))
	})
	b.Run("dead-winner", func(b *testing.B) {
		// The memory says route 4 won; it is gone, so each op fails it at
		// once and reaches route 5 through the three stalls.
		ctx, key := context.Background(), "routes+client+"+domain
		mem := &discover.MemCache{}
		d := &dial.Dialer{Roots: ca.Pool(), TLSA: dial.NoDANE, Memory: mem}
		c, err := d.DialRoutes(ctx, domain, hacx.Client, routes)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
		snap, err := mem.Get(ctx, key)
		if err != nil {
			b.Fatal(err)
		}
		good.close()
		speedup(b, run(b, d, 5, func() {
			m := &discover.MemCache{}
			m.Put(ctx, key, snap)
			d.Memory = m
		}))
	})
}

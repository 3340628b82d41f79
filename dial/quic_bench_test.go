package dial_test

import (
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/loopback"
)

// BenchmarkQUICVsDirectTLS measures the time to a verified stream over
// QUIC (Q1: the QUIC handshake, certificate checks, one bidirectional
// stream and the stream headers) against direct TLS over TCP to the same
// certificate, on loopback, in one run:
//
//	go test -run '^$' -bench QUICVsDirectTLS ./dial/
//
// quic reports its cost relative to direct TLS as x-direct.
func BenchmarkQUICVsDirectTLS(b *testing.B) {
	ca := newCA(b)
	cert := issue(b, ca, domain)
	direct, err := hacxtest.StartXMPP("127.0.0.2:0", cert, hacxtest.XMPPConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { direct.Close() })
	q, err := loopback.StartQUIC("127.0.0.3:0", cert, loopback.QUICConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { q.Close() })
	d := &dial.Dialer{Roots: ca.Pool(), TLSA: dial.NoDANE, Memory: dial.NoMemory}
	perOp := func(b *testing.B, r hacx.Route) time.Duration {
		r.SNI, r.HasSNI = domain, true
		r.ALPN = []byte("xmpp-client")
		return timeToStream(b, d, []hacx.Route{r}, nil, nil)
	}
	var tlsMean time.Duration
	b.Run("tls", func(b *testing.B) { tlsMean = perOp(b, route(hacx.MethodTLS, direct.Addr(), 1)) })
	b.Run("quic", func(b *testing.B) {
		reportRatio(b, perOp(b, route(hacx.MethodQUIC, q.Addr(), 1)), tlsMean, "x-direct")
	})
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/discover"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/loopback"
)

// TestCheck_QUICRoute_Q1: hacx check shows a quic route with its
// handshake time and QUIC version, in text and in --json, and the ALPN a
// route without one sends: the kind's.
func TestCheck_QUICRoute_Q1(t *testing.T) {
	ca, _ := hacxtest.NewCA("check-quic")
	cert, _ := ca.Issue(checkDomain)
	s, err := loopback.StartQUIC("127.0.0.1:0", cert, loopback.QUICConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	env := &checkEnv{
		lookup: func(_ context.Context, domain string, kind hacx.Kind) (*discover.Result, error) {
			return &discover.Result{Domain: domain, Kind: kind,
				Sources: []discover.SourceResult{{Source: hacx.SourceHACX, Status: discover.StatusFound, Routes: 1}},
				Routes: []hacx.Route{{Method: hacx.MethodQUIC, Addr: s.Addr(), Source: hacx.SourceHACX, Index: 1,
					SNI: checkDomain, HasSNI: true}}}, nil // no alpn: the kind's is sent (Q1)
		},
		dialer: &dial.Dialer{Roots: ca.Pool(), TLSA: dial.NoDANE, Stagger: time.Minute, Memory: dial.NoMemory},
	}
	code, text, _ := runCheckEnv(t, env, false, false)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, text)
	}
	for _, want := range []string{"record 1: quic 127.0.0.1:", "quic v1 handshake ", "ms; sent sni=example.test alpn=xmpp-client", "alpn negotiated xmpp-client", "stream from example.test"} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
	code, out, _ := runCheckEnv(t, env, false, true)
	var rep checkReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitOK {
		t.Fatalf("exit %d, %v\n%s", code, err, out)
	}
	if a := rep.Attempts[0]; a.QUIC != "v1" || !a.OK || a.TLSMS == nil || a.TLS == nil || a.TLS.Version != "TLS 1.3" {
		t.Errorf("json attempt %+v", a)
	}
}

// TestHTMLReport_QUICPhases_Q1: the timeline of a quic attempt shows its
// handshake as one phase, not a TCP connect.
func TestHTMLReport_QUICPhases_Q1(t *testing.T) {
	hs := 2.5
	rep := &checkReport{Domain: "example.test", Kind: "client", Result: resultOK, RouteNotes: []string{""},
		Routes:   []hacx.RouteReport{{Source: "hacx", Index: 1, Method: hacx.MethodQUIC, IP: "192.0.2.1", Port: 443, Pins: []string{}}},
		Attempts: []checkAttempt{{Route: 1, Phase: "done", OK: true, Reachable: true, ConnectMS: &hs, TLSMS: &hs, DurationMS: 4, QUIC: "v1", quic: true}},
	}
	var b bytes.Buffer
	if err := renderHTMLReport(&b, rep, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "quic handshake and verification: 0.0ms to 2.5ms") || strings.Contains(out, "tcp connect: ") {
		t.Errorf("timeline phases:\n%s", out)
	}
}

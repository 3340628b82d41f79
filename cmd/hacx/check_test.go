package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/discover"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/xmppstream"
)

const checkDomain = "example.test"

// startCheckXMPP is a direct-TLS XMPP server for checkDomain on loopback.
func startCheckXMPP(t *testing.T, cert *tls.Certificate, from string) netip.AddrPort {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := xmppstream.ReadClientOpen(c, hacx.Client); err != nil {
					return
				}
				xmppstream.WriteServerOpen(c, from, "s1", hacx.Client)
				xmppstream.WriteFeatures(c, loopback.Features(hacx.Client))
				c.Read(make([]byte, 512))
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// refused is an address nothing listens on, on a loopback address no test
// listens on either, so that no other test can take the port meanwhile.
func refused(t *testing.T) netip.AddrPort {
	a, err := loopback.RefusedAddr(refusedIP)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// checkWorld returns an env whose discovery yields addrs as HACX tls
// routes, in order, and whose dialer trusts ca.
func checkWorld(ca *hacxtest.CA, lookupErr error, addrs ...netip.AddrPort) *checkEnv {
	return &checkEnv{
		lookup: func(_ context.Context, domain string, kind hacx.Kind) (*discover.Result, error) {
			res := &discover.Result{Domain: domain, Kind: kind, Sources: []discover.SourceResult{{
				Source: hacx.SourceHACX, Query: "https://" + domain + kind.WellKnownPath(),
				Status: discover.StatusFound, Routes: len(addrs)}}}
			if lookupErr != nil {
				res.Sources[0].Status, res.Sources[0].Err = discover.StatusError, lookupErr
				return res, &discover.LookupError{Domain: domain, Sources: res.Sources}
			}
			if len(addrs) == 0 {
				res.Sources[0].Status = discover.StatusNone
			}
			for i, a := range addrs {
				res.Routes = append(res.Routes, hacx.Route{Method: hacx.MethodTLS, Addr: a, Source: hacx.SourceHACX,
					Index: i + 1, Priority: uint16(i), SNI: "xmpp." + domain, HasSNI: true, ALPN: []byte("xmpp-client")})
			}
			return res, nil
		},
		// A long stagger: only a failure starts the next route, so the
		// number of attempts is deterministic.
		dialer: &dial.Dialer{Roots: ca.Pool(), TLSA: dial.NoDANE, Stagger: time.Minute},
	}
}

func runCheckEnv(t *testing.T, env *checkEnv, all, asJSON bool) (code int, out, errOut string) {
	t.Helper()
	var o, e bytes.Buffer
	sio := &stdio{in: strings.NewReader(""), out: &o, err: &e}
	err := check(context.Background(), sio, env, checkDomain, hacx.Client, all, asJSON)
	return exitCode(commands["check"], sio, err), o.String(), e.String()
}

func TestCheck_ExitCodesAndReport(t *testing.T) {
	ca, cert := testCert(t, "check", checkDomain)
	good := startCheckXMPP(t, cert, checkDomain)
	good2 := startCheckXMPP(t, cert, checkDomain)
	wrong := startCheckXMPP(t, cert, "other.test")

	tests := []struct {
		name       string
		env        *checkEnv
		all        bool
		wantCode   int
		wantResult string
		wantWinner int // 0: none
		wantTried  int
	}{
		{"first route works", checkWorld(ca, nil, good, refused(t)), false, exitOK, resultOK, 1, 1},
		{"fallback to a working route (C3)", checkWorld(ca, nil, refused(t), wrong, good), false, exitOK, resultOK, 3, 3},
		{"all routes work (--all)", checkWorld(ca, nil, good, good2), true, exitOK, resultOK, 1, 2},
		{"partly working (--all)", checkWorld(ca, nil, refused(t), good), true, exitPartial, resultPartial, 2, 2},
		{"every route fails", checkWorld(ca, nil, refused(t), wrong), false, exitFail, resultFailed, 0, 2},
		{"nothing published", checkWorld(ca, nil), false, exitNothing, resultNothing, 0, 0},
		{"discovery failed", checkWorld(ca, errors.New("boom")), false, exitFail, resultDiscovery, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, _ := runCheckEnv(t, tt.env, tt.all, true)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d", code, tt.wantCode)
			}
			var rep checkReport
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("--json output does not parse: %v\n%s", err, out)
			}
			if rep.Result != tt.wantResult || len(rep.Attempts) != tt.wantTried {
				t.Errorf("result %q with %d attempts, want %q with %d\n%s", rep.Result, len(rep.Attempts), tt.wantResult, tt.wantTried, out)
			}
			switch {
			case tt.wantWinner == 0 && rep.Winner != nil:
				t.Errorf("winner %d, want none", *rep.Winner)
			case tt.wantWinner != 0 && (rep.Winner == nil || *rep.Winner != tt.wantWinner):
				t.Errorf("winner %v, want %d", rep.Winner, tt.wantWinner)
			}
			// The text report says the same in words.
			code2, text, _ := runCheckEnv(t, tt.env, tt.all, false)
			if code2 != code || !strings.Contains(text, "result: "+strings.ReplaceAll(tt.wantResult, "-", " ")) {
				t.Errorf("text report (exit %d):\n%s", code2, text)
			}
		})
	}
}

func TestCheck_JSONRouteFields_A5_A6(t *testing.T) {
	ca, _ := hacxtest.NewCA("check")
	dead := refused(t)
	_, out, _ := runCheckEnv(t, checkWorld(ca, nil, dead), false, true)
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatal(err)
	}
	r := raw["routes"].([]any)[0].(map[string]any)
	// The route has the shared form (hacx.RouteReport): position in its
	// source as "index", the address as "ip" and "port", pins an array.
	if r["sni"] != "xmpp.example.test" || r["alpn"] != "xmpp-client" || r["method"] != "tls" ||
		r["index"] != 1.0 || r["ip"] != dead.Addr().String() || r["port"] != float64(dead.Port()) || r["pins"] == nil {
		t.Errorf("route %v", r)
	}
	a := raw["attempts"].([]any)[0].(map[string]any)
	if a["phase"] != "tcp" || a["ok"] != false || a["error"] == "" {
		t.Errorf("attempt %v", a)
	}
}

func TestCheck_Usage(t *testing.T) {
	var o, e bytes.Buffer
	code := run(context.Background(), []string{"check"}, &stdio{in: strings.NewReader(""), out: &o, err: &e})
	if code != exitUsage {
		t.Errorf("no DOMAIN: exit %d, want %d", code, exitUsage)
	}
	code = run(context.Background(), []string{"check", "--socks", "http://x", "example.test"}, &stdio{in: strings.NewReader(""), out: &o, err: &e})
	if code != exitUsage {
		t.Errorf("bad --socks: exit %d, want %d", code, exitUsage)
	}
}

// TestCheck_TextReportDetails: the text report shows, per attempt, what was
// sent (A5, A6), the TLS version and cipher, the certificate's names and
// expiry, the pin and DANE results and the stream's from (C4).
func TestCheck_TextReportDetails(t *testing.T) {
	ca, _ := hacxtest.NewCA("check")
	cert, _ := ca.Issue(checkDomain)
	good := startCheckXMPP(t, cert, checkDomain)
	code, text, _ := runCheckEnv(t, checkWorld(ca, nil, refused(t), good), false, false)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, text)
	}
	for _, want := range []string{
		"tcp not connected (would have sent sni=xmpp.example.test alpn=xmpp-client)",
		"ms; sent sni=xmpp.example.test alpn=xmpp-client",
		"TLS 1.3 TLS_",
		"alpn negotiated (none)",
		"certificate example.test, issuer CN=hacx test root check, expires " + cert.Leaf.NotAfter.UTC().Format(time.DateOnly) + " (in 0 days)",
		"pin none, stream from example.test",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
}

// TestCheck_ProgressLine: with a progress writer (a terminal), check shows
// each attempt as it starts and ends on one rewritten line, and clears it
// at the end; the report itself is unchanged.
func TestCheck_ProgressLine(t *testing.T) {
	ca, _ := hacxtest.NewCA("check")
	cert, _ := ca.Issue(checkDomain)
	env := checkWorld(ca, nil, refused(t), startCheckXMPP(t, cert, checkDomain))
	var prog bytes.Buffer
	env.progress = &prog
	code, out, _ := runCheckEnv(t, env, false, true)
	if code != exitOK || strings.Contains(out, "\r") {
		t.Fatalf("exit %d, report %q", code, out)
	}
	p := prog.String()
	for _, want := range []string{
		clearLine + "discovering example.test…",
		clearLine + "1 of 2 routes started, 0 work, 0 failed; trying 1. ",
		clearLine + "1 of 2 routes started, 0 work, 1 failed",
		clearLine + "2 of 2 routes started, 0 work, 1 failed; trying 2. ",
		clearLine + "2 of 2 routes started, 1 work, 1 failed",
	} {
		if !strings.Contains(p, want) {
			t.Errorf("progress lacks %q: %q", want, p)
		}
	}
	if !strings.HasSuffix(p, clearLine) || strings.Contains(p, "\n") {
		t.Errorf("progress is not one line cleared at the end: %q", p)
	}
}

// TestCheck_STARTTLSAndFallback_S1_F1: a domain that publishes nothing
// is checked over the F1 routes; the STARTTLS attempt says what the
// server offered before TLS, a stripped STARTTLS is named as a refused
// downgrade, and the exit status is what the dial achieved.
func TestCheck_STARTTLSAndFallback_S1_F1(t *testing.T) {
	ca, _ := hacxtest.NewCA("check")
	cert, _ := ca.Issue(checkDomain)
	stripped, err := loopback.StartStartTLS("127.0.0.1:0", cert, loopback.StartTLSStripped, hacxtest.XMPPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stripped.Close() })
	good, err := loopback.StartStartTLS("127.0.0.1:0", cert, loopback.StartTLSGood, hacxtest.XMPPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { good.Close() })
	env := checkWorld(ca, nil)
	env.lookup = func(_ context.Context, domain string, kind hacx.Kind) (*discover.Result, error) {
		res := &discover.Result{Domain: domain, Kind: kind, Sources: []discover.SourceResult{
			{Source: hacx.SourceHACX, Status: discover.StatusNone},
			{Source: hacx.SourceFallback, Status: discover.StatusFound, Routes: 2}}}
		for i, a := range []netip.AddrPort{stripped.Addr(), good.Addr()} {
			res.Routes = append(res.Routes, hacx.Route{Method: hacx.MethodStartTLS, Addr: a, Source: hacx.SourceFallback,
				Index: i + 1, SNI: domain, HasSNI: true, Host: domain})
		}
		return res, nil
	}
	code, text, _ := runCheckEnv(t, env, false, false)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, text)
	}
	for _, want := range []string{
		"fallback record 1: starttls",
		"FAILED in starttls: xmppstream: stream features: the features offer no <starttls/>",
		"server offered no STARTTLS: refusing plaintext",
		"starttls: the server offered mechanisms(SCRAM-SHA-1 PLAIN) before TLS",
		"starttls: the server offered starttls(required) before TLS",
		"winner: 2. fallback record 2 (starttls",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
	_, js, _ := runCheckEnv(t, env, false, true)
	if !strings.Contains(js, `"plain_features": [`) || !strings.Contains(js, `"starttls(required)"`) {
		t.Errorf("--json lacks plain_features:\n%s", js)
	}
}

// TestCheck_RouteMemoryShown_C5: the second check of a domain tries the
// route that worked first, and says so in both reports.
func TestCheck_RouteMemoryShown_C5(t *testing.T) {
	ca, _ := hacxtest.NewCA("check")
	cert, _ := ca.Issue(checkDomain)
	good := startCheckXMPP(t, cert, checkDomain)
	env := checkWorld(ca, nil, refused(t), good)
	env.dialer.Memory = &discover.MemCache{}
	if code, text, _ := runCheckEnv(t, env, false, false); code != exitOK || strings.Contains(text, "remembered") {
		t.Fatalf("first check: exit %d\n%s", code, text)
	}
	code, text, _ := runCheckEnv(t, env, false, false)
	if code != exitOK || !strings.Contains(text, "1. hacx record 2: tls "+good.String()) || !strings.Contains(text, "[remembered: verified stream") {
		t.Errorf("second check: exit %d; want hacx record 2 first, marked remembered:\n%s", code, text)
	}
	_, js, _ := runCheckEnv(t, env, false, true)
	var rep checkReport
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.RouteNotes) != 2 || !strings.HasPrefix(rep.RouteNotes[0], "remembered:") || rep.RouteNotes[1] != "" || rep.Routes[0].Index != 2 {
		t.Errorf("route_notes %q, routes %+v", rep.RouteNotes, rep.Routes)
	}
}

package audit

import (
	"context"
	"crypto/sha512"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/discover"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/xmppstream"
)

// The audit's test world: one domain whose publication a case builds on
// purpose, served on loopback only. The publisher answers every
// https://NAME:443 fetch, a DNS server holds the SRV records, and the
// routes lead to direct-TLS XMPP endpoints on 127.0.0.2 and ::1 and to a
// web front on 127.0.0.3 that carries WebSocket and BOSH.

const domain = "example.test"

// worldConfig is what differs between the worlds of the cases.
type worldConfig struct {
	// issue makes the certificate of the XMPP endpoints and the web
	// front from the world's CA; nil means one for domain valid for 90
	// days, the publisher's own.
	issue func(ca *hacxtest.CA) (*tls.Certificate, error)
	// noALPN makes the XMPP endpoints ignore ALPN (A6).
	noALPN bool
	// noWebCORS makes the front refuse CORS preflights (BOSH); noWSOrigin
	// makes it refuse WebSocket upgrades from other origins (P8).
	noWebCORS, noWSOrigin bool
}

// world is a running world; pub fills in what is published.
type world struct {
	t      *testing.T
	ca     *hacxtest.CA
	cert   *tls.Certificate // the publisher's
	xmpp   *tls.Certificate
	v4, v6 netip.AddrPort // direct TLS endpoints
	web    netip.AddrPort // WebSocket and BOSH front
	dns    *testbed.DNSServer
	pub    *hacxtest.Publisher
	files  map[string]string
	header http.Header // sent with every file
}

func newWorld(t *testing.T, cfg worldConfig) *world {
	t.Helper()
	ca, err := hacxtest.NewCA("audit")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cert, err := ca.IssueValid(now.Add(-time.Hour), now.Add(90*24*time.Hour), domain)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ca: ca, cert: cert, xmpp: cert, files: map[string]string{}, header: http.Header{}}
	if cfg.issue != nil {
		if w.xmpp, err = cfg.issue(ca); err != nil {
			t.Fatal(err)
		}
	}
	alpn := []string{"xmpp-client"}
	if cfg.noALPN {
		alpn = nil
	}
	w.v4 = startXMPP(t, "127.0.0.2:0", w.xmpp, alpn)
	w.v6 = startXMPP(t, "[::1]:0", w.xmpp, alpn)
	w.web = startWebFront(t, w.xmpp, ca, cfg)

	w.dns, err = testbed.NewDNSServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.dns.Close() })
	w.addDNS(
		"xmpp4.example.test. 60 IN A 127.0.0.2",
		"xmpp6.example.test. 60 IN AAAA ::1",
		"example.test. 60 IN A 127.0.0.3",
	)
	w.pub, err = hacxtest.StartPublisher("127.0.0.1:0", cert, http.HandlerFunc(w.serve))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.pub.Close() })
	return w
}

func (w *world) addDNS(rrs ...string) {
	w.t.Helper()
	if err := w.dns.Add(rrs...); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) serve(rw http.ResponseWriter, r *http.Request) {
	body, ok := w.files[r.URL.Path]
	if !ok {
		http.NotFound(rw, r)
		return
	}
	for k, v := range w.header {
		rw.Header()[k] = v
	}
	rw.Write([]byte(body))
}

// srv is the SRV records of the baseline: both endpoints, v4 first.
func (w *world) srv(prio4, prio6 int, port4 uint16) []string {
	return []string{
		fmt.Sprintf("_xmpps-client._tcp.example.test. 60 IN SRV %d 0 %d xmpp4.example.test.", prio4, port4),
		fmt.Sprintf("_xmpps-client._tcp.example.test. 60 IN SRV %d 0 %d xmpp6.example.test.", prio6, w.v6.Port()),
	}
}

// records are the baseline HACX records: direct TLS on both families
// (IPv4 first), WebSocket and BOSH on the front. The URLs name the
// front's port, so that host-meta, where the URL alone says where to
// connect, can publish the same endpoints.
func (w *world) records() []string {
	return []string{
		fmt.Sprintf(`<tls ip="%s" port="%d" priority="1"/>`, w.v4.Addr(), w.v4.Port()),
		fmt.Sprintf(`<tls ip="%s" port="%d" priority="2"/>`, w.v6.Addr(), w.v6.Port()),
		fmt.Sprintf(`<websocket ip="%s" port="%d" priority="3" url="wss://example.test:%d/xmpp-websocket"/>`, w.web.Addr(), w.web.Port(), w.web.Port()),
		fmt.Sprintf(`<bosh ip="%s" port="%d" priority="4" url="https://example.test:%d/http-bind"/>`, w.web.Addr(), w.web.Port(), w.web.Port()),
	}
}

// publish serves a HACX document of records with the ttl attribute ttl
// ("" for none) and the baseline headers: HSTS and CORS (X5, P3).
func (w *world) publish(ttl string, records []string) {
	attr := ""
	if ttl != "" {
		attr = ` ttl="` + ttl + `"`
	}
	w.files["/.well-known/xmpp-client.xml"] = "<hacx" + attr + ">\n  " + strings.Join(records, "\n  ") + "\n</hacx>\n"
	w.header.Set("Strict-Transport-Security", "max-age=31536000")
	w.header.Set("Access-Control-Allow-Origin", "*")
}

// baseline publishes what a careful operator would: a document with a
// one-hour ttl and SRV records that agree with it.
func (w *world) baseline() {
	w.publish("3600", w.records())
	w.addDNS(w.srv(1, 2, w.v4.Port())...)
}

// auditor is an Auditor for the world, as hacx check --audit builds one.
func (w *world) auditor() *Auditor {
	resolver := func(tr http.RoundTripper) *discover.Resolver {
		return &discover.Resolver{Roots: w.ca.Pool(), DNSServer: w.dns.Addr, DialContext: w.pub.DialContext,
			Fallback: discover.FallbackAlways, Transport: tr}
	}
	return &Auditor{
		Lookup:      resolver(nil).Lookup,
		LookupSRV:   resolver(NotFoundTransport).Lookup,
		Dialer:      &dial.Dialer{Roots: w.ca.Pool(), TLSA: dial.NoDANE, Memory: dial.NoMemory},
		Roots:       w.ca.Pool(),
		DialContext: w.pub.DialContext,
	}
}

func (w *world) audit() *Report {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := w.auditor().Audit(ctx, domain, hacx.Client, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	return rep
}

// startXMPP is a direct-TLS XMPP endpoint that negotiates one of alpn
// when the client offers it (nil: it ignores ALPN). An address family
// the machine lacks gives a route that is refused, never a finding.
func startXMPP(t *testing.T, addr string, cert *tls.Certificate, alpn []string) netip.AddrPort {
	t.Helper()
	ln, err := tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{*cert}, NextProtos: alpn})
	if err != nil {
		if strings.HasPrefix(addr, "[::1]") {
			t.Logf("no IPv6 loopback (%v): the ::1 routes are refused", err)
			return netip.MustParseAddrPort("[::1]:9")
		}
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
				h, err := xmppstream.ReadClientOpen(c, hacx.Client)
				if err != nil {
					return
				}
				xmppstream.WriteServerOpen(c, h.To, "s1", hacx.Client)
				xmppstream.WriteFeatures(c, loopback.Features(hacx.Client))
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// startWebFront serves WebSocket and BOSH on 127.0.0.3 with cert: it
// answers CORS preflights itself (unless noWebCORS), refuses upgrades
// from other origins when noWSOrigin, and passes everything else to
// the loopback WebSocket and BOSH endpoints.
func startWebFront(t *testing.T, cert *tls.Certificate, ca *hacxtest.CA, cfg worldConfig) netip.AddrPort {
	t.Helper()
	ws, err := loopback.StartWebSocket("127.0.0.3:0", cert, loopback.HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	bosh, err := loopback.StartBOSH("127.0.0.3:0", cert, loopback.HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bosh.Close() })
	backend := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: domain}}
	t.Cleanup(backend.CloseIdleConnections)
	to := func(a netip.AddrPort) *httputil.ReverseProxy {
		u := &url.URL{Scheme: "https", Host: a.String()}
		return &httputil.ReverseProxy{Transport: backend, ErrorLog: log.New(io.Discard, "", 0),
			Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.Out.Host = pr.In.Host }}
	}
	wsProxy, boshProxy := to(ws.Addr()), to(bosh.Addr())
	h := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		foreign := r.Header.Get("Origin") != "" && r.Header.Get("Origin") != "https://"+domain
		switch {
		case r.Method == http.MethodOptions && cfg.noWebCORS:
			http.Error(rw, "no", http.StatusMethodNotAllowed)
		case r.Method == http.MethodOptions:
			rw.Header().Set("Access-Control-Allow-Origin", "*")
			rw.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			rw.Header().Set("Access-Control-Allow-Headers", "Content-Type")
			rw.WriteHeader(http.StatusNoContent)
		case strings.EqualFold(r.Header.Get("Upgrade"), "websocket"):
			if foreign && cfg.noWSOrigin {
				http.Error(rw, "origin not allowed", http.StatusForbidden)
				return
			}
			// The front decided; the endpoint behind it (coder/websocket)
			// would refuse other origins itself.
			r.Header.Del("Origin")
			wsProxy.ServeHTTP(rw, r)
		default:
			boshProxy.ServeHTTP(rw, r)
		}
	})
	ln, err := tls.Listen("tcp", "127.0.0.3:0", &tls.Config{Certificates: []tls.Certificate{*cert}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return netip.MustParseAddrPort(ln.Addr().String())
}

// otherKeyPin is a <public-key-pin> of a key nobody serves.
func otherKeyPin(t *testing.T) string {
	t.Helper()
	c, err := hacxtest.SelfSigned("spare.example.test")
	if err != nil {
		t.Fatal(err)
	}
	return pinXML(c)
}

// pinXML is the <public-key-pin> of cert's key (A9).
func pinXML(cert *tls.Certificate) string {
	return `<public-key-pin sha-256="` + hacx.EncodeDigest(hacx.KeySHA256(cert.Leaf)) + `"/>`
}

// pinXML512 is the same key's pin by its sha-512 digest: another pin
// element, the same key.
func pinXML512(cert *tls.Certificate) string {
	sum := sha512.Sum512(cert.Leaf.RawSubjectPublicKeyInfo)
	return `<public-key-pin sha-512="` + hacx.EncodeDigest(sum[:]) + `"/>`
}

package serve

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"hacx.dev/hacx"
	"hacx.dev/hacx/hostmeta"
)

const handlerTOML = `
trusted-proxies = ["127.0.0.0/8"]

[[domain]]
name = "example.org"
ttl = 120
[domain.hpkp]
max-age = 600
pins = ["sha-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "sha-256=E9CZ9INDbd+2eRQozYqqbQ2yXLVKB9+xcprMF+44U1g="]

[[domain.client]]
method = "tls"
ip = "127.0.0.1"
port = 5223
priority = 10
sni = "xmpp.example.org"
alpn = "xmpp-client"

[[domain.client]]
method = "websocket"
ip = "127.0.0.1"
port = 443
priority = 20
url = "wss://chat.example.org/ws"

[[domain.variant]]
name = "wide"
cidrs = ["10.0.0.0/8"]
[[domain.variant.client]]
method = "bosh"
ip = "127.0.0.3"
port = 443
priority = 1
url = "https://chat.example.org/bosh"

[[domain.variant]]
name = "narrow"
cidrs = ["10.1.0.0/16", "2001:db8::/32"]
[[domain.variant.client]]
method = "websocket"
ip = "127.0.0.4"
port = 443
priority = 1
url = "wss://chat.example.org/narrow"

[[domain]]
name = "nocors.example"
cors = false
[domain.hsts]
max-age = 0
[domain.redirect]
server = "https://elsewhere.example/xmpp-server.xml"
[[domain.client]]
method = "tls"
ip = "127.0.0.1"
port = 5223
`

func newTestHandler(t testing.TB) *Handler {
	t.Helper()
	cfg, err := ParseConfig([]byte(handlerTOML), "")
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type req struct {
	method, host, path, remote string
	hdr                        map[string]string
}

func do(h http.Handler, q req) *http.Response {
	if q.method == "" {
		q.method = "GET"
	}
	r := httptest.NewRequest(q.method, "https://"+q.host+q.path, nil)
	r.Host = q.host
	if q.remote != "" {
		r.RemoteAddr = q.remote
	}
	for k, v := range q.hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func TestHandler_Headers_P2_P3(t *testing.T) {
	h := newTestHandler(t)
	const client = "/.well-known/xmpp-client.xml"
	etag := do(h, req{host: "example.org", path: client}).Header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) {
		t.Fatalf("ETag %q is not a strong entity tag", etag)
	}
	tests := []struct {
		name   string
		q      req
		status int
		hdr    map[string]string // "" value: header must be absent
		body   bool
	}{
		{"client doc_P3", req{host: "example.org", path: client}, 200, map[string]string{
			"Content-Type": "application/xml", "Cache-Control": "max-age=120",
			"Strict-Transport-Security": "max-age=31536000", "Access-Control-Allow-Origin": "*",
			"Public-Key-Pins": `pin-sha256="47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="; pin-sha256="E9CZ9INDbd+2eRQozYqqbQ2yXLVKB9+xcprMF+44U1g="; max-age=600`,
		}, true},
		{"host with port and case", req{host: "EXAMPLE.org:443", path: client}, 200, map[string]string{"ETag": etag}, true},
		{"trailing dot host", req{host: "example.org.", path: client}, 200, nil, true},
		{"unknown host_H4", req{host: "other.example", path: client}, 404, map[string]string{
			"Strict-Transport-Security": "", "Access-Control-Allow-Origin": "", "Public-Key-Pins": ""}, false},
		{"no server doc_H4", req{host: "example.org", path: "/.well-known/xmpp-server.xml"}, 404, map[string]string{
			"Strict-Transport-Security": "max-age=31536000", "Access-Control-Allow-Origin": ""}, false},
		{"other path no CORS_P3", req{host: "example.org", path: "/index.html"}, 404, map[string]string{"Access-Control-Allow-Origin": ""}, false},
		{"304 strong_P3", req{host: "example.org", path: client, hdr: map[string]string{"If-None-Match": etag}}, 304, map[string]string{"ETag": etag, "Cache-Control": "max-age=120"}, false},
		{"304 weak in list", req{host: "example.org", path: client, hdr: map[string]string{"If-None-Match": `"x", W/` + etag}}, 304, nil, false},
		{"304 star", req{host: "example.org", path: client, hdr: map[string]string{"If-None-Match": "*"}}, 304, nil, false},
		{"stale etag", req{host: "example.org", path: client, hdr: map[string]string{"If-None-Match": `"old"`}}, 200, nil, true},
		{"HEAD", req{method: "HEAD", host: "example.org", path: client}, 200, map[string]string{"Content-Type": "application/xml"}, false},
		{"POST 405", req{method: "POST", host: "example.org", path: client}, 405, map[string]string{"Allow": "GET, HEAD"}, false},
		{"OPTIONS 405", req{method: "OPTIONS", host: "example.org", path: "/.well-known/host-meta"}, 405, map[string]string{"Allow": "GET, HEAD"}, false},
		{"host-meta xrd_X2", req{host: "example.org", path: "/.well-known/host-meta"}, 200, map[string]string{"Content-Type": "application/xrd+xml; charset=utf-8", "Access-Control-Allow-Origin": "*"}, true},
		{"host-meta json_X3", req{host: "example.org", path: "/.well-known/host-meta.json"}, 200, map[string]string{"Content-Type": "application/json"}, true},
		{"cors off_P3", req{host: "nocors.example", path: client}, 200, map[string]string{"Access-Control-Allow-Origin": "", "Strict-Transport-Security": "max-age=0", "Cache-Control": "max-age=30"}, true},
		{"redirect_P1", req{host: "nocors.example", path: "/.well-known/xmpp-server.xml"}, 302, map[string]string{"Location": "https://elsewhere.example/xmpp-server.xml"}, false},
		{"no xrd without http links_P5", req{host: "nocors.example", path: "/.well-known/host-meta"}, 404, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := do(h, tt.q)
			if res.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d", res.StatusCode, tt.status)
			}
			for k, want := range tt.hdr {
				if got := res.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			body, _ := io.ReadAll(res.Body)
			if (tt.status == 200 || tt.status == 304) && tt.body != (len(body) > 0) {
				t.Errorf("body %q, want body: %v", body, tt.body)
			}
			if tt.q.method == "HEAD" && res.Header.Get("Content-Length") == "" {
				t.Error("HEAD without Content-Length")
			}
		})
	}
}

func TestHandler_ServedDocumentParses_H1(t *testing.T) {
	h := newTestHandler(t)
	res := do(h, req{host: "example.org", path: "/.well-known/xmpp-client.xml"})
	doc, err := hacx.ParseReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if doc.TTL != 120 || len(doc.Records) != 2 || len(doc.Warnings) != 0 {
		t.Fatalf("doc = ttl %d, %d records, warnings %v", doc.TTL, len(doc.Records), doc.Warnings)
	}
	if r := doc.Records[0]; string(r.ALPN) != "xmpp-client" || r.SNI != "xmpp.example.org" {
		t.Errorf("record 1 = %v", r)
	}

	res = do(h, req{host: "example.org", path: "/.well-known/host-meta"})
	body, _ := io.ReadAll(res.Body)
	xrd, err := hostmeta.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	if ls := xrd.LinksWith(hostmeta.RelWebSocket); len(ls) != 1 || ls[0].Href != "wss://chat.example.org/ws" {
		t.Errorf("XRD websocket links = %+v", ls)
	}
	res = do(h, req{host: "example.org", path: "/.well-known/host-meta.json"})
	body, _ = io.ReadAll(res.Body)
	jrd, err := hostmeta.ParseJSON(body)
	if err != nil {
		t.Fatal(err)
	}
	if jrd.XMPP == nil || jrd.XMPP.TTL != 120 || len(jrd.XMPP.PublicKeyPinsSHA256) != 0 {
		t.Errorf("xmpp object = %+v, want ttl 120 and no pins (records are unpinned)", jrd.XMPP)
	}
	tls := jrd.LinksWith(hostmeta.RelTLS)
	if len(tls) != 1 || tls[0].Port != 5223 || tls[0].SNI != "xmpp.example.org" || len(tls[0].IPs) != 1 {
		t.Errorf("Host Meta 2 tls links = %+v", tls)
	}
}

// TestHandler_Variants_P4: the longest matching prefix wins, and the
// forwarded-for header counts only from a trusted proxy.
func TestHandler_Variants_P4(t *testing.T) {
	h := newTestHandler(t)
	m := new(recorder)
	h.Metrics = m
	tests := []struct {
		name, remote, xff, want string
	}{
		{"default", "192.0.2.1:5000", "", "wss://chat.example.org/ws"},
		{"wide", "10.2.0.1:5000", "", "https://chat.example.org/bosh"},
		{"longest prefix wins", "10.1.2.3:5000", "", "wss://chat.example.org/narrow"},
		{"ipv6", "[2001:db8::1]:5000", "", "wss://chat.example.org/narrow"},
		{"ipv4-mapped", "[::ffff:10.1.2.3]:5000", "", "wss://chat.example.org/narrow"},
		{"xff from untrusted peer ignored", "192.0.2.1:5000", "10.1.2.3", "wss://chat.example.org/ws"},
		{"xff from trusted proxy", "127.0.0.1:5000", "10.1.2.3", "wss://chat.example.org/narrow"},
		{"xff chain of trusted proxies", "127.0.0.1:5000", "10.2.0.9, 127.0.0.7", "https://chat.example.org/bosh"},
		{"xff spoofed leftmost ignored", "127.0.0.1:5000", "10.1.0.1, 192.0.2.7", "wss://chat.example.org/ws"},
		{"xff garbage", "127.0.0.1:5000", "not-an-ip", "wss://chat.example.org/ws"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.xff != "" {
				hdr["X-Forwarded-For"] = tt.xff
			}
			res := do(h, req{host: "example.org", path: "/.well-known/xmpp-client.xml", remote: tt.remote, hdr: hdr})
			doc, err := hacx.ParseReader(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, r := range doc.Records {
				found = found || r.URL == tt.want
			}
			if !found {
				t.Errorf("records %v, want one with url %s", doc.Records, tt.want)
			}
		})
	}
	if got := m.count("xmpp-client.xml 200 narrow"); got != 4 {
		t.Errorf("narrow requests = %v, want 4", got)
	}
	// A request for no configured domain is counted without a variant.
	do(h, req{host: "other.example", path: "/.well-known/host-meta"})
	if got := m.count("host-meta 404 "); got != 1 {
		t.Errorf("unknown-domain requests = %v, want 1", got)
	}
}

func TestHandler_ZeroValue404(t *testing.T) {
	var h Handler
	if res := do(&h, req{host: "example.org", path: "/.well-known/xmpp-client.xml"}); res.StatusCode != 404 {
		t.Fatalf("status = %d, want 404", res.StatusCode)
	}
}

func BenchmarkHandler(b *testing.B) {
	h := newTestHandler(b)
	r := httptest.NewRequest("GET", "https://example.org/.well-known/xmpp-client.xml", nil)
	r.RemoteAddr = "10.1.2.3:4000"
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

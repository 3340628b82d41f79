package discover

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"hacx.dev/hacx"
)

const docA = `<?xml version="1.0"?>
<hacx ttl="60">
  <tls ip="127.0.0.2" port="5223" priority="10" weight="5" sni="example.test" alpn="eG1wcC1jbGllbnQ="/>
  <websocket ip="127.0.0.3" port="443" priority="20" url="wss://chat.example.test/ws"/>
</hacx>
`

func lookupNever(t *testing.T, r *Resolver, domain string) (*Result, error) {
	t.Helper()
	r.Fallback = FallbackNever
	return r.Lookup(context.Background(), domain, hacx.Client)
}

func TestFetch_DocumentFound_H1(t *testing.T) {
	w := newWorld(t)
	var gotHost, gotPath, gotAE string
	w.serve(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		gotHost, gotPath, gotAE = r.Host, r.URL.Path, r.Header.Get("Accept-Encoding")
		rw.Write([]byte(docA))
	}), []string{"example.test"}, "example.test")
	res, err := lookupNever(t, w.resolver(), "Example.Test.")
	if err != nil {
		t.Fatal(err)
	}
	if gotHost != "example.test" || gotPath != "/.well-known/xmpp-client.xml" || gotAE != "identity" {
		t.Errorf("request Host=%q path=%q Accept-Encoding=%q", gotHost, gotPath, gotAE)
	}
	if len(res.Routes) != 2 || res.Routes[0].Method != hacx.MethodTLS || res.Routes[1].Method != hacx.MethodWebSocket {
		t.Fatalf("routes = %v", res.Routes)
	}
	if r := res.Routes[0]; r.Source != hacx.SourceHACX || r.Index != 1 || r.Host != "example.test" {
		t.Errorf("provenance = %s index %d host %q", r.Source, r.Index, r.Host)
	}
	if s := res.Sources[0]; s.Status != StatusFound || s.Cached || s.FinalURL != "https://example.test/.well-known/xmpp-client.xml" {
		t.Errorf("source = %+v", s)
	}
}

func TestFetch_ServerKindPath_H1(t *testing.T) {
	w := newWorld(t)
	w.serve(files{"/.well-known/xmpp-server.xml": docA}, []string{"example.test"}, "example.test")
	r := w.resolver()
	r.Fallback = FallbackNever
	res, err := r.Lookup(context.Background(), "example.test", hacx.Server)
	if err != nil || len(res.Routes) != 2 {
		t.Fatalf("server kind: %v, %v", res, err)
	}
}

func TestRedirect_Policy_H3(t *testing.T) {
	const path = "/.well-known/xmpp-client.xml"
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wantErr string // "" = success
		hops    int
	}{
		{"302 to https followed", func(rw http.ResponseWriter, r *http.Request) {
			if r.URL.Path == path {
				http.Redirect(rw, r, "https://example.test/elsewhere.xml", http.StatusFound)
				return
			}
			rw.Write([]byte(docA))
		}, "", 1},
		{"301 303 307 308 followed", func(rw http.ResponseWriter, r *http.Request) {
			next := map[string]struct {
				to   string
				code int
			}{path: {"/a", 301}, "/a": {"/b", 303}, "/b": {"/c", 307}, "/c": {"/d", 308}}
			if n, ok := next[r.URL.Path]; ok {
				http.Redirect(rw, r, n.to, n.code)
				return
			}
			rw.Write([]byte(docA))
		}, "", 4},
		{"http location refused", func(rw http.ResponseWriter, r *http.Request) {
			http.Redirect(rw, r, "http://example.test/doc.xml", http.StatusFound)
		}, "not https", 0},
		{"loop refused", func(rw http.ResponseWriter, r *http.Request) {
			if r.URL.Path == path {
				http.Redirect(rw, r, "/x", http.StatusFound)
				return
			}
			http.Redirect(rw, r, path, http.StatusFound)
		}, "loop", 0},
		{"ten redirects allowed", chain(10), "", 10},
		{"eleventh hop refused", chain(11), "more than 10 redirects", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.serve(tt.handler, []string{"example.test"}, "example.test")
			res, err := lookupNever(t, w.resolver(), "example.test")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := len(res.Sources[0].Redirects); got != tt.hops || len(res.Routes) != 2 {
					t.Errorf("redirects = %d (%v), routes = %d", got, res.Sources[0].Redirects, len(res.Routes))
				}
				return
			}
			var re *RedirectError
			if !errors.As(err, &re) || !strings.Contains(re.Reason, tt.wantErr) {
				t.Fatalf("err = %v, want RedirectError %q", err, tt.wantErr)
			}
			if res.Sources[0].Status != StatusError {
				t.Errorf("status = %s", res.Sources[0].Status)
			}
		})
	}
}

// chain redirects n times through distinct paths before serving the document.
func chain(n int) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		i := 0
		if r.URL.Path != "/.well-known/xmpp-client.xml" {
			fmt.Sscanf(r.URL.Path, "/hop%d", &i)
		}
		if i < n {
			http.Redirect(rw, r, fmt.Sprintf("/hop%d", i+1), http.StatusFound)
			return
		}
		rw.Write([]byte(docA))
	}
}

func TestRedirect_EachHopVerifiedAgainstItsHost_H3(t *testing.T) {
	w := newWorld(t)
	w.serve(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		http.Redirect(rw, r, "https://docs.example.test/doc.xml", http.StatusFound)
	}), []string{"example.test"}, "example.test")
	// docs.example.test presents a certificate for another name.
	w.serve(files{"/doc.xml": docA}, []string{"other.test"}, "docs.example.test")
	_, err := lookupNever(t, w.resolver(), "example.test")
	var te *TLSError
	if !errors.As(err, &te) || te.Host != "docs.example.test" || te.Check != "webpki" {
		t.Fatalf("err = %v, want a webpki TLSError for docs.example.test", err)
	}

	// The same hop with a matching certificate works.
	w2 := newWorld(t)
	w2.serve(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		http.Redirect(rw, r, "https://docs.example.test/doc.xml", http.StatusFound)
	}), []string{"example.test"}, "example.test")
	w2.serve(files{"/doc.xml": docA}, []string{"docs.example.test"}, "docs.example.test")
	res, err := lookupNever(t, w2.resolver(), "example.test")
	if err != nil || res.Sources[0].FinalURL != "https://docs.example.test/doc.xml" {
		t.Fatalf("good second hop: %v", err)
	}
}

func TestFetch_UntrustedCertificate_H2(t *testing.T) {
	w := newWorld(t)
	w.serve(files{"/.well-known/xmpp-client.xml": docA}, []string{"example.test"}, "example.test")
	r := w.resolver()
	r.Roots = nil // system roots do not know the test CA
	_, err := lookupNever(t, r, "example.test")
	var te *TLSError
	if !errors.As(err, &te) || te.Check != "webpki" {
		t.Fatalf("err = %v, want webpki TLSError", err)
	}
}

func TestFetch_StatusAndBody_H4_H6(t *testing.T) {
	big := "<hacx>" + strings.Repeat(" ", hacx.MaxSize) + "</hacx>"
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		status    Status
		wantOp    string
		wantCode  int
		wantInErr string
	}{
		{"404 is no document", func(rw http.ResponseWriter, r *http.Request) { http.NotFound(rw, r) }, StatusNone, "", 0, ""},
		{"500 is an error", func(rw http.ResponseWriter, r *http.Request) { http.Error(rw, "oops", http.StatusInternalServerError) }, StatusError, "status", http.StatusInternalServerError, "500 Internal Server Error"},
		{"403 is an error", func(rw http.ResponseWriter, r *http.Request) { http.Error(rw, "no", http.StatusForbidden) }, StatusError, "status", http.StatusForbidden, ""},
		{"oversize body refused", func(rw http.ResponseWriter, r *http.Request) { rw.Write([]byte(big)) }, StatusError, "body", 0, "larger than"},
		{"unrequested gzip refused", func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Content-Encoding", "gzip")
			rw.Write([]byte{0x1f, 0x8b})
		}, StatusError, "body", 0, "Content-Encoding"},
		{"DOCTYPE refused", func(rw http.ResponseWriter, r *http.Request) {
			rw.Write([]byte(`<?xml version="1.0"?><!DOCTYPE hacx [<!ENTITY x SYSTEM "file:///etc/passwd">]><hacx>&x;</hacx>`))
		}, StatusError, "parse", 0, ""},
		{"ill-formed refused", func(rw http.ResponseWriter, r *http.Request) {
			rw.Write([]byte(`<hacx><websocket ip="127.0.0.1" port="443" priority="1" url="wss://a.test/">`))
		}, StatusError, "parse", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.serve(tt.handler, []string{"example.test"}, "example.test")
			res, err := lookupNever(t, w.resolver(), "example.test")
			if got := res.Sources[0].Status; got != tt.status {
				t.Fatalf("status = %s, want %s (err %v)", got, tt.status, err)
			}
			if tt.status == StatusNone {
				if err != nil || len(res.Routes) != 0 {
					t.Fatalf("404: err = %v, routes = %d; want a definite empty answer", err, len(res.Routes))
				}
				return
			}
			var fe *FetchError
			if !errors.As(err, &fe) || fe.Op != tt.wantOp || fe.StatusCode != tt.wantCode {
				t.Fatalf("err = %#v, want FetchError op %s code %d", err, tt.wantOp, tt.wantCode)
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("err %q does not say %q", err, tt.wantInErr)
			}
			var le *LookupError
			if !errors.As(err, &le) {
				t.Errorf("err is not a *LookupError: %T", err)
			}
		})
	}
}

func TestFetch_DOCTYPEIsSyntaxError_H6(t *testing.T) {
	w := newWorld(t)
	w.serve(files{"/.well-known/xmpp-client.xml": `<!DOCTYPE hacx><hacx/>`}, []string{"example.test"}, "example.test")
	_, err := lookupNever(t, w.resolver(), "example.test")
	var se *hacx.SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want *hacx.SyntaxError inside", err)
	}
}

func TestFetch_Timeout_H6(t *testing.T) {
	w := newWorld(t)
	release := make(chan struct{})
	defer close(release)
	w.serve(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.WriteHeader(200)
		rw.Write([]byte("<hacx>"))
		rw.(http.Flusher).Flush()
		select { // a body that never ends
		case <-release:
		case <-r.Context().Done():
		}
	}), []string{"example.test"}, "example.test")
	r := w.resolver()
	r.Timeout = 200e6 // 200 ms for the whole fetch
	_, err := lookupNever(t, r, "example.test")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

func TestFetch_InvalidDomain(t *testing.T) {
	for _, d := range []string{"", "a..b", "exa mple.test", "a/b", strings.Repeat("a", 64) + ".test", "../x"} {
		if _, err := (&Resolver{}).Lookup(context.Background(), d, hacx.Client); err == nil {
			t.Errorf("Lookup(%q) accepted", d)
		}
	}
}

package discover

import (
	"context"
	"testing"

	"hacx.dev/hacx"
)

func TestFallback_NothingPublished_DomainItself_F1(t *testing.T) {
	tests := []struct {
		name string
		kind hacx.Kind
		rrs  []string
		want []string // method addr, in order
	}{
		{"client: 5222 STARTTLS then 5223 direct TLS", hacx.Client,
			[]string{"example.test. 60 IN A 127.0.0.5"},
			[]string{"starttls 127.0.0.5:5222", "tls 127.0.0.5:5223"}},
		{"every address of the domain", hacx.Client,
			[]string{"example.test. 60 IN A 127.0.0.5", "example.test. 60 IN AAAA ::1"},
			[]string{"starttls [::1]:5222", "starttls 127.0.0.5:5222", "tls [::1]:5223", "tls 127.0.0.5:5223"}},
		{"_xmpp-client is '.': no 5222", hacx.Client,
			[]string{"example.test. 60 IN A 127.0.0.5", "_xmpp-client._tcp.example.test. 60 IN SRV 0 0 0 ."},
			[]string{"tls 127.0.0.5:5223"}},
		{"_xmpps-client is '.': no 5223", hacx.Client,
			[]string{"example.test. 60 IN A 127.0.0.5", "_xmpps-client._tcp.example.test. 60 IN SRV 0 0 0 ."},
			[]string{"starttls 127.0.0.5:5222"}},
		{"server: 5269 STARTTLS", hacx.Server,
			[]string{"example.test. 60 IN A 127.0.0.5"},
			[]string{"starttls 127.0.0.5:5269"}},
		{"no address: no route", hacx.Client, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.serve(files{}, []string{"example.test"}, "example.test") // 404 everywhere
			mustAdd(t, w, tt.rrs...)
			res, err := w.resolver().Lookup(context.Background(), "example.test", tt.kind)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, rt := range res.Routes {
				got = append(got, string(rt.Method)+" "+rt.Addr.String())
				if rt.Source != hacx.SourceFallback || rt.SNI != "example.test" || !rt.HasSNI || rt.Host != "example.test" {
					t.Errorf("route %+v: want source fallback, SNI and host the domain", rt)
				}
				if (rt.Method == hacx.MethodTLS) != (rt.ALPN != nil) {
					t.Errorf("route %v: ALPN %q; direct TLS sends xmpp-client, STARTTLS none", rt, rt.ALPN)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("routes %q, want %q", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("route %d = %q, want %q", i, got[i], tt.want[i])
				}
			}
			if res.Published() {
				t.Error("Published() with only fallback routes")
			}
			if !hasSource(res.Sources, hacx.SourceFallback, StatusFound) && len(tt.want) > 0 {
				t.Errorf("no fallback source in %+v", res.Sources)
			}
		})
	}
}

func TestFallback_NotWhenAnythingIsPublished_F1(t *testing.T) {
	w := newWorld(t)
	w.serve(files{}, []string{"example.test"}, "example.test")
	mustAdd(t, w,
		"example.test. 60 IN A 127.0.0.5",
		"_xmpp-client._tcp.example.test. 60 IN SRV 0 0 5222 xmpp.example.test.",
		"xmpp.example.test. 60 IN A 127.0.0.6")
	res, err := w.resolver().Lookup(context.Background(), "example.test", hacx.Client)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Sources {
		if s.Source == hacx.SourceFallback {
			t.Errorf("fallback consulted although SRV published a route: %+v", s)
		}
	}
	if len(res.Routes) != 1 || res.Routes[0].Source != hacx.SourceSRV || !res.Published() {
		t.Errorf("routes %v", res.Routes)
	}
}

func TestFallback_BothServicesDotMeansNone_F1(t *testing.T) {
	w := newWorld(t)
	w.serve(files{}, []string{"example.test"}, "example.test")
	mustAdd(t, w,
		"example.test. 60 IN A 127.0.0.5",
		"_xmpp-client._tcp.example.test. 60 IN SRV 0 0 0 .",
		"_xmpps-client._tcp.example.test. 60 IN SRV 0 0 0 .")
	res, err := w.resolver().Lookup(context.Background(), "example.test", hacx.Client)
	if err != nil || len(res.Routes) != 0 {
		t.Fatalf("routes %v err %v: the domain said it has no XMPP service", res.Routes, err)
	}
	if len(w.dns.Queries()) == 0 {
		t.Fatal("no DNS queries seen")
	}
	for _, q := range w.dns.Queries() {
		if q.Name == "example.test." {
			t.Errorf("the domain's addresses were looked up (%v) although no service is available", q)
		}
	}
}

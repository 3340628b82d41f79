package proxy

import (
	"bytes"
	"strings"
	"testing"
)

func TestRewriteFeatures(t *testing.T) {
	const (
		sasl = "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
		tls  = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
		req  = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
	)
	tests := []struct {
		name     string
		in       string
		offer    bool
		required bool
		want     string
	}{
		{"plus mechanisms go, others stay byte for byte",
			"<stream:features>" + sasl + "<mechanism>SCRAM-SHA-1-PLUS</mechanism>\n<mechanism>SCRAM-SHA-1</mechanism><mechanism> SCRAM-SHA-256-PLUS </mechanism><mechanism>PLAIN</mechanism></mechanisms><sm xmlns='urn:xmpp:sm:3'/></stream:features>",
			false, false,
			"<stream:features>" + sasl + "\n<mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms><sm xmlns='urn:xmpp:sm:3'/></stream:features>"},
		{"upstream starttls goes, with children and newlines",
			"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>\n<required/>\n</starttls><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>",
			false, false,
			"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"},
		{"our offer goes first",
			"<stream:features xmlns:stream='http://etherx.jabber.org/streams' a='x>y'>" + tls + "<bind/></stream:features>",
			true, false,
			"<stream:features xmlns:stream='http://etherx.jabber.org/streams' a='x>y'>" + tls + "<bind/></stream:features>"},
		{"required offer into empty features",
			"<stream:features/>", true, true, "<stream:features>" + req + "</stream:features>"},
		{"nothing from upstream", "", true, false, "<stream:features>" + tls + "</stream:features>"},
		{"SASL2 -PLUS mechanisms and channel-binding types go",
			"<stream:features>" + sasl + "<mechanism>SCRAM-SHA-256-PLUS</mechanism><mechanism>SCRAM-SHA-256</mechanism></mechanisms>" +
				"<authentication xmlns='urn:xmpp:sasl:2'><mechanism>SCRAM-SHA-256-PLUS</mechanism><mechanism>SCRAM-SHA-256</mechanism><inline><sm xmlns='urn:xmpp:sm:3'/></inline></authentication>" +
				"<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-exporter'/><channel-binding type='tls-server-end-point'/></sasl-channel-binding>" +
				"<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>",
			false, false,
			"<stream:features>" + sasl + "<mechanism>SCRAM-SHA-256</mechanism></mechanisms>" +
				"<authentication xmlns='urn:xmpp:sasl:2'><mechanism>SCRAM-SHA-256</mechanism><inline><sm xmlns='urn:xmpp:sm:3'/></inline></authentication>" +
				"<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"},
		{"authentication in another namespace stays",
			"<stream:features><authentication xmlns='urn:example'><mechanism>A-PLUS</mechanism></authentication></stream:features>", false, false,
			"<stream:features><authentication xmlns='urn:example'><mechanism>A-PLUS</mechanism></authentication></stream:features>"},
		{"a mechanism named -PLUS outside mechanisms stays",
			"<stream:features><x><mechanism>A-PLUS</mechanism></x></stream:features>", false, false,
			"<stream:features><x><mechanism>A-PLUS</mechanism></x></stream:features>"},
		{"broken features pass unchanged",
			"<stream:features><starttls></stream:features>", false, false, "<stream:features><starttls></stream:features>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(rewriteFeatures([]byte(tt.in), tt.offer, tt.required))
			if got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// FuzzRewriteFeatures: upstream features are network input. Never a
// panic; parsed features stay parseable, keep no STARTTLS or -PLUS
// mechanism, and carry exactly our offer when we make one.
func FuzzRewriteFeatures(f *testing.F) {
	for _, s := range []string{
		"<stream:features/>",
		"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1-PLUS</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>",
		"<features a='/>'><starttls><starttls/></starttls></features>",
		"<a><mechanisms><mechanism>X-PLUS<!-- c --></mechanism></mechanisms></a>",
		"<f><authentication xmlns='urn:xmpp:sasl:2'><mechanism>X-PLUS</mechanism></authentication><sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-exporter'/></sasl-channel-binding></f>",
		"",
		"<",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, in []byte, offer bool) {
		out := rewriteFeatures(in, offer, offer)
		if _, ok := featureCuts(in); !ok || len(in) == 0 {
			return
		}
		stripped := rewriteFeatures(in, false, false)
		cut, ok := featureCuts(stripped)
		if !ok || len(cut) > 0 {
			t.Fatalf("%q became %q: parses %v, left %v", in, stripped, ok, cut)
		}
		if !offer {
			return
		}
		if _, ok := featureCuts(out); !ok {
			t.Fatalf("%q with the offer became %q, which does not parse", in, out)
		}
		if n := bytes.Count(out, []byte("<starttls ")) - bytes.Count(stripped, []byte("<starttls ")); n != 1 {
			t.Fatalf("%q: %d offers added in %q", in, n, out)
		}
		if !strings.Contains(string(out), "<required/>") {
			t.Fatalf("required offer lost: %q", out)
		}
	})
}

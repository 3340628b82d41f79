package discover

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/testbed"
)

// unboundWorld is the world of world_test.go with a real validating
// resolver (Debian's unbound) between the Resolver and the DNS server:
//
//   - example.test. is signed and anchored: its answers are secure (AD);
//     _443._tcp.tampered.example.test. has a TLSA set altered after
//     signing, so its RRSIG does not verify (bogus);
//   - rolled.test. was re-signed with a new key after its anchor was
//     taken, so every answer in it is bogus;
//   - plain.test. is not signed and under no anchor: insecure, no AD.
type unboundWorld struct {
	*world
	unbound *testbed.Unbound
	signed  *testbed.SignedZone
}

func newUnboundWorld(t *testing.T) *unboundWorld {
	t.Helper()
	if err := testbed.UnboundAvailable(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs unbound for the DNSSEC tests: %v", err)
		}
		t.Skipf("skipping real DNSSEC validation: %v", err)
	}
	w := newWorld(t)
	signed, err := testbed.NewSignedZone(w.dns, "example.test.")
	if err != nil {
		t.Fatal(err)
	}
	rolled, err := testbed.NewSignedZone(w.dns, "rolled.test.")
	if err != nil {
		t.Fatal(err)
	}
	staleAnchor := rolled.TrustAnchor()
	if err := rolled.Add("_443._tcp.rolled.test. 60 IN TLSA 3 1 1 " + strings.Repeat("ab", 32)); err != nil {
		t.Fatal(err)
	}
	if err := rolled.Resign(); err != nil {
		t.Fatal(err)
	}
	u, err := testbed.StartUnbound(t.Context(), testbed.UnboundConfig{
		Upstream:     w.dns.Addr,
		TrustAnchors: []string{signed.TrustAnchor(), staleAnchor},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("unbound log:\n%s", u.Log())
		}
		u.Close()
	})
	return &unboundWorld{world: w, unbound: u, signed: signed}
}

// resolver asks unbound, not the zone's server, and believes its AD bit
// (DNSSECResolver): these tests are about a validating resolver (X4).
func (w *unboundWorld) resolver() *Resolver {
	r := w.world.resolver()
	r.DNSServer = w.unbound.Addr
	r.DNSSEC = DNSSECResolver
	return r
}

// tlsaFor is a DANE-EE SPKI SHA-256 record (3 1 1) for the key of cert.
func tlsaFor(name string, spki []byte) string {
	sum := sha256.Sum256(spki)
	return name + " 60 IN TLSA 3 1 1 " + hex.EncodeToString(sum[:])
}

func TestUnbound_DNSSEC_X4(t *testing.T) {
	w := newUnboundWorld(t)
	self, err := hacxtest.SelfSigned("example.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.signed.Add(tlsaFor("_443._tcp.example.test.", self.Leaf.RawSubjectPublicKeyInfo)); err != nil {
		t.Fatal(err)
	}

	// A TLSA set altered after it was signed: the RRSIG no longer verifies.
	tampered, err := dns.NewRR("_443._tcp.tampered.example.test. 60 IN TLSA 3 1 1 " + strings.Repeat("cd", 32))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := w.signed.Sign([]dns.RR{tampered})
	if err != nil {
		t.Fatal(err)
	}
	tampered.(*dns.TLSA).Certificate = strings.Repeat("ef", 32)
	w.dns.AddRR(tampered, sig)

	// Unsigned, outside every trust anchor; its record would not match.
	mustAdd(t, w.world, "_443._tcp.plain.test. 60 IN TLSA 3 1 1 "+strings.Repeat("01", 32))

	ctx := context.Background()
	r := w.resolver()

	t.Run("SignedZoneIsSecure", func(t *testing.T) {
		recs, secure, err := r.LookupTLSA(ctx, "example.test", 443)
		if err != nil || len(recs) != 1 || !secure {
			t.Fatalf("recs %d secure %v err %v, want 1 record with AD", len(recs), secure, err)
		}
	})

	t.Run("UnsignedZoneIsInsecure", func(t *testing.T) {
		recs, secure, err := r.LookupTLSA(ctx, "plain.test", 443)
		if err != nil || len(recs) != 1 || secure {
			t.Fatalf("recs %d secure %v err %v, want 1 record without AD", len(recs), secure, err)
		}
	})

	for _, host := range []string{"tampered.example.test", "rolled.test"} {
		t.Run("BogusIsServfail/"+host, func(t *testing.T) {
			recs, secure, err := r.LookupTLSA(ctx, host, 443)
			var de *DNSError
			if !errors.As(err, &de) || de.Rcode != "SERVFAIL" || secure || len(recs) != 0 {
				t.Fatalf("recs %d secure %v err %v, want SERVFAIL", len(recs), secure, err)
			}
			if !tlsaBogus(err) {
				t.Errorf("SERVFAIL from the validating resolver not treated as bogus: %v", err)
			}
			t.Logf("%v", err)
		})
	}

	// End to end: the certificate is in no root pool; only the secure
	// DANE-EE record can authenticate it (RFC 7671: no name check).
	t.Run("SecureDANEEEAuthenticatesFetch", func(t *testing.T) {
		w.serveCert(files{"/.well-known/xmpp-client.xml": docA}, self, "example.test")
		res, err := lookupNever(t, w.resolver(), "example.test")
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Sources[0].DANE; got != "verified" {
			t.Errorf("DANE = %q, want verified", got)
		}
		if len(res.Routes) != 2 {
			t.Errorf("routes = %d, want 2", len(res.Routes))
		}
	})

	t.Run("BogusTLSAAbortsFetch", func(t *testing.T) {
		// A certificate WebPKI accepts: a bogus TLSA answer must still
		// stop the connection, not fall back (RFC 6698 section 4.1).
		w.serve(files{"/.well-known/xmpp-client.xml": docA}, []string{"tampered.example.test"}, "tampered.example.test")
		_, err := lookupNever(t, w.resolver(), "tampered.example.test")
		var te *TLSError
		if !errors.As(err, &te) || te.Check != "dane" {
			t.Fatalf("err = %v, want a dane TLSError", err)
		}
	})

	t.Run("InsecureTLSAProceedsWithWebPKI", func(t *testing.T) {
		w.serve(files{"/.well-known/xmpp-client.xml": docA}, []string{"plain.test"}, "plain.test")
		res, err := lookupNever(t, w.resolver(), "plain.test")
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Sources[0].DANE; got != "unsigned" {
			t.Errorf("DANE = %q, want unsigned", got)
		}
	})
}

package trust

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/hacxtest"
)

// world holds the certificates the tests share; generating keys is the
// slow part, so it is done once.
type world struct {
	root      *hacxtest.CA // leaves signed by the root directly
	inter     *hacxtest.CA // leaves signed by an intermediate
	other     *hacxtest.CA // an unrelated CA
	leaf      []*x509.Certificate
	leafInter []*x509.Certificate // leaf, intermediate
	leafOther []*x509.Certificate
	self      []*x509.Certificate
	expired   []*x509.Certificate
}

var testWorld *world

func getWorld(t testing.TB) *world {
	t.Helper()
	if testWorld != nil {
		return testWorld
	}
	must := func(ca *hacxtest.CA, err error) *hacxtest.CA {
		if err != nil {
			t.Fatal(err)
		}
		return ca
	}
	w := &world{
		root:  must(hacxtest.NewCA("trust-root")),
		inter: must(hacxtest.NewCAWithIntermediate("trust-inter")),
		other: must(hacxtest.NewCA("trust-other")),
	}
	mk := func(c *tls.Certificate, err error) []*x509.Certificate { return chainOf(t, c, err) }
	w.leaf = mk(w.root.Issue("example.org"))
	w.leafInter = mk(w.inter.Issue("example.org", "chat.example.org"))
	w.leafOther = mk(w.other.Issue("example.org"))
	w.self = mk(hacxtest.SelfSigned("example.org"))
	w.expired = mk(w.root.IssueValid(time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour), "example.org"))
	testWorld = w
	return w
}

func chainOf(t testing.TB, c *tls.Certificate, err error) []*x509.Certificate {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	var out []*x509.Certificate
	for _, der := range c.Certificate {
		x, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, x)
	}
	return out
}

func pinOf(t testing.TB, c *x509.Certificate, hashes ...string) hacx.Pin {
	t.Helper()
	p, err := hacx.NewPin(c, hashes...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// weakPin builds pins with hashes NewPin refuses to compute.
func weakPin(c *x509.Certificate) hacx.Pin {
	s := sha1.Sum(c.RawSubjectPublicKeyInfo)
	return hacx.Pin{Digests: []hacx.Digest{{Hash: "sha-1", Value: s[:]}}}
}

func pool(cs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range cs {
		p.AddCert(c)
	}
	return p
}

func hexSHA256(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
func hexSHA512(b []byte) string { s := sha512.Sum512(b); return hex.EncodeToString(s[:]) }

// fakeClock is an injected clock the tests move by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

package serve

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"hacx.dev/hacx/hacxtest"
)

// recorder is a Metrics that remembers every call, and serves what it
// heard as text lines so that tests can also read it through a Server's
// metrics listener.
type recorder struct {
	mu       sync.Mutex
	requests map[string]int // "file status variant" -> count
	reloads  []error
	certs    [][]*x509.Certificate // one entry per Certificates call
	conns    []ConnInfo
	connSig  chan struct{} // closed and replaced at each Connection
}

func (r *recorder) Connection(c *ConnInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conns = append(r.conns, *c)
	if r.connSig != nil {
		close(r.connSig)
		r.connSig = nil
	}
}

// waitConn returns the first connection reported that matches, waiting
// for it up to 20 s: the reports come when connections close, after what
// the test observed.
func (r *recorder) waitConn(t testing.TB, what string, match func(*ConnInfo) bool) ConnInfo {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		r.mu.Lock()
		for i := range r.conns {
			if match(&r.conns[i]) {
				c := r.conns[i]
				r.mu.Unlock()
				return c
			}
		}
		if r.connSig == nil {
			r.connSig = make(chan struct{})
		}
		sig := r.connSig
		seen := fmt.Sprint(r.conns)
		r.mu.Unlock()
		select {
		case <-sig:
		case <-deadline:
			t.Fatalf("no connection reported: %s; reported: %s", what, seen)
		}
	}
}

func (r *recorder) Request(file string, status int, variant string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.requests == nil {
		r.requests = map[string]int{}
	}
	r.requests[fmt.Sprintf("%s %d %s", file, status, variant)]++
}

func (r *recorder) Reload(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reloads = append(r.reloads, err)
}

func (r *recorder) Certificates(leaves []*x509.Certificate) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.certs = append(r.certs, leaves)
}

func (r *recorder) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests[key]
}

// inService returns the names of the certificates last reported, sorted.
func (r *recorder) inService() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.certs) == 0 {
		return nil
	}
	var names []string
	for _, c := range r.certs[len(r.certs)-1] {
		names = append(names, c.DNSNames[0]+"@"+c.SerialNumber.String())
	}
	sort.Strings(names)
	return names
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for k, n := range r.requests {
		fmt.Fprintf(&b, "request %s %d\n", k, n)
	}
	for _, err := range r.reloads {
		fmt.Fprintf(&b, "reload %v\n", err == nil)
	}
	if len(r.certs) > 0 {
		for _, c := range r.certs[len(r.certs)-1] {
			fmt.Fprintf(&b, "cert %s %d\n", c.DNSNames[0], c.NotAfter.Unix())
		}
	}
	w.Write([]byte(b.String()))
}

// TestInService_ReportsChangesOnly: ACME's certificates are reported on
// the first handshake per name and when a name's certificate changes, not
// on every handshake; a file certificate replaces the whole set.
func TestInService_ReportsChangesOnly(t *testing.T) {
	ca, err := hacxtest.NewCA("in service")
	if err != nil {
		t.Fatal(err)
	}
	issue := func(name string) *tls.Certificate {
		c, err := ca.Issue(name)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b, a2 := issue("a.example"), issue("b.example"), issue("a.example")
	var rec recorder
	var c inService
	c.served(&rec, "a.example", a)
	c.served(&rec, "a.example", a) // same certificate: nothing new
	c.served(&rec, "b.example", b)
	c.served(&rec, "a.example", a2) // renewed
	if len(rec.certs) != 3 {
		t.Fatalf("%d reports, want 3 (first a, b, renewed a)", len(rec.certs))
	}
	want := []string{"a.example@" + a2.Leaf.SerialNumber.String(), "b.example@" + b.Leaf.SerialNumber.String()}
	if got := rec.inService(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("in service %v, want %v", got, want)
	}
	noLeaf := &tls.Certificate{Certificate: b.Certificate}
	c.served(&rec, "c.example", noLeaf) // parsed from DER when Leaf is unset
	if got := len(rec.inService()); got != 3 {
		t.Errorf("%d certificates after a third name, want 3", got)
	}
	c.replace(&rec, a.Leaf)
	if got := rec.inService(); len(got) != 1 || got[0] != "a.example@"+a.Leaf.SerialNumber.String() {
		t.Errorf("after replace: %v, want only a's first certificate", got)
	}
	// A nil Metrics is the zero value's: nothing to report, no panic.
	c.served(nil, "a.example", a)
	c.replace(nil, a.Leaf)
}

// TestServer_MetricsListenerNeedsHandler: a metrics listener with nothing
// to serve on it is a mistake caught before anything is loaded, and the
// listeners given are closed.
func TestServer_MetricsListenerNeedsHandler(t *testing.T) {
	ln, mln := listenLoopback(t), listenLoopback(t)
	s := &Server{
		Load:            func() (*Config, error) { return nil, errors.New("must not be called") },
		CertFile:        "cert.pem",
		KeyFile:         "key.pem",
		MetricsListener: mln,
	}
	err := s.Serve(t.Context(), ln)
	if err == nil || !strings.Contains(err.Error(), "MetricsHandler") {
		t.Fatalf("Serve = %v, want an error naming MetricsHandler", err)
	}
	for _, l := range []interface{ Close() error }{ln, mln} {
		if err := l.Close(); err == nil {
			t.Error("a listener was left open")
		}
	}
}

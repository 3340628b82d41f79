package discover

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/testbed"
)

// world is a small loopback internet: one test CA, one DNS server, and
// HTTPS servers reached by name through the Resolver's DialContext.
type world struct {
	t     testing.TB
	ca    *hacxtest.CA
	dns   *testbed.DNSServer
	mu    sync.Mutex
	hosts map[string]string // "name:port" -> listener address
	dials atomic.Int64
}

func newWorld(t testing.TB) *world {
	t.Helper()
	ca, err := hacxtest.NewCA(t.Name())
	if err != nil {
		t.Fatal(err)
	}
	d, err := testbed.NewDNSServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return &world{t: t, ca: ca, dns: d, hosts: map[string]string{}}
}

// serve starts an HTTPS server with a certificate for certNames, reachable
// as each of names on port 443, and counts its requests.
func (w *world) serve(h http.Handler, certNames []string, names ...string) *atomic.Int64 {
	w.t.Helper()
	cert, err := w.ca.Issue(certNames...)
	if err != nil {
		w.t.Fatal(err)
	}
	return w.serveCert(h, cert, names...)
}

// serveCert is serve with a given certificate.
func (w *world) serveCert(h http.Handler, cert *tls.Certificate, names ...string) *atomic.Int64 {
	w.t.Helper()
	var n atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h.ServeHTTP(rw, r)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.StartTLS()
	w.t.Cleanup(srv.Close)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, name := range names {
		w.hosts[name+":443"] = srv.Listener.Addr().String()
	}
	return &n
}

func (w *world) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	w.dials.Add(1)
	w.mu.Lock()
	target, ok := w.hosts[addr]
	w.mu.Unlock()
	if !ok {
		// Nothing leaves loopback: unknown names are refused here.
		return nil, &net.OpError{Op: "dial", Net: network, Err: errUnknownHost(addr)}
	}
	var d net.Dialer
	return d.DialContext(ctx, network, target)
}

type errUnknownHost string

func (e errUnknownHost) Error() string { return "test world: no server for " + string(e) }

// resolver returns a Resolver wired to the world.
func (w *world) resolver() *Resolver {
	return &Resolver{
		Roots:       w.ca.Pool(),
		DNSServer:   w.dns.Addr,
		DialContext: w.dial,
		Rand:        rand.New(rand.NewPCG(1, 2)),
		Timeout:     5 * time.Second,
	}
}

// files serves fixed bodies by path; anything else is 404.
type files map[string]string

func (f files) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, ok := f[r.URL.Path]
	if !ok {
		http.NotFound(rw, r)
		return
	}
	if strings.HasSuffix(r.URL.Path, ".json") {
		rw.Header().Set("Content-Type", "application/json")
	} else {
		rw.Header().Set("Content-Type", "application/xml")
	}
	rw.Write([]byte(body))
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

package dnssec_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"

	"hacx.dev/hacx/dnssec"
	"hacx.dev/hacx/hacxtest"
)

// countingListener counts the connections accepted.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// plainServer answers A queries on loopback, UDP and TCP on one port:
// "big." gets an answer too large for UDP; with closeAfter the server
// closes each TCP connection after one answer.
func plainServer(t *testing.T, closeAfter bool) (string, *countingListener, *atomic.Int64) {
	t.Helper()
	var udp atomic.Int64
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		n := 1
		if req.Question[0].Name == "big." {
			n = 100
		}
		for i := range n {
			rr, _ := dns.NewRR(req.Question[0].Name + " 60 IN A 192.0.2." + string(rune('0'+i%10)))
			m.Answer = append(m.Answer, rr)
		}
		if w.LocalAddr().Network() == "udp" {
			udp.Add(1)
			m.Truncate(512)
		}
		w.WriteMsg(m)
		if closeAfter && w.LocalAddr().Network() == "tcp" {
			w.Close()
		}
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: l}
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: cl, Handler: h}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go s.ActivateAndServe()
		<-started
		t.Cleanup(func() { s.Shutdown() })
	}
	return pc.LocalAddr().String(), cl, &udp
}

func ask(t *testing.T, c *dnssec.Client, name string) *dns.Msg {
	t.Helper()
	m := dnssec.NewQuery(name, dns.TypeA, true)
	r, err := c.Exchange(context.Background(), m)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if r.Id != m.Id || len(r.Answer) == 0 {
		t.Fatalf("%s: answer %v", name, r)
	}
	return r
}

func TestClient_PlainTruncatedGoesTCP(t *testing.T) {
	addr, tcp, udp := plainServer(t, false)
	srv, _ := dnssec.ParseServer(addr)
	c := &dnssec.Client{Server: srv}
	defer c.Close()
	if r := ask(t, c, "small."); len(r.Answer) != 1 || tcp.n.Load() != 0 || udp.Load() != 1 {
		t.Fatalf("small answer: %d records, %d TCP connections, %d UDP", len(r.Answer), tcp.n.Load(), udp.Load())
	}
	if r := ask(t, c, "big."); len(r.Answer) != 100 || tcp.n.Load() != 1 {
		t.Fatalf("big answer: %d records, %d TCP connections", len(r.Answer), tcp.n.Load())
	}
}

// StreamOnly (through a proxy, T1): no UDP at all, one connection reused
// (RFC 7766 section 6.2.1); a server that closes it costs a new one, not
// a failed query.
func TestClient_StreamOnlyReusesConnection_T1(t *testing.T) {
	addr, tcp, udp := plainServer(t, false)
	srv, _ := dnssec.ParseServer(addr)
	c := &dnssec.Client{Server: srv, StreamOnly: true}
	defer c.Close()
	for _, n := range []string{"a.", "b.", "c.", "d."} {
		ask(t, c, n)
	}
	if tcp.n.Load() != 1 || udp.Load() != 0 {
		t.Errorf("%d TCP connections, %d UDP queries; want 1 and 0", tcp.n.Load(), udp.Load())
	}

	addr, tcp, _ = plainServer(t, true)
	srv, _ = dnssec.ParseServer(addr)
	c2 := &dnssec.Client{Server: srv, StreamOnly: true}
	defer c2.Close()
	for _, n := range []string{"a.", "b.", "c."} {
		ask(t, c2, n)
	}
	if tcp.n.Load() != 3 {
		t.Errorf("%d TCP connections to a server closing each, want 3", tcp.n.Load())
	}
}

// DNS over HTTPS (RFC 8484): POST and GET with ID 0 and the message
// padded (RFC 8467), the answer's type checked, over one connection.
func TestClient_DoH_RFC8484(t *testing.T) {
	ca, err := hacxtest.NewCA(t.Name())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("dns.test", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var methods []string
	remotes := map[string]bool{}
	contentType := "application/dns-message"
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/dns-query" {
			http.NotFound(w, r)
			return
		}
		var wire []byte
		switch r.Method {
		case http.MethodPost:
			if r.Header.Get("Content-Type") != "application/dns-message" {
				http.Error(w, "type", http.StatusUnsupportedMediaType)
				return
			}
			wire, _ = io.ReadAll(r.Body)
		case http.MethodGet:
			wire, _ = base64.RawURLEncoding.DecodeString(r.URL.Query().Get("dns"))
		}
		q := new(dns.Msg)
		if q.Unpack(wire) != nil || q.Id != 0 || len(wire)%128 != 0 {
			http.Error(w, "bad query", http.StatusBadRequest)
			return
		}
		mu.Lock()
		methods = append(methods, r.Method+" "+r.Proto)
		remotes[r.RemoteAddr] = true
		mu.Unlock()
		m := new(dns.Msg)
		m.SetReply(q)
		rr, _ := dns.NewRR(q.Question[0].Name + " 60 IN A 192.0.2.1")
		m.Answer = []dns.RR{rr}
		out, _ := m.Pack()
		w.Header().Set("Content-Type", contentType)
		w.Write(out)
	}))
	s.EnableHTTP2 = true
	s.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	defer s.Close()

	for _, tmpl := range []string{"https://" + s.Listener.Addr().String() + "/dns-query", "https://" + s.Listener.Addr().String() + "/dns-query{?dns}"} {
		srv, err := dnssec.ParseServer(tmpl)
		if err != nil {
			t.Fatal(err)
		}
		c := &dnssec.Client{Server: srv, Roots: ca.Pool()}
		for _, n := range []string{"a.", "_443._tcp.a-longer-name.example."} {
			ask(t, c, n)
		}
		c.Close()
	}
	mu.Lock()
	got := strings.Join(methods, ", ")
	mu.Unlock()
	if got != "POST HTTP/2.0, POST HTTP/2.0, GET HTTP/2.0, GET HTTP/2.0" || len(remotes) != 2 {
		t.Errorf("requests %s from %d connections; want one connection per Client", got, len(remotes))
	}

	contentType = "text/html"
	srv, _ := dnssec.ParseServer("https://" + s.Listener.Addr().String() + "/dns-query")
	c := &dnssec.Client{Server: srv, Roots: ca.Pool()}
	defer c.Close()
	if _, err := c.Exchange(context.Background(), dnssec.NewQuery("a.", dns.TypeA, true)); err == nil || !strings.Contains(err.Error(), "application/dns-message") {
		t.Errorf("answer of another type: err %v", err)
	}
	srv.URL = strings.Replace(srv.URL, "/dns-query", "/elsewhere", 1)
	c2 := &dnssec.Client{Server: srv, Roots: ca.Pool()}
	defer c2.Close()
	if _, err := c2.Exchange(context.Background(), dnssec.NewQuery("a.", dns.TypeA, true)); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("HTTP error: err %v", err)
	}
}

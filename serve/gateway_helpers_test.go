package serve

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/xmppstream"
)

const gwDomain = "gw.test"

// testGateway is a Server with a gateway, on loopback listeners, serving
// the configuration cfg returns (reloaded by Reload and CheckFiles).
type testGateway struct {
	t      testing.TB
	s      *Server
	ca     *hacxtest.CA
	rec    *recorder
	log    *syncBuffer
	dir    string
	addr   string // HTTPS listener (ALPN routed)
	xmpps  string // direct-TLS listener
	cancel context.CancelFunc
	done   chan error
	cfg    atomic.Pointer[Config]
}

// startGateway serves cfg with a certificate for gwDomain from a new CA.
// tune, if not nil, changes the Server before it starts.
func startGateway(t testing.TB, cfg *Config, tune func(*Server)) *testGateway {
	t.Helper()
	ca, err := hacxtest.NewCA("gateway")
	if err != nil {
		t.Fatal(err)
	}
	g := &testGateway{t: t, ca: ca, rec: new(recorder), log: new(syncBuffer), dir: t.TempDir(), done: make(chan error, 1)}
	g.cfg.Store(cfg)
	writeCertFiles(t, ca, g.dir, gwDomain, "other.test")
	ln := listenOn(t, "127.0.0.1")
	xl := listenOn(t, "127.0.0.1")
	g.addr, g.xmpps = ln.Addr().String(), xl.Addr().String()
	g.s = &Server{
		Load: func() (*Config, error) {
			c := *g.cfg.Load() // a copy: Server fills in the public ports
			return &c, nil
		},
		PollInterval:  -1,
		CertFile:      filepath.Join(g.dir, "cert.pem"),
		KeyFile:       filepath.Join(g.dir, "key.pem"),
		Metrics:       g.rec,
		Logger:        slog.New(slog.NewTextHandler(g.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		XMPPSListener: xl,
	}
	if tune != nil {
		tune(g.s)
	}
	var ctx context.Context
	ctx, g.cancel = context.WithCancel(context.Background())
	go func() { g.done <- g.s.Serve(ctx, ln) }()
	t.Cleanup(g.stop)
	// A completed handshake proves that Serve has loaded everything.
	c, err := tls.Dial("tcp", g.addr, &tls.Config{ServerName: gwDomain, RootCAs: ca.Pool(), NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatalf("gateway not serving: %v\n%s", err, g.log)
	}
	c.Close()
	return g
}

// stop shuts the gateway down and waits for Serve to return.
func (g *testGateway) stop() {
	g.cancel()
	select {
	case err := <-g.done:
		if err != nil {
			g.t.Errorf("Serve: %v", err)
		}
		g.done <- nil // for a second stop
	case <-time.After(30 * time.Second):
		g.t.Errorf("Serve did not return after shutdown\n%s", g.log)
	}
}

func writeCertFiles(t testing.TB, ca *hacxtest.CA, dir string, names ...string) *tls.Certificate {
	t.Helper()
	c, err := ca.Issue(names...)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := hacxtest.CertPEM(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

func listenOn(t testing.TB, ip string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// tlsClient connects to addr with TLS for domain, offering alpn (none
// when empty), from the local address from when set.
func (g *testGateway) tlsClient(addr, from, domain string, alpn ...string) (*tls.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	return tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: domain, RootCAs: g.ca.Pool(), NextProtos: alpn})
}

// openStream writes a stream header for domain and reads the answer: the
// server's header and features, or a stream error.
func openStream(c net.Conn, domain string, kind hacx.Kind) (*xmppstream.Header, error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if err := xmppstream.WriteOpen(c, domain, kind); err != nil {
		return nil, err
	}
	h, _, err := xmppstream.ReadOpen(c, domain, kind)
	return h, err
}

// echoRoundTrip sends an element over an open stream and reads back what
// the fake upstream echoes.
func echoRoundTrip(c net.Conn, id string) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	msg := "<iq type='get' id='" + id + "'/>"
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	// The echo may start with the whitespace after the stream header.
	var got []byte
	buf := make([]byte, 256)
	for len(bytes.TrimLeft(got, " \n")) < len(msg) {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return fmt.Errorf("echo %q: %w", got, err)
		}
	}
	if string(bytes.TrimLeft(got, " \n")) != msg {
		return fmt.Errorf("echo %q, want %q", got, msg)
	}
	return nil
}

// fakeXMPP is an upstream XMPP server on loopback: it reads an optional
// PROXY v2 header, the client's stream header, answers with its own from
// the domain asked and empty features, then echoes every byte.
type fakeXMPP struct {
	ln       net.Listener
	tls      *tls.Config // direct TLS when set
	proxy    bool        // expect a PROXY v2 header
	accepted atomic.Int32
	mu       sync.Mutex
	headers  []proxyInfo
	kinds    []hacx.Kind
}

type proxyInfo struct{ src, dst netip.AddrPort }

func startFakeXMPP(t testing.TB, tlsCfg *tls.Config, proxy bool) *fakeXMPP {
	t.Helper()
	f := &fakeXMPP{ln: listenOn(t, "127.0.0.1"), tls: tlsCfg, proxy: proxy}
	t.Cleanup(func() { f.ln.Close() })
	go func() {
		for {
			c, err := f.ln.Accept()
			if err != nil {
				return
			}
			f.accepted.Add(1)
			go f.serve(c)
		}
	}()
	return f
}

func (f *fakeXMPP) addr() string { return f.ln.Addr().String() }

func (f *fakeXMPP) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	if f.proxy {
		pi, err := readProxyV2(br)
		if err != nil {
			return
		}
		f.mu.Lock()
		f.headers = append(f.headers, pi)
		f.mu.Unlock()
	}
	var rw io.ReadWriter = struct {
		io.Reader
		io.Writer
	}{br, c}
	if f.tls != nil {
		tc := tls.Server(&bufConn{Conn: c, r: br}, f.tls)
		if tc.Handshake() != nil {
			return
		}
		rw = tc
		defer tc.Close()
	}
	// Which kind: try the client namespace, then the server one, on the
	// header bytes read so far.
	var hdr bytes.Buffer
	tee := io.TeeReader(rw, &hdr)
	kind := hacx.Client
	h, err := xmppstream.ReadClientOpen(tee, hacx.Client)
	if err != nil {
		kind = hacx.Server
		if h, err = xmppstream.ReadClientOpen(bytes.NewReader(hdr.Bytes()), hacx.Server); err != nil {
			return
		}
	}
	f.mu.Lock()
	f.kinds = append(f.kinds, kind)
	f.mu.Unlock()
	xmppstream.WriteServerOpen(rw, h.To, "fake", kind)
	xmppstream.WriteFeatures(rw, nil)
	c.SetDeadline(time.Time{})
	io.Copy(rw, rw)
}

// bufConn reads through a bufio.Reader that may hold bytes already.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// readProxyV2 reads and checks a PROXY protocol v2 header of a TCP
// connection.
func readProxyV2(r io.Reader) (proxyInfo, error) {
	var pi proxyInfo
	head := make([]byte, 16)
	if _, err := io.ReadFull(r, head); err != nil {
		return pi, err
	}
	if !bytes.Equal(head[:12], []byte("\r\n\r\n\x00\r\nQUIT\n")) || head[12] != 0x21 {
		return pi, errors.New("not a PROXY v2 header")
	}
	body := make([]byte, binary.BigEndian.Uint16(head[14:]))
	if _, err := io.ReadFull(r, body); err != nil {
		return pi, err
	}
	var n int
	switch head[13] {
	case 0x11:
		n = 4
	case 0x21:
		n = 16
	default:
		return pi, fmt.Errorf("family %#x", head[13])
	}
	if len(body) < 2*n+4 {
		return pi, errors.New("short PROXY addresses")
	}
	src, _ := netip.AddrFromSlice(body[:n])
	dst, _ := netip.AddrFromSlice(body[n : 2*n])
	pi.src = netip.AddrPortFrom(src.Unmap(), binary.BigEndian.Uint16(body[2*n:]))
	pi.dst = netip.AddrPortFrom(dst.Unmap(), binary.BigEndian.Uint16(body[2*n+2:]))
	return pi, nil
}

// refusedAddr is a loopback address where nothing listens.
func refusedAddr(t testing.TB) string {
	t.Helper()
	ln := listenOn(t, "127.0.0.1")
	a := ln.Addr().String()
	ln.Close()
	return a
}

// syncBuffer is a log a server writes while a test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gwConfig is one domain, gwDomain, with upstream u and the gateway
// settings g, publishing records derived from them.
func gwConfig(u *Upstream, g Gateway) *Config {
	if len(g.PublicIPs) == 0 {
		g.PublicIPs = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	}
	return &Config{Domains: []Domain{{Name: gwDomain, Upstream: u}}, Gateway: g}
}

// waitEOF reads c until it ends, and fails when it does not within 10 s.
func waitEOF(t testing.TB, c net.Conn, what string) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil && !isEOF(err) && !strings.Contains(err.Error(), "reset") {
		if isTimeout(err) {
			t.Fatalf("%s: still open after 10 s", what)
		}
	}
	return b
}

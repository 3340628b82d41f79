package dial

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/xmppstream"
)

// boshSession is a created XEP-0206 session and the HTTP client bound to
// its route.
type boshSession struct {
	// url is the connection manager's https:// URL.
	url string
	// sess is the manager's session creation response: SID, wait, hold,
	// requests, and features if it sent them.
	sess *xmppstream.BOSHSession
	// client sends every request to the route's ip:port with the route's
	// SNI and the same certificate checks as the first connection (A8).
	client *http.Client

	rid atomic.Uint64 // the last rid used
}

// nextRID returns the request ID for the next request (XEP-0124 section
// 14: each request increments it by one).
func (s *boshSession) nextRID() uint64 { return s.rid.Add(1) }

// post sends body (a complete <body/> element) and returns the response
// body, at most xmppstream.MaxBOSHBody: a connection manager that held a
// request while stanzas piled up answers with all of them in one body. A
// non-200 status is an error (XEP-0124 section 17: the session is gone).
func (s *boshSession) post(ctx context.Context, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("bosh: %w", err)
	}
	req.Header.Set("Content-Type", xmppstream.BOSHContentType)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bosh: POST %s: %w", s.url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, xmppstream.MaxBOSHBody+1))
	if err != nil {
		return nil, fmt.Errorf("bosh: reading response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bosh: POST %s: HTTP %s (%q)", s.url, resp.Status, excerpt(data))
	}
	if len(data) > xmppstream.MaxBOSHBody {
		return nil, fmt.Errorf("bosh: response larger than %d bytes", xmppstream.MaxBOSHBody)
	}
	return data, nil
}

// firstRID picks a random initial request ID below 2^52, leaving room to
// increment without passing 2^53 (XEP-0124 section 7.1).
func firstRID() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])>>12 | 1
}

// tryBOSH is XMPP over BOSH (XEP-0206): TLS to the route's ip:port (A8),
// a session creation request to the URL, and a response whose from must
// be domain (C4).
func (d *Dialer) tryBOSH(ctx context.Context, a *attempt, domain string, kind hacx.Kind) (*Conn, error) {
	hr, err := d.connectHTTPRoute(ctx, a, domain, "https")
	if err != nil {
		return nil, err
	}
	// No deferred release: a created session keeps the client and its
	// connections; the transport's close frees them.
	u, cs, client := hr.url, hr.tls, hr.client

	s := &boshSession{url: u.String(), client: client}
	rid := firstRID()
	s.rid.Store(rid)
	limit := d.streamTimeout()
	sctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	data, err := s.post(sctx, xmppstream.BOSHSessionRequest(domain, rid, kind))
	if err == nil {
		s.sess, err = xmppstream.ParseBOSHSession(data, domain)
	}
	if err != nil {
		hr.release()
		return nil, streamErr(ctx, sctx, err, "bosh session creation", limit)
	}
	hdr := s.sess.Header
	t := &boshTransport{s: s, log: d.log(), features: completeFeatures(data)}
	// The connection the session creation took: the verified one.
	if first := hr.last(); first != nil {
		t.local, t.remote = first.LocalAddr(), first.RemoteAddr()
	}
	return &Conn{
		Domain: domain, Kind: kind, Route: a.route,
		Header: &hdr, Features: s.sess.Features, Verified: a.how(),
		TLS: cs, t: t,
	}, nil
}

// excerpt is a short, printable prefix of what a peer sent, for errors.
func excerpt(b []byte) string {
	const max = 64
	if len(b) > max {
		b = b[:max]
	}
	return string(b)
}

// boshTransport is a created BOSH session.
type boshTransport struct {
	s             *boshSession
	log           *slog.Logger
	local, remote net.Addr // of the first connection
	// features are the creation response's features made
	// namespace-complete: the raw ones may use a prefix the body declared.
	features []byte
}

// completeFeatures returns the <stream:features/> child of a session
// creation response, namespace-complete; nil when there is none.
func completeFeatures(body []byte) []byte {
	children, _, err := xmppstream.BOSHChildren(body)
	if err != nil {
		return nil
	}
	for _, ch := range children {
		if localName(ch) == "features" {
			return ch
		}
	}
	return nil
}

// close terminates the session (XEP-0124 section 13) within a short
// grace period and releases the connections.
func (t *boshTransport) close() error {
	defer t.s.client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), closeGrace)
	defer cancel()
	_, err := t.s.post(ctx, xmppstream.BOSHWrapTerminate(t.s.sess.SID, t.s.nextRID()))
	return err
}

func (t *boshTransport) stream(c *Conn) (net.Conn, error) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &boshStream{
		t: t, c: c, ctx: ctx, cancel: cancel, open: opening{c: c, framed: true, features: t.features},
		in: make(chan boshItem), schedDone: make(chan struct{}),
		rdl: newDeadline(), wdl: newDeadline(),
		data: make(chan struct{}, 1), room: make(chan struct{}, 1),
	}
	s.fr = framer{sink: s, open: &s.open, max: c.maxElement(), abs: headerAbsorber{domain: c.Domain, kind: c.Kind}}
	go func() {
		defer close(s.schedDone)
		// Without features in the creation response, the first request
		// fetches them at once; with them, the caller's first element
		// is on its way.
		s.schedule(len(t.features) == 0)
	}()
	return s, nil
}

// boshInbox bounds the bytes of responses waiting for the caller's Read:
// past it the scheduler waits, its requests stop, and the manager keeps
// the server's data (back-pressure, as a full socket would give).
const boshInbox = 256 << 10

// boshStream is the stream conn of a BOSH route: the framer's units go to
// the scheduler (boshsched.go), which posts requests and hands what the
// responses carry to the read side.
type boshStream struct {
	t      *boshTransport
	c      *Conn
	ctx    context.Context // ends with Close: cancels requests under way
	cancel context.CancelFunc
	open   opening
	fr     framer

	in        chan boshItem // the framer's units, to the scheduler
	schedDone chan struct{} // closed when the scheduler has returned
	bg        sync.WaitGroup

	// The read side: what the responses carried, in stream order.
	mu     sync.Mutex
	buf    []byte
	off    int
	rerr   error // set when the session ended: io.EOF or why
	closed bool  // Close was called: deliveries are dropped
	data   chan struct{}
	room   chan struct{}

	rdl, wdl  *deadline
	closeOnce sync.Once
}

func (s *boshStream) Write(p []byte) (int, error) { return s.fr.write(p) }

func (s *boshStream) Read(p []byte) (int, error) {
	if n, ok := s.open.read(p); ok {
		return n, nil
	}
	for {
		s.mu.Lock()
		if s.off < len(s.buf) {
			n := copy(p, s.buf[s.off:])
			s.off += n
			if s.off == len(s.buf) {
				s.buf, s.off = s.buf[:0], 0
			}
			s.mu.Unlock()
			signal(s.room)
			return n, nil
		}
		err := s.rerr
		if s.closed {
			err = net.ErrClosed
		}
		s.mu.Unlock()
		if err != nil {
			return 0, err
		}
		select {
		case <-s.data:
		case <-s.rdl.wait():
			return 0, os.ErrDeadlineExceeded
		}
	}
}

// deliver appends b to what the caller reads. With wait, it waits while
// boshInbox bytes are unread; it reports false when the stream is closed
// or the session is over.
func (s *boshStream) deliver(b []byte, wait bool) bool {
	for {
		s.mu.Lock()
		switch {
		case s.closed || s.rerr != nil:
			s.mu.Unlock()
			return false
		case !wait || len(s.buf)-s.off < boshInbox:
			s.buf = append(s.buf, b...)
			s.mu.Unlock()
			signal(s.data)
			return true
		}
		s.mu.Unlock()
		select {
		case <-s.room:
		case <-s.ctx.Done():
			return false
		}
	}
}

// finish ends the read side once what was delivered has been read: with
// io.EOF after </stream:stream>, or with why the session failed.
func (s *boshStream) finish(err error) {
	s.mu.Lock()
	if s.rerr == nil {
		s.rerr = err
	}
	s.mu.Unlock()
	signal(s.data)
}

// signal wakes one waiter on c, if any, without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// put hands an item to the scheduler, waiting while it has enough queued
// (back-pressure on the caller's writes).
func (s *boshStream) put(it boshItem) error {
	select {
	case s.in <- it:
		return nil
	case <-s.schedDone:
		return fmt.Errorf("dial: bosh: the session has ended: %w", net.ErrClosed)
	case <-s.wdl.wait():
		return os.ErrDeadlineExceeded
	}
}

// restart answers the caller's restarted header at once with the
// session's (BOSH restarts have no header of their own, XEP-0206
// section 5), then asks for the restart.
func (s *boshStream) restart(*xmppstream.Header) error {
	sess := s.t.s.sess
	h := &xmppstream.Header{From: sess.Header.From, ID: sess.Header.ID, Lang: sess.Header.Lang}
	s.deliver(xmppstream.HeaderFromOpen(h, s.c.Kind), false)
	return s.put(boshItem{restart: true})
}

func (s *boshStream) element(b []byte) error { return s.put(boshItem{elem: b}) }

func (s *boshStream) end() error { return s.put(boshItem{close: true}) }

// keepalive: BOSH has none; the request held at the manager keeps the
// session alive.
func (s *boshStream) keepalive() {}

// CloseWrite ends the caller's stream with a terminate request, unless
// it has ended.
func (s *boshStream) CloseWrite() error { return s.fr.closeWrite() }

// Close ends the session with a terminate request unless the caller did
// (or a write is under way), waits closeGrace at most for its answer,
// and releases the connections.
func (s *boshStream) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.buf = nil
		s.mu.Unlock()
		signal(s.data)
		grace := time.NewTimer(closeGrace)
		defer grace.Stop()
		s.wdl.set(time.Now().Add(closeGrace)) // the terminate's put
		s.fr.tryEnd()
		select {
		case <-s.schedDone:
		case <-grace.C:
		}
		s.cancel()
		<-s.schedDone
		s.bg.Wait()
		s.t.s.client.CloseIdleConnections()
	})
	return nil
}

func (s *boshStream) LocalAddr() net.Addr  { return s.t.local }
func (s *boshStream) RemoteAddr() net.Addr { return s.t.remote }

// ConnectionState is the state of the first HTTPS connection of the
// session; see Conn.StreamConn for why it must not serve channel binding.
func (s *boshStream) ConnectionState() tls.ConnectionState { return s.c.TLS }

func (s *boshStream) SetDeadline(t time.Time) error {
	s.rdl.set(t)
	s.wdl.set(t)
	return nil
}

func (s *boshStream) SetReadDeadline(t time.Time) error {
	s.rdl.set(t)
	return nil
}

func (s *boshStream) SetWriteDeadline(t time.Time) error {
	s.wdl.set(t)
	return nil
}

// errNotXMPPBody wraps a response body that is not XMPP.
func errNotXMPPBody(err error) error {
	return fmt.Errorf("dial: the BOSH connection manager sent a body that is not XMPP: %w", err)
}

// deadline is a net.Conn deadline for waits that are not on a socket
// (BOSH's): wait returns a channel closed once the deadline has passed,
// and a new deadline applies to waits already under way, as net.Conn
// requires.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	passed chan struct{}
}

func newDeadline() *deadline { return &deadline{passed: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.passed // the timer fired: wait for it to close the channel
	}
	d.timer = nil
	closed := isClosed(d.passed)
	switch {
	case t.IsZero():
		if closed {
			d.passed = make(chan struct{})
		}
	case time.Until(t) <= 0:
		if !closed {
			close(d.passed)
		}
	default:
		if closed {
			d.passed = make(chan struct{})
		}
		ch := d.passed
		d.timer = time.AfterFunc(time.Until(t), func() { close(ch) })
	}
}

func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.passed
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

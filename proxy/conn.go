package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/xmppstream"
)

// conn is one client connection and, once dialed, its upstream.
type conn struct {
	srv    *Server
	kind   hacx.Kind
	ctx    context.Context
	cancel context.CancelFunc
	start  time.Time

	raw net.Conn // the accepted connection
	mu  sync.Mutex
	cc  net.Conn // raw, or the local TLS connection after STARTTLS
	up  *dial.Conn
	wmu sync.Mutex // one writer at a time on cc, element by element
	// ended: the client's stream got its end from the proxy (a stream
	// error): what the upstream still sends is dropped.
	ended bool

	// sc is up's stream conn: the RFC 6120 byte stream whatever the
	// route's method; upAhead is what the proxy read of it past the
	// first features, for the client.
	sc      net.Conn
	upAhead []byte

	domain    string
	from      string       // the client's from=, sent upstream on s2s streams
	streamTag []byte       // the qualified name of the client's stream header
	toServer  atomic.Int64 // bytes from the client, relayed
	toClient  atomic.Int64 // bytes written to the client
	last      atomic.Int64 // unix nanoseconds of the last byte moved
	stopping  atomic.Bool  // Shutdown asked for a polite end
	relaying  atomic.Bool  // past the opening exchange
	outcome   string       // for the log line: "closed", "remote-connection-failed", ...
	omu       sync.Mutex
	idle      *time.Timer
}

func newConn(ctx context.Context, s *Server, nc net.Conn) *conn {
	c := &conn{srv: s, kind: s.Kind, raw: nc, cc: nc, start: time.Now()}
	c.ctx, c.cancel = context.WithCancel(ctx)
	c.touch()
	return c
}

// setOutcome records the first reason the connection ended.
func (c *conn) setOutcome(o string) {
	c.omu.Lock()
	if c.outcome == "" {
		c.outcome = o
	}
	c.omu.Unlock()
}

func (c *conn) touch() { c.last.Store(time.Now().UnixNano()) }

func (c *conn) client() net.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cc
}

// writeClient writes b to the client as one unit.
func (c *conn) writeClient(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.ended {
		return errClientEnded
	}
	return c.writeClientLocked(b)
}

func (c *conn) writeClientLocked(b []byte) error {
	n, err := c.client().Write(b)
	c.toClient.Add(int64(n))
	c.srv.metrics().ConnBytes(0, int64(n))
	if n > 0 {
		c.touch()
	}
	return err
}

// errClientEnded is what writes to a client whose stream the proxy ended
// get.
var errClientEnded = errors.New("proxy: the client's stream has ended")

// failClient sends a stream error and the end of the stream, bounded so
// that a client that does not read cannot hold the proxy; the client's
// stream is over, and nothing more is written to it.
func (c *conn) failClient(condition, text string) {
	c.setOutcome(condition)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.ended {
		return
	}
	c.ended = true
	c.client().SetWriteDeadline(time.Now().Add(closeGrace))
	c.writeClientLocked(streamError(condition, text))
}

// serve runs the connection from the client's header to the end.
func (c *conn) serve() {
	c.srv.metrics().ConnOpened(c.kind)
	defer c.srv.metrics().ConnClosed(c.kind)
	// Serve's ctx ending ends the connection at once, whatever it is
	// blocked in (a header read, a byte copy).
	stopAbort := context.AfterFunc(c.ctx, c.abort)
	defer func() {
		stopAbort()
		c.cancel() // first: a late checkIdle sees the end and does nothing
		c.mu.Lock()
		idle := c.idle
		c.mu.Unlock()
		if idle != nil {
			idle.Stop()
		}
		// An opening that failed after the dial still owes the upstream
		// its goodbye, which closing the dial.Conn says as long as
		// nothing was written to its stream; a relay has ended the
		// upstream stream itself (</stream:stream>, <close/>, a BOSH
		// terminate) or been cut short.
		c.closeUpstream()
		c.client().Close()
		c.raw.Close()
		c.logEnd()
	}()
	sp, pending, err := c.open()
	if err != nil {
		c.handshakeFailed(err)
		return
	}
	c.relaying.Store(true)
	c.armIdle()
	if c.stopping.Load() { // Shutdown came during the opening exchange
		c.interruptClient()
	}
	c.relay(sp, pending)
	c.setOutcome("closed")
}

// armIdle starts the idle timeout once relaying starts. The opening
// exchange has its own bounds (HeaderTimeout, DialTimeout, the dialer's
// StreamTimeout) and a stream error there needs a header first, which
// handshakeFailed sends and checkIdle would not.
func (c *conn) armIdle() {
	d := c.srv.idleTimeout()
	if d <= 0 {
		return
	}
	c.touch() // the opening's bytes are not the relay's idle time
	// Armed after c.idle is set, so that checkIdle always sees it.
	c.mu.Lock()
	c.idle = time.AfterFunc(time.Hour, c.checkIdle)
	c.idle.Stop()
	c.idle.Reset(d)
	c.mu.Unlock()
}

// checkIdle ends a connection on which nothing moved for IdleTimeout.
func (c *conn) checkIdle() {
	if c.ctx.Err() != nil { // the connection ended meanwhile
		return
	}
	d := c.srv.idleTimeout()
	since := time.Since(time.Unix(0, c.last.Load()))
	if since < d {
		c.mu.Lock()
		c.idle.Reset(d - since)
		c.mu.Unlock()
		return
	}
	c.srv.metrics().Refused(RefusedIdle)
	c.failClient("connection-timeout", fmt.Sprintf("nothing moved on this connection for %s", d))
	c.abort()
}

// goodbye is Shutdown's polite end: during the opening exchange the
// connection is dropped; while relaying, the client's side is interrupted
// and the relay closes the upstream stream as the client's
// </stream:stream> would, so the server's goodbye reaches the client.
func (c *conn) goodbye() {
	c.stopping.Store(true)
	c.srv.metrics().Refused(RefusedShutdown)
	c.setOutcome("shutdown")
	if !c.relaying.Load() {
		c.abort()
		return
	}
	c.interruptClient()
}

// interruptClient makes the blocked read of the client's side return.
func (c *conn) interruptClient() {
	c.client().SetReadDeadline(time.Now())
}

// abort closes everything at once. The upstream is closed beside it: its
// transport's close is bounded by dial's grace period (a WebSocket close
// handshake, a BOSH terminate) but need not hold up the caller, and
// serve's own closeUpstream waits for it.
func (c *conn) abort() {
	c.cancel()
	go c.closeUpstream()
	c.client().Close()
	c.raw.Close()
}

// closeUpstream closes the dial.Conn (and so its stream conn); a second
// call waits for the first to finish.
func (c *conn) closeUpstream() {
	c.mu.Lock()
	up := c.up
	c.mu.Unlock()
	if up != nil {
		up.Close()
	}
}

// openError is a failure of the opening exchange: the stream error to
// send and why.
type openError struct {
	condition string
	text      string
	err       error
}

func (e *openError) Error() string {
	return fmt.Sprintf("proxy: %s: %s", e.condition, e.text)
}

func (e *openError) Unwrap() error { return e.err }

// handshakeFailed tells the client why, when there is still a stream to
// tell it on.
func (c *conn) handshakeFailed(err error) {
	var oe *openError
	if !errors.As(err, &oe) {
		c.setOutcome("client-gone")
		c.srv.log().Debug("proxy: connection ended during the opening", "remote", c.remote(), "err", err)
		return
	}
	c.failClient(oe.condition, oe.text)
}

// open reads the client's stream header, dials the domain it names and
// answers with the upstream's header and features (offering local
// STARTTLS when configured). The client's header that starts the relayed
// stream (the one after local STARTTLS, if any) goes to the upstream's
// stream conn, which absorbs it: the server has the dialer's. open
// returns the splitter reading the client, and an element the client
// sent that the relay must forward first.
func (c *conn) open() (*xmppstream.Splitter, *xmppstream.Token, error) {
	headerTimeout := orDefault(c.srv.HeaderTimeout, DefaultHeaderTimeout)
	c.raw.SetReadDeadline(time.Now().Add(headerTimeout))
	sp := xmppstream.NewSplitter(c.raw, c.srv.MaxElement)
	hdr, err := c.readHeader(sp)
	if err != nil {
		// The client has not got a header yet: give it one to carry the error.
		c.writeHeader(&xmppstream.Header{ID: newID()})
		return nil, nil, err
	}
	c.domain, c.from = hdr.Header.To, hdr.Header.From
	c.raw.SetReadDeadline(time.Time{})

	up, err := c.dial()
	local := &xmppstream.Header{From: c.domain, ID: newID()}
	if err != nil {
		c.writeHeader(local)
		return nil, nil, err
	}
	features, err := c.firstFeatures(up)
	if err != nil {
		c.writeHeader(local)
		return nil, nil, err
	}
	upHdr := &xmppstream.Header{From: up.Header.From, ID: up.Header.ID, Lang: up.Header.Lang}
	if upHdr.ID == "" {
		upHdr.ID = local.ID
	}
	cfg := c.srv.TLSConfig
	if err := c.writeClientOpen(upHdr, rewriteFeatures(features, cfg != nil, c.srv.TLSRequired)); err != nil {
		return nil, nil, err
	}
	if cfg == nil {
		return sp, nil, c.startUpstream(hdr)
	}

	// Local STARTTLS (RFC 6120 section 5.4), answered here, never upstream.
	c.raw.SetReadDeadline(time.Now().Add(headerTimeout))
	tok, err := nextToken(sp)
	if err != nil {
		return nil, nil, clientErrorWaiting(err, "no <starttls/> or first element in time after the features")
	}
	if tok.Kind != xmppstream.TokenElement || tok.Name != (xml.Name{Space: nsTLS, Local: "starttls"}) {
		if c.srv.TLSRequired {
			c.srv.metrics().Refused(RefusedBadStream)
			return nil, nil, &openError{condition: "policy-violation", text: "this proxy requires STARTTLS first"}
		}
		c.raw.SetReadDeadline(time.Time{})
		return sp, &tok, c.startUpstream(hdr)
	}
	if len(bytes.TrimLeft(sp.Buffered(), " \t\r\n")) > 0 {
		// RFC 6120 section 5.4.3.3: nothing but whitespace may follow
		// <starttls/> before the TLS handshake.
		return nil, nil, &openError{condition: "not-well-formed", text: "data after <starttls/> before the TLS handshake"}
	}
	if err := c.writeClient([]byte("<proceed xmlns='" + nsTLS + "'/>")); err != nil {
		return nil, nil, err
	}
	tc := tls.Server(c.raw, cfg)
	c.raw.SetDeadline(time.Now().Add(headerTimeout))
	if err := tc.HandshakeContext(c.ctx); err != nil {
		return nil, nil, fmt.Errorf("proxy: local TLS handshake: %w", err)
	}
	c.mu.Lock()
	c.cc = tc
	c.mu.Unlock()
	sp = xmppstream.NewSplitter(tc, c.srv.MaxElement)
	hdr, err = c.readHeader(sp)
	if err != nil {
		// A new stream over TLS: the error needs a header of its own.
		c.writeHeader(&xmppstream.Header{From: c.domain, ID: newID()})
		return nil, nil, err
	}
	c.raw.SetDeadline(time.Time{})
	if err := c.writeClientOpen(upHdr, rewriteFeatures(features, false, false)); err != nil {
		return nil, nil, err
	}
	return sp, nil, c.startUpstream(hdr)
}

// startUpstream writes the client's header to the upstream's stream conn,
// which checks and absorbs it, so that the stream goes on where the
// dialer left it.
func (c *conn) startUpstream(hdr xmppstream.Token) error {
	if _, err := c.sc.Write(hdr.Raw); err != nil {
		return &openError{condition: "undefined-condition", text: "hacx proxy could not start the stream to " + c.domain + ": " + err.Error(), err: err}
	}
	return nil
}

// readHeader reads the client's stream header and checks what the proxy
// needs: the content namespace of its kind, version 1.x and a to.
func (c *conn) readHeader(sp *xmppstream.Splitter) (xmppstream.Token, error) {
	tok, err := nextToken(sp)
	if err != nil {
		return tok, clientError(err)
	}
	if tok.Kind != xmppstream.TokenOpen {
		c.srv.metrics().Refused(RefusedBadStream)
		return tok, &openError{condition: "not-well-formed", text: "expected a stream header"}
	}
	c.streamTag = sp.StreamName()
	h := tok.Header
	switch {
	case h.NS != c.kind.Namespace():
		c.srv.metrics().Refused(RefusedBadStream)
		return tok, &openError{condition: "invalid-namespace", text: fmt.Sprintf("this listener relays %s streams (%s), not %q", c.kind, c.kind.Namespace(), h.NS)}
	case !strings.HasPrefix(h.Version, "1."):
		c.srv.metrics().Refused(RefusedBadStream)
		return tok, &openError{condition: "unsupported-version", text: "version 1.0 is required"}
	case h.To == "":
		c.srv.metrics().Refused(RefusedBadStream)
		return tok, &openError{condition: "host-unknown", text: "the stream header has no to: the proxy needs the domain to connect to"}
	}
	return tok, nil
}

// nextToken skips whitespace keepalives.
func nextToken(sp *xmppstream.Splitter) (xmppstream.Token, error) {
	for {
		tok, err := sp.Next()
		if err != nil || tok.Kind != xmppstream.TokenSpace {
			return tok, err
		}
	}
}

// clientError turns what the splitter said about the client's input into
// the stream error to answer with, or a plain error when the connection
// just ended.
func clientError(err error) error {
	return clientErrorWaiting(err, "no stream header in time")
}

// clientErrorWaiting is clientError with the text of a timeout: what the
// proxy was waiting for.
func clientErrorWaiting(err error, timeoutText string) error {
	var se *xmppstream.StreamError
	if errors.As(err, &se) {
		text := err.Error()
		if se.Condition == "policy-violation" {
			text = "element too large: " + text
		}
		return &openError{condition: se.Condition, text: text, err: err}
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &openError{condition: "connection-timeout", text: timeoutText, err: err}
	}
	return err
}

// dial connects to the client's domain and records the result.
func (c *conn) dial() (*dial.Conn, error) {
	ctx, cancel := context.WithTimeout(c.ctx, orDefault(c.srv.DialTimeout, DefaultDialTimeout))
	defer cancel()
	d := c.srv.dialer()
	var up *dial.Conn
	var err error
	if c.kind == hacx.Server {
		// The local server's own domain goes upstream as from= (RFC 6120
		// 4.7.1); a copy, so that connections from different servers do
		// not share it.
		sd := *d
		sd.From = c.from
		up, err = sd.DialServer(ctx, c.domain)
	} else {
		up, err = d.Dial(ctx, c.domain)
	}
	if err != nil {
		c.srv.metrics().UpstreamFailed(c.kind)
		return nil, &openError{condition: "remote-connection-failed", text: fmt.Sprintf("hacx proxy could not reach %s: %v", c.domain, err), err: err}
	}
	c.mu.Lock()
	c.up = up
	c.mu.Unlock()
	if c.ctx.Err() != nil { // aborted while dialing: abort missed up
		return nil, c.ctx.Err()
	}
	c.srv.metrics().RouteWon(up.Route)
	c.srv.log().Debug("proxy: upstream connected", "domain", c.domain, "route", up.Route.String(), "verified", up.Verified)
	return up, nil
}

// firstFeatures takes the upstream's stream conn and reads its first
// <stream:features/>: the dialer read them over TLS and the stream conn
// replays them after the rebuilt header; over WebSocket they are the next
// message; over BOSH they came in the session creation response or come
// in the next one. What the reading took past them is kept for the
// client (upAhead).
func (c *conn) firstFeatures(up *dial.Conn) ([]byte, error) {
	fail := func(err error) error {
		c.srv.metrics().UpstreamFailed(c.kind)
		return &openError{condition: "remote-connection-failed", text: fmt.Sprintf("hacx proxy reached %s over %s but got no stream features: %v", c.domain, up.Route, err), err: err}
	}
	up.MaxElement = c.srv.MaxElement
	sc, err := up.StreamConn()
	if err != nil {
		return nil, fail(err)
	}
	c.mu.Lock()
	c.sc = sc
	c.mu.Unlock()
	timeout := orDefault(c.srv.dialer().StreamTimeout, dial.DefaultStreamTimeout)
	if up.Route.Method == hacx.MethodBOSH {
		// The request that fetches late features may be held for the
		// session's wait (at most what the dialer asked for).
		timeout += xmppstream.BOSHWait * time.Second
	}
	sc.SetReadDeadline(time.Now().Add(timeout))
	defer sc.SetReadDeadline(time.Time{})
	usp := xmppstream.NewSplitter(sc, xmppstream.DefaultMaxElement)
	if tok, err := nextToken(usp); err != nil || tok.Kind != xmppstream.TokenOpen {
		if err == nil {
			err = fmt.Errorf("got %s where the stream header was expected", tok.Kind)
		}
		return nil, fail(err)
	}
	tok, err := nextToken(usp)
	if err != nil {
		return nil, fail(err)
	}
	switch {
	case tok.Name == xml.Name{Space: xmppstream.NSStream, Local: "error"}:
		return nil, fail(fmt.Errorf("the server sent a stream error: %s", tok.Raw))
	case tok.Kind != xmppstream.TokenElement || tok.Name != (xml.Name{Space: xmppstream.NSStream, Local: "features"}):
		return nil, fail(fmt.Errorf("got %q where <stream:features/> was expected", tok.Raw))
	}
	c.upAhead = bytes.Clone(usp.Buffered())
	if bytes.HasPrefix(tok.Raw, []byte("<stream:")) {
		return tok.Raw, nil // byte for byte under the proxy's header, which declares stream
	}
	// Another prefix, declared on the upstream's header: the element
	// must carry the declaration under the proxy's.
	return usp.Complete(tok), nil
}

func (c *conn) writeHeader(h *xmppstream.Header) {
	c.client().SetWriteDeadline(time.Now().Add(closeGrace))
	c.writeClient(xmppstream.HeaderFromOpen(h, c.kind))
	c.client().SetWriteDeadline(time.Time{})
}

func (c *conn) writeClientOpen(h *xmppstream.Header, features []byte) error {
	b := xmppstream.HeaderFromOpen(h, c.kind)
	return c.writeClient(append(b, features...))
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return "hacx-" + hex.EncodeToString(b[:])
}

func (c *conn) remote() string {
	if a := c.raw.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}

// logEnd writes the one line per connection.
func (c *conn) logEnd() {
	c.omu.Lock()
	outcome := c.outcome
	c.omu.Unlock()
	attrs := []any{
		"remote", c.remote(), "kind", c.kind.String(), "domain", c.domain,
		"bytes_to_server", c.toServer.Load(), "bytes_to_client", c.toClient.Load(),
		"duration", time.Since(c.start).Round(time.Millisecond).String(), "outcome", outcome,
	}
	c.mu.Lock()
	up := c.up
	c.mu.Unlock()
	if up != nil {
		attrs = append(attrs, "route", up.Route.String(), "method", string(up.Route.Method), "verified", up.Verified)
	}
	c.srv.log().Info("proxy: connection", attrs...)
}

// runBoth runs the two directions of a relay. When one ends, the other
// has closeGrace to finish (the peer's answer to a closing stream) before
// the connection is aborted.
func (c *conn) runBoth(a, b func()) {
	done := make(chan struct{}, 2)
	go func() { a(); done <- struct{}{} }()
	go func() { b(); done <- struct{}{} }()
	<-done
	t := time.AfterFunc(closeGrace, c.abort)
	<-done
	t.Stop()
}

// readClosed reports whether err only says the client's side ended (EOF,
// a closed connection, the interruption of Shutdown).
func readClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF)
}

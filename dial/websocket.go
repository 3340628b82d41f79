package dial

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"hacx.dev/hacx"
	"hacx.dev/hacx/xmppstream"
)

// tryWebSocket is XMPP over WebSocket (RFC 7395): TLS to the route's
// ip:port (A8), the upgrade for the URL's host and path with subprotocol
// "xmpp" required, then our <open/> and the server's, whose from must be
// domain (C4).
func (d *Dialer) tryWebSocket(ctx context.Context, a *attempt, domain string, kind hacx.Kind) (*Conn, error) {
	hr, err := d.connectHTTPRoute(ctx, a, domain, "wss")
	if err != nil {
		return nil, err
	}
	defer hr.release()
	u, cs, client := hr.url, hr.tls, hr.client

	limit := d.streamTimeout()
	sctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	ws, resp, err := websocket.Dial(sctx, u.String(), &websocket.DialOptions{
		HTTPClient:   client,
		Subprotocols: []string{xmppstream.WSSubprotocol},
	})
	if err != nil {
		if te := timedOut(ctx, sctx, err, "websocket upgrade", "stream timeout", limit); te != nil {
			return nil, te
		}
		if resp != nil {
			return nil, fmt.Errorf("websocket upgrade %s: HTTP %s: %w", u.Redacted(), resp.Status, err)
		}
		return nil, fmt.Errorf("websocket upgrade %s: %w", u.Redacted(), err)
	}
	// coder/websocket accepts a reply without a subprotocol; RFC 7395
	// requires "xmpp" (C3).
	if p := ws.Subprotocol(); p != xmppstream.WSSubprotocol {
		ws.CloseNow()
		return nil, fmt.Errorf("%w (got %q)", ErrNoSubprotocol, p)
	}
	ws.SetReadLimit(xmppstream.MaxMessageBytes)
	hdr, err := wsOpen(sctx, ws, domain)
	if err != nil {
		ws.CloseNow()
		return nil, streamErr(ctx, sctx, err, "websocket <open/>", limit)
	}
	return &Conn{
		Domain: domain, Kind: kind, Route: a.route,
		Header: hdr, Verified: a.how(), TLS: cs,
		t: &wsTransport{ws: ws, tc: hr.last()},
	}, nil
}

func wsOpen(ctx context.Context, ws *websocket.Conn, domain string) (*xmppstream.Header, error) {
	if err := ws.Write(ctx, websocket.MessageText, xmppstream.WSOpen(domain)); err != nil {
		return nil, fmt.Errorf("websocket write <open/>: %w", err)
	}
	typ, msg, err := ws.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("websocket read <open/>: %w", err)
	}
	if typ != websocket.MessageText {
		// RFC 7395 section 3.2: XMPP messages are text frames.
		return nil, fmt.Errorf("websocket: binary message where <open/> was expected")
	}
	return xmppstream.CheckWSOpen(msg, domain)
}

// pingTimeout bounds a WebSocket ping sent for a whitespace keepalive.
const pingTimeout = 30 * time.Second

// wsTransport is an RFC 7395 connection with subprotocol "xmpp", after
// the server's <open/>: the next message is normally
// <stream:features/>.
type wsTransport struct {
	ws *websocket.Conn
	// tc is the TLS connection under ws. websocket.Conn's Close waits up
	// to 5 s for each step of the close handshake, and CloseNow waits for
	// a Close under way; closing tc's NetConn (which skips TLS's own
	// close_notify) ends both at once.
	tc *tls.Conn
}

func (t *wsTransport) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeGrace)
	defer cancel()
	werr := t.ws.Write(ctx, websocket.MessageText, xmppstream.WSClose())
	// CloseNow: the RFC 7395 <close/> already said goodbye; waiting for
	// the WebSocket close handshake would let a silent peer stall us.
	return errors.Join(werr, t.ws.CloseNow())
}

// cut ends the WebSocket at once, whatever is under way on it: a Close
// waiting for the peer included.
func (t *wsTransport) cut() {
	if t.tc != nil {
		t.tc.NetConn().Close() // not tc.Close: its close_notify may wait on a peer that does not read
	}
	t.ws.CloseNow()
}

func (t *wsTransport) stream(c *Conn) (net.Conn, error) {
	// Elements up to the bound, and the framing around them.
	t.ws.SetReadLimit(int64(xmppstream.DefaultMaxElement + 4096))
	ctx, cancel := context.WithCancel(context.Background())
	s := &wsStream{t: t, c: c, ctx: ctx, cancel: cancel, open: opening{c: c, framed: true}}
	s.fr = framer{sink: s, open: &s.open, max: c.maxElement(), abs: headerAbsorber{domain: c.Domain, kind: c.Kind}}
	return s, nil
}

// wsStream is the stream conn of a WebSocket route: the framer turns the
// caller's bytes into messages, Read turns messages into bytes.
type wsStream struct {
	t      *wsTransport
	c      *Conn
	ctx    context.Context // ends with Close: cancels reads, writes and pings
	cancel context.CancelFunc
	open   opening
	fr     framer

	rmu     sync.Mutex
	pending []byte // what is left of the last message read
	rerr    error  // sticky: the server's <close/> (io.EOF) or a failure

	rdl, wdl atomic.Pointer[time.Time] // deadlines, for calls that start after them

	pinging   atomic.Bool    // a ping is in flight
	bg        sync.WaitGroup // pings, waited by Close
	closeOnce sync.Once
}

func (s *wsStream) Write(p []byte) (int, error) { return s.fr.write(p) }

func (s *wsStream) Read(p []byte) (int, error) {
	if n, ok := s.open.read(p); ok {
		return n, nil
	}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	for len(s.pending) == 0 {
		if s.rerr != nil {
			return 0, s.rerr
		}
		if passed(s.rdl.Load()) {
			return 0, os.ErrDeadlineExceeded
		}
		s.pending, s.rerr = s.next()
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	return n, nil
}

// next reads one message and returns its bytes in the RFC 6120 stream:
// <open/> as a stream header, an element as it is, <close/> as
// </stream:stream> with io.EOF.
func (s *wsStream) next() ([]byte, error) {
	typ, msg, err := s.t.ws.Read(s.ctx)
	if err != nil {
		switch {
		case websocket.CloseStatus(err) == websocket.StatusNormalClosure || websocket.CloseStatus(err) == websocket.StatusGoingAway:
			return nil, io.EOF
		case s.ctx.Err() != nil:
			return nil, net.ErrClosed
		}
		return nil, fmt.Errorf("dial: websocket read: %w", err)
	}
	if typ != websocket.MessageText {
		// RFC 7395 section 3.2: XMPP messages are text frames.
		return nil, &xmppstream.Error{Phase: xmppstream.PhaseStream, Reason: "got a binary WebSocket message", Err: xmppstream.ErrNotXMPP}
	}
	tok, err := xmppstream.ParseWSMessage(msg)
	if err != nil {
		return nil, fmt.Errorf("dial: the WebSocket server sent a message that is not XMPP: %w", err)
	}
	switch tok.Kind {
	case xmppstream.TokenOpen:
		return xmppstream.HeaderFromOpen(tok.Header, s.c.Kind), nil
	case xmppstream.TokenClose:
		return []byte("</stream:stream>"), io.EOF
	}
	return tok.Raw, nil
}

func (s *wsStream) send(msg []byte) error {
	if passed(s.wdl.Load()) {
		return os.ErrDeadlineExceeded
	}
	if err := s.t.ws.Write(s.ctx, websocket.MessageText, msg); err != nil {
		return fmt.Errorf("dial: websocket write: %w", err)
	}
	return nil
}

// restart sends a restarted header as <open/>, to the domain dialed.
func (s *wsStream) restart(h *xmppstream.Header) error {
	o := *h
	o.To = s.c.Domain
	return s.send(xmppstream.OpenFromHeader(&o))
}

func (s *wsStream) element(b []byte) error { return s.send(b) }

func (s *wsStream) end() error { return s.send(xmppstream.WSClose()) }

// keepalive sends a WebSocket ping for a whitespace keepalive, which RFC
// 7395 section 3.4 does not carry; at most one is in flight.
func (s *wsStream) keepalive() {
	if !s.pinging.CompareAndSwap(false, true) {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer s.pinging.Store(false)
		ctx, cancel := context.WithTimeout(s.ctx, pingTimeout)
		defer cancel()
		s.t.ws.Ping(ctx)
	}()
}

// CloseWrite ends the caller's stream with <close/>, unless it has ended.
func (s *wsStream) CloseWrite() error { return s.fr.closeWrite() }

// Close ends the stream with <close/> unless the caller did (or a write
// is under way), then runs the WebSocket close handshake (RFC 7395
// section 3.6), so that the server sees a normal closure (1000) rather
// than a dropped connection (1006). A server that does not read or does
// not answer is cut off: Close takes closeGrace at most for the
// handshake, and as long again for a <close/> it cannot write.
func (s *wsStream) Close() error {
	s.closeOnce.Do(func() {
		cutEnd := time.AfterFunc(closeGrace, s.t.cut)
		s.fr.tryEnd()
		if !cutEnd.Stop() {
			s.cancel()
			s.bg.Wait()
			return
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.t.ws.Close(websocket.StatusNormalClosure, "")
		}()
		t := time.NewTimer(closeGrace)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			s.t.cut()
			<-done
		}
		s.cancel()
		s.bg.Wait()
	})
	return nil
}

func (s *wsStream) LocalAddr() net.Addr  { return s.t.tc.LocalAddr() }
func (s *wsStream) RemoteAddr() net.Addr { return s.t.tc.RemoteAddr() }

// ConnectionState is the state of the HTTPS connection the WebSocket
// runs on; see Conn.StreamConn for why it must not serve channel binding.
func (s *wsStream) ConnectionState() tls.ConnectionState { return s.c.TLS }

// SetDeadline sets both deadlines. On the TLS connection under the
// WebSocket, a deadline that passes while a Read or Write waits ends the
// connection: the WebSocket cannot resume a message cut in the middle.
func (s *wsStream) SetDeadline(t time.Time) error {
	s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}

func (s *wsStream) SetReadDeadline(t time.Time) error {
	s.rdl.Store(&t)
	return s.t.tc.SetReadDeadline(t)
}

func (s *wsStream) SetWriteDeadline(t time.Time) error {
	s.wdl.Store(&t)
	return s.t.tc.SetWriteDeadline(t)
}

// passed reports whether a deadline is set and has passed.
func passed(t *time.Time) bool {
	return t != nil && !t.IsZero() && !time.Now().Before(*t)
}

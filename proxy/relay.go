package proxy

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/xmppstream"
)

// relayBuffer is the copy buffer of a relay: a TLS record's payload at
// most, so one client read usually becomes one upstream record.
const relayBuffer = 16 << 10

// relay copies the stream both ways between the client and the
// upstream's stream conn, which carries the same RFC 6120 byte stream
// whatever the route's method (dial translates WebSocket and BOSH), so
// stream restarts, SASL and everything else pass through untouched. What
// is left to the proxy is how each side ends: the client's end of stream,
// half-close or Shutdown reaches the upstream as its transport ends a
// stream, and a failure on one side reaches the other as a stream error
// where the stream allows one.
func (c *conn) relay(sp *xmppstream.Splitter, pending *xmppstream.Token) {
	sc := c.sc
	// WebSocket and BOSH deliver whole elements, so a stream error can
	// always follow what the client got; a direct TLS stream may stop
	// inside an element, where it would be ill-formed.
	framed := c.up.Route.Method == hacx.MethodWebSocket || c.up.Route.Method == hacx.MethodBOSH
	var upDone atomic.Bool // the upstream's side ended
	toServer := func() {
		w := &upWriter{c: c, w: sc, at: &boundary{stream: c.streamTag}}
		// What the splitter read past the opening exchange is the client's.
		ahead := sp.Buffered()
		if pending != nil {
			ahead = append(append([]byte(nil), pending.Raw...), ahead...)
		}
		if len(ahead) > 0 {
			if _, err := w.Write(append([]byte(nil), ahead...)); err != nil {
				c.serverWriteFailed(err, framed, upDone.Load())
				return
			}
		}
		r := &touchReader{c: c, r: c.client()}
		buf := make([]byte, relayBuffer)
		var err error
		for !w.at.closed {
			n, rerr := r.Read(buf)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					c.serverWriteFailed(werr, framed, upDone.Load())
					return
				}
			}
			if rerr != nil {
				err = rerr
				break
			}
		}
		switch {
		case w.at.closed:
			// The client ended its stream (passed on as its transport
			// ends one); nothing after it is XMPP. The server's answer
			// ends the relay.
		case c.stopping.Load():
			// Shutdown: end the upstream stream as the client would; the
			// server's </stream:stream> then reaches the client. Only
			// between two elements: inside one it would be ill-formed
			// XML on a direct TLS stream, which then gets just the end
			// of TLS (over WebSocket and BOSH the element was never sent
			// and the end is whole either way).
			if w.at.atBoundary() {
				sc.SetWriteDeadline(time.Now().Add(closeGrace))
				sc.Write([]byte("</stream:stream>"))
			}
			closeWrite(sc)
		case err == io.EOF:
			closeWrite(sc) // the client half-closed: pass it on
		case readClosed(err):
			// The client's side was closed: by the client, or by the
			// end of the relay after the server closed its stream and
			// the client lingered. A normal end either way.
		default:
			c.setOutcome("client-error")
		}
	}
	toClient := func() {
		if len(c.upAhead) > 0 {
			if err := c.writeClient(c.upAhead); err != nil {
				upDone.Store(true)
				return
			}
		}
		r := &touchReader{c: c, r: sc}
		_, err := io.CopyBuffer(&clientWriter{c}, r, make([]byte, relayBuffer))
		upDone.Store(true)
		if err != nil && r.err != nil && errors.Is(err, r.err) {
			c.upstreamReadFailed(err, framed)
		}
		// A failed write to the client means it went away: a normal end.
		closeWrite(c.client())
	}
	c.runBoth(toServer, toClient)
}

// serverWriteFailed handles a write to the upstream's stream conn that
// failed: over WebSocket and BOSH, where dial cuts the client's bytes into
// elements, because the client's input is not an acceptable stream (the
// client gets the stream error it names, and the upstream stream still
// ends politely), or because the upstream went away.
func (c *conn) serverWriteFailed(err error, framed, upDone bool) {
	var se *xmppstream.StreamError
	switch {
	case errors.As(err, &se):
		if se.Condition == "policy-violation" {
			c.srv.metrics().Refused(RefusedOversized)
		} else {
			c.srv.metrics().Refused(RefusedBadStream)
		}
		var oe *openError
		errors.As(clientError(err), &oe)
		c.failClient(oe.condition, oe.text)
		closeWrite(c.sc)
	case framed:
		c.upstreamFailed(err)
	case upDone:
		c.setOutcome("upstream-closed")
	default:
		c.setOutcome("upstream-error")
	}
}

// upstreamReadFailed handles a read from the upstream's stream conn that
// failed: a message or body that is not XMPP (WebSocket, BOSH), the
// upstream gone, or the end of the relay.
func (c *conn) upstreamReadFailed(err error, framed bool) {
	var xe *xmppstream.Error
	switch {
	case readClosed(err) && (c.ctx.Err() != nil || c.stopping.Load() || !framed):
	case errors.As(err, &xe):
		c.failClient("undefined-condition", "hacx proxy got from the upstream server what is not XMPP: "+err.Error())
	case framed:
		c.upstreamFailed(err)
	default:
		c.setOutcome("upstream-error")
	}
}

// upstreamFailed tells the client that the upstream went away, unless the
// connection is ending anyway.
func (c *conn) upstreamFailed(err error) {
	c.srv.log().Debug("proxy: upstream failed", "domain", c.domain, "err", err)
	if c.ctx.Err() != nil || c.stopping.Load() {
		return
	}
	c.failClient("remote-connection-failed", "hacx proxy lost the connection to "+c.domain+": "+err.Error())
}

// closeWrite half-closes a connection: TCP or TLS (for TLS, a
// close_notify), or a dial stream conn (its transport's end of stream);
// it does nothing when c cannot.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// touchReader marks the connection active on every read and keeps the
// read error, to tell it from the writer's.
type touchReader struct {
	c   *conn
	r   io.Reader
	err error
}

func (t *touchReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.c.touch()
	}
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

// upWriter counts the bytes sent upstream and follows their element
// boundaries.
type upWriter struct {
	c  *conn
	w  io.Writer
	at *boundary
}

func (u *upWriter) Write(p []byte) (int, error) {
	n, err := u.w.Write(p)
	u.at.feed(p[:n])
	u.c.toServer.Add(int64(n))
	u.c.srv.metrics().ConnBytes(int64(n), 0)
	return n, err
}

// clientWriter writes to the client under the connection's write lock.
type clientWriter struct{ c *conn }

func (w *clientWriter) Write(p []byte) (int, error) {
	if err := w.c.writeClient(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

package proxy

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"hacx.dev/hacx/xmppstream"
)

// relayBuffer is the copy buffer of a direct TLS relay: a TLS record's
// payload at most, so one client read usually becomes one upstream record.
const relayBuffer = 16 << 10

// relayTLS copies bytes both ways between the client and a direct TLS
// upstream: the framing is the same on both sides, so stream restarts,
// SASL and everything else pass through untouched.
func (c *conn) relayTLS(sp *xmppstream.Splitter, pending *xmppstream.Token) {
	up := c.up.NetConn
	var upDone atomic.Bool // the upstream's side ended
	toServer := func() {
		w := &upWriter{c: c, w: up, at: &boundary{stream: c.streamTag}}
		if pending != nil {
			if _, err := w.Write(pending.Raw); err != nil {
				return
			}
		}
		// What the splitter read past the opening exchange is the client's.
		if b := sp.Buffered(); len(b) > 0 {
			if _, err := w.Write(append([]byte(nil), b...)); err != nil {
				return
			}
		}
		r := &touchReader{c: c, r: c.client()}
		_, err := io.CopyBuffer(w, r, make([]byte, relayBuffer))
		switch {
		case c.stopping.Load():
			// Shutdown: end the upstream stream as the client would; the
			// server's </stream:stream> then reaches the client. Only
			// between two elements: inside one it would be ill-formed
			// XML, so the upstream then gets just the end of TLS.
			if w.at.atBoundary() {
				up.SetWriteDeadline(time.Now().Add(closeGrace))
				up.Write([]byte("</stream:stream>"))
			}
			closeWrite(up)
		case err == nil:
			closeWrite(up) // the client half-closed: pass it on
		case r.err == nil || !errors.Is(err, r.err): // writing upstream failed
			if upDone.Load() {
				c.setOutcome("upstream-closed")
			} else {
				c.setOutcome("upstream-error")
			}
		case readClosed(err):
			// The client's side was closed: by the client, or by the
			// end of the relay after the server closed its stream and
			// the client lingered. A normal end either way.
		default:
			c.setOutcome("client-error")
		}
	}
	toClient := func() {
		_, err := io.CopyBuffer(&clientWriter{c}, &touchReader{c: c, r: up}, make([]byte, relayBuffer))
		upDone.Store(true)
		if err != nil && !readClosed(err) {
			c.setOutcome("upstream-error")
		}
		closeWrite(c.client())
	}
	c.runBoth(toServer, toClient)
}

// closeWrite half-closes a TCP or TLS connection (for TLS, a
// close_notify), or does nothing when c cannot.
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

// upWriter counts the bytes sent upstream and, when at is set, follows
// their element boundaries.
type upWriter struct {
	c  *conn
	w  io.Writer
	at *boundary
}

func (u *upWriter) Write(p []byte) (int, error) {
	n, err := u.w.Write(p)
	if u.at != nil {
		u.at.feed(p[:n])
	}
	u.c.toServer.Add(int64(n))
	u.c.srv.Metrics.addBytes(int64(n), 0)
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

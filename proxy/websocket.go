package proxy

import (
	"context"
	"errors"
	"time"

	"github.com/coder/websocket"

	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/xmppstream"
)

// pingTimeout bounds a WebSocket ping sent for a client's whitespace
// keepalive.
const pingTimeout = 30 * time.Second

// relayWebSocket translates between the client's RFC 6120 byte stream and
// RFC 7395 messages: one namespace-complete element per message,
// <open/> for a stream header, <close/> for </stream:stream>.
func (c *conn) relayWebSocket(sp *xmppstream.Splitter, pending *xmppstream.Token) {
	ws := c.up.WebSocket
	send := func(msg []byte) error {
		err := ws.Write(c.ctx, websocket.MessageText, msg)
		if err == nil {
			c.toServer.Add(int64(len(msg)))
			c.srv.Metrics.addBytes(int64(len(msg)), 0)
		}
		return err
	}
	toServer := func() {
		closed := false
		defer func() {
			if !closed { // the client went away or Shutdown: end the upstream stream
				ctx, cancel := context.WithTimeout(context.Background(), closeGrace)
				defer cancel()
				ws.Write(ctx, websocket.MessageText, xmppstream.WSClose())
			}
		}()
		for {
			var tok xmppstream.Token
			var err error
			if pending != nil {
				tok, pending = *pending, nil
			} else {
				tok, err = sp.Next()
			}
			if err != nil {
				c.clientReadFailed(err)
				return
			}
			c.touch()
			switch tok.Kind {
			case xmppstream.TokenOpen: // a restart (after SASL)
				h := *tok.Header
				h.To = c.domain
				err = send(xmppstream.OpenFromHeader(&h))
			case xmppstream.TokenElement:
				err = send(sp.Complete(tok))
			case xmppstream.TokenClose:
				closed = true
				send(xmppstream.WSClose())
				return
			case xmppstream.TokenSpace:
				c.ping(ws)
			}
			if err != nil {
				c.upstreamFailed(err)
				return
			}
		}
	}
	toClient := func() {
		for {
			_, msg, err := ws.Read(c.ctx)
			if err != nil {
				c.upstreamFailed(err)
				return
			}
			c.touch()
			tok, err := xmppstream.ParseWSMessage(msg)
			if err != nil {
				c.failClient("undefined-condition", "the upstream WebSocket server sent a message that is not XMPP: "+err.Error())
				return
			}
			switch tok.Kind {
			case xmppstream.TokenOpen:
				err = c.writeClient(xmppstream.HeaderFromOpen(tok.Header, c.kind))
			case xmppstream.TokenElement:
				err = c.writeClient(tok.Raw)
			case xmppstream.TokenClose:
				c.writeClient([]byte("</stream:stream>"))
				closeWrite(c.client())
				return
			}
			if err != nil {
				return
			}
		}
	}
	c.runBoth(toServer, toClient)
	c.closeWebSocket(c.up)
}

// closeWebSocket ends the upstream WebSocket with its close handshake
// (RFC 7395 section 3.6), so that the server sees a normal closure (1000)
// rather than a dropped connection (1006); a server that does not answer
// within closeGrace is cut off: the connection under the WebSocket is
// closed, since websocket.Conn's Close waits up to 5 s for each step of
// the handshake and its CloseNow waits for a Close under way.
func (c *conn) closeWebSocket(up *dial.Conn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		up.WebSocket.Close(websocket.StatusNormalClosure, "")
	}()
	t := time.NewTimer(closeGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		cutWebSocket(up)
		<-done
	}
}

// cutWebSocket ends a WebSocket at once, whatever is under way on it: a
// Close waiting for the peer included.
func cutWebSocket(up *dial.Conn) {
	if tc := up.WebSocketTLS; tc != nil {
		tc.NetConn().Close() // not tc.Close: its close_notify may wait on a peer that does not read
	}
	up.WebSocket.CloseNow()
}

// ping sends a WebSocket ping for a client's whitespace keepalive, so
// that the keepalive reaches the upstream too; at most one is in flight.
func (c *conn) ping(ws *websocket.Conn) {
	if !c.pinging.CompareAndSwap(false, true) {
		return
	}
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		defer c.pinging.Store(false)
		ctx, cancel := context.WithTimeout(c.ctx, pingTimeout)
		defer cancel()
		ws.Ping(ctx)
	}()
}

// clientReadFailed handles the end of the client's side: a clean end or
// Shutdown's interruption says nothing; an invalid stream (an oversized
// element, not XML) gets its stream error.
func (c *conn) clientReadFailed(err error) {
	if readClosed(err) && !isStreamError(err) {
		return
	}
	if oe := (*openError)(nil); errors.As(clientError(err), &oe) {
		if oe.condition == "policy-violation" {
			c.srv.Metrics.refuse("oversized")
		} else {
			c.srv.Metrics.refuse("bad-stream")
		}
		c.failClient(oe.condition, oe.text)
		return
	}
	c.setOutcome("client-error")
}

func isStreamError(err error) bool {
	var se *xmppstream.StreamError
	return errors.As(err, &se)
}

// upstreamFailed tells the client that the upstream went away, unless the
// connection is ending anyway.
func (c *conn) upstreamFailed(err error) {
	if c.ctx.Err() != nil || c.stopping.Load() {
		return
	}
	c.failClient("remote-connection-failed", "hacx proxy lost the connection to "+c.domain+": "+err.Error())
}

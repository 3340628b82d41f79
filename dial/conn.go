package dial

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"time"

	"github.com/coder/websocket"

	"hacx.dev/hacx"
	"hacx.dev/hacx/xmppstream"
)

// closeGrace bounds the goodbye written when a connection is closed: a peer
// that does not read never holds Close up for longer.
const closeGrace = time.Second

// Conn is a verified XMPP stream to the domain asked for: the route that
// won, what the server said, how every route fared, and the transport.
//
// Exactly one of NetConn, WebSocket and BOSH is set, by Route.Method. The
// three transports frame XMPP differently (a byte stream, one element per
// message, request/response bodies); hiding them behind one byte stream
// would only move that translation out of sight, so Conn hands over each
// transport as it is and the caller (the proxy) translates with
// xmppstream.
type Conn struct {
	Domain string
	Kind   hacx.Kind
	// Route is the route that won.
	Route hacx.Route
	// Header is the server's stream header (TLS), <open/> (WebSocket) or
	// session attributes (BOSH); its From is Domain (C4).
	Header *xmppstream.Header
	// Features is the server's raw <stream:features/> element, nil when it
	// was not read: for WebSocket it follows <open/> in a later message,
	// for BOSH it may come in a later response.
	Features []byte
	// Verified says how the certificate was accepted: VerifiedPin,
	// VerifiedDANE or VerifiedWebPKI.
	Verified Verification
	// TLS is the state of the (first) TLS connection: version, cipher,
	// negotiated ALPN, the peer's certificates.
	TLS tls.ConnectionState
	// Attempts is the log of every route started, in route order, the
	// winner included; losers cancelled by the win carry ErrLostRace.
	Attempts []Attempt

	// NetConn (MethodTLS, MethodStartTLS) is the TLS connection,
	// positioned just after the server's <stream:features/> (for STARTTLS,
	// those of the stream restarted over TLS): the stream header exchange
	// is done and the next bytes are the caller's (typically SASL).
	NetConn net.Conn
	// WebSocket (MethodWebSocket) is the RFC 7395 connection with
	// subprotocol "xmpp", after the server's <open/>: the next message is
	// normally <stream:features/>.
	WebSocket *websocket.Conn
	// WebSocketTLS is the TLS connection under WebSocket. websocket.Conn's
	// Close waits up to 5 s for each step of the close handshake, and
	// CloseNow waits for a Close under way; closing this connection (or
	// its NetConn, which skips TLS's own close_notify) ends both at once.
	WebSocketTLS *tls.Conn
	// BOSH (MethodBOSH) is the created session.
	BOSH *BOSHSession
}

// Close ends the stream politely (</stream:stream>, <close/> or a BOSH
// terminate, each bounded by a short grace period) and releases the
// transport.
func (c *Conn) Close() error {
	switch {
	case c == nil:
		return nil
	case c.NetConn != nil:
		// A peer that does not read never holds Close up for long.
		c.NetConn.SetWriteDeadline(time.Now().Add(closeGrace))
		c.NetConn.Write([]byte("</stream:stream>"))
		return c.NetConn.Close()
	case c.WebSocket != nil:
		ctx, cancel := context.WithTimeout(context.Background(), closeGrace)
		defer cancel()
		werr := c.WebSocket.Write(ctx, websocket.MessageText, xmppstream.WSClose())
		// CloseNow: the RFC 7395 <close/> already said goodbye; waiting for
		// the WebSocket close handshake would let a silent peer stall us.
		return errors.Join(werr, c.WebSocket.CloseNow())
	case c.BOSH != nil:
		return c.BOSH.Close()
	}
	return nil
}

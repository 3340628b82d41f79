package dial

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/xmppstream"
)

// closeGrace bounds the goodbye written when a connection is closed: a peer
// that does not read never holds Close up for longer.
const closeGrace = time.Second

// Conn is a verified XMPP stream to the domain asked for: the route that
// won, what the server said, how every route fared. The stream itself is
// reached through StreamConn, an RFC 6120 byte stream whatever the route's
// method (direct TLS, STARTTLS, WebSocket or BOSH); Close ends it.
type Conn struct {
	Domain string
	Kind   hacx.Kind
	// Route is the route that won.
	Route hacx.Route
	// Header is the server's stream header (TLS), <open/> (WebSocket) or
	// session attributes (BOSH); its From is Domain (C4).
	Header *xmppstream.Header
	// Features is the server's raw <stream:features/> element as the
	// dialer read it: after the stream header on direct TLS and STARTTLS
	// (after the restart over TLS), in the session creation response on
	// BOSH when the manager put it there; nil otherwise (over WebSocket it
	// follows <open/> in a later message). StreamConn passes on features
	// read later like any other element.
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

	// MaxElement bounds one top-level element written to the StreamConn
	// of a WebSocket or BOSH route, where the byte stream is cut into
	// elements; a larger one fails Write with an *xmppstream.Error whose
	// *xmppstream.StreamError is policy-violation. 0 means
	// xmppstream.DefaultMaxElement. Set it before calling StreamConn. On
	// direct TLS and STARTTLS bytes pass through as they are, and the
	// server applies its own bound.
	MaxElement int

	t transport // the verified connection, by method

	mu     sync.Mutex
	sc     net.Conn      // the stream conn, once StreamConn was called
	closed chan struct{} // made by the first Close, closed when it returns
}

// transport is one method's verified connection as the dialer hands it
// over: direct TLS and STARTTLS (tlsTransport), WebSocket (wsTransport),
// BOSH (boshTransport). Each turns its framing into the RFC 6120 byte
// stream of StreamConn; nothing else about it is visible outside.
type transport interface {
	// stream starts the byte stream of c (see StreamConn). It is called
	// once.
	stream(c *Conn) (net.Conn, error)
	// close ends the dialer's own stream as its transport ends a stream
	// (</stream:stream>, <close/>, a BOSH terminate), within closeGrace,
	// and releases the connection: for a Conn whose stream was never
	// handed over.
	close() error
}

// StreamConn returns the stream as another XMPP library (or hacx proxy)
// expects to find a new connection: a net.Conn carrying an RFC 6120 byte
// stream, positioned before any stream header, whatever the route's
// method.
//
// The dialer had to open the stream itself to prove it comes from
// c.Domain (C4), so the server's header has already been read (and, over
// TLS, its features) and the server is waiting for the client's next
// step. The returned net.Conn bridges that:
//
//   - the caller's first stream header (an optional XML declaration and
//     the <stream:stream> start tag, in one write or several) is checked
//     and absorbed, never sent: its to must be c.Domain and its content
//     namespace that of c.Kind, else Write fails with an *xmppstream.Error
//     (ErrWrongDomain, ErrNotXMPP, ErrVersion, ErrTooLarge past
//     xmppstream.MaxHeaderBytes) and so does every later Write;
//   - the first reads return the server's stream header, rebuilt from
//     c.Header (same from, id, version, xml:lang, namespaces; to is the
//     caller's from when it sent one, as a server answers, RFC 6120
//     section 4.7.2), followed by c.Features byte for byte;
//   - after that the stream flows both ways, stream restarts after SASL
//     included. Reads do not wait for the caller's header.
//
// How the stream flows depends on the method:
//
//   - direct TLS and STARTTLS: every byte passes through unchanged;
//   - WebSocket (RFC 7395): the caller's bytes are cut into top-level
//     elements (xmppstream.Splitter, at most c.MaxElement bytes each),
//     each sent as one namespace-complete message; a restarted header
//     becomes <open/>, </stream:stream> becomes <close/>, and a
//     whitespace keepalive becomes a WebSocket ping. The server's <open/>
//     reads as a stream header, its <close/> as </stream:stream>;
//   - BOSH (XEP-0206): the caller's elements are batched into requests
//     while one request waits at the connection manager for the server's
//     data, within the session's limits, paced so that requests reach the
//     manager in order (ejabberd 23.01 stalls a session whose requests
//     overtake each other) and sent again with their rid when lost
//     (XEP-0124 section 14.3). A restart becomes an xmpp:restart request
//     and reads as the session's header; </stream:stream> becomes the
//     terminate request. A session the manager ends with a condition
//     reads as a <stream:error/> with that condition (a plain stream
//     error for remote-stream-error), then </stream:stream>.
//
// Over WebSocket and BOSH, input that does not parse as XMPP fails Write
// with an *xmppstream.Error whose *xmppstream.StreamError names the
// condition to report (not-well-formed, policy-violation, ...), and a
// server message that is not XMPP fails Read with an *xmppstream.Error.
// CloseWrite ends the caller's side the way the transport ends a stream
// (TLS close_notify; <close/>; a terminate request), dropping an element
// left unfinished, which over WebSocket and BOSH was never sent.
//
// The connection offers ConnectionState, so a library can do SASL channel
// binding (-PLUS mechanisms) over direct TLS and STARTTLS: unlike through
// hacx proxy, the TLS connection it binds to is the server's own. Over
// WebSocket and BOSH, ConnectionState is that of the HTTPS connection
// the transport runs on (the first one, for BOSH), which the XMPP server
// behind the HTTP endpoint need not see: libraries must not use -PLUS
// mechanisms there. Libraries that look for a *tls.Conn to decide that
// the stream is encrypted must be told so (mellium: the xmpp.Secure
// state).
//
// Deadlines apply as on any net.Conn. Over WebSocket a deadline that
// passes while a Read or Write waits ends the connection (a WebSocket
// cannot resume a message cut in the middle).
//
// StreamConn returns the same net.Conn when called again. Close the
// returned net.Conn, or c, which then closes it: Close ends the transport
// without writing a </stream:stream> of its own (the WebSocket close
// handshake and a BOSH terminate are the transport's), except that a
// stream to which the caller has written nothing yet is still the
// dialer's, and is ended as Conn.Close ends it.
func (c *Conn) StreamConn() (net.Conn, error) {
	if c == nil || c.t == nil {
		return nil, errors.New("dial: StreamConn: no connection (a Conn comes from a Dialer)")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sc != nil {
		return c.sc, nil
	}
	if c.closed != nil {
		return nil, fmt.Errorf("dial: StreamConn: %w", net.ErrClosed)
	}
	if c.Header == nil {
		return nil, errors.New("dial: StreamConn: the server's stream header is missing")
	}
	sc, err := c.t.stream(c)
	if err != nil {
		return nil, err
	}
	c.sc = sc
	return sc, nil
}

// Close ends the stream politely (</stream:stream>, <close/> or a BOSH
// terminate, each bounded by a short grace period) and releases the
// transport. After StreamConn it closes the stream conn instead (see
// StreamConn). A second Close waits for the first to finish and returns
// nil.
func (c *Conn) Close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	if done := c.closed; done != nil {
		c.mu.Unlock()
		<-done
		return nil
	}
	done := make(chan struct{})
	c.closed = done
	sc, t := c.sc, c.t
	c.mu.Unlock()
	defer close(done)
	switch {
	case sc != nil:
		return sc.Close()
	case t != nil:
		return t.close()
	}
	return nil
}

// maxElement is MaxElement with its default.
func (c *Conn) maxElement() int {
	if c.MaxElement > 0 {
		return c.MaxElement
	}
	return xmppstream.DefaultMaxElement
}

// Package proxy gives existing XMPP clients and servers HACX without
// changing them: a local listener speaks plain RFC 6120 XMPP on loopback,
// and every connection is carried to the real service over the best route
// the dial package finds (direct TLS, RFC 7395 WebSocket or XEP-0206
// BOSH), with that route's pins, SNI, ALPN and a verified stream (A5-A10,
// C3-C5).
//
// # One connection
//
// The proxy reads the client's stream header; its to attribute names the
// domain. It dials that domain (client-to-server with [hacx.Client],
// server-to-server with [hacx.Server]), then answers the client with a
// stream header made from the upstream's (its from and id) and the
// upstream's first <stream:features/>, from which it removes what cannot
// work through a proxy: <starttls/> (the upstream connection is already
// encrypted and authenticated by the dialer; STARTTLS is never forwarded)
// and SASL mechanisms ending in -PLUS, in <mechanisms/> and XEP-0388
// <authentication/>, with the XEP-0440 <sasl-channel-binding/> list
// (channel binding binds to the TLS connection the client sees, which is
// not the server's). With a [Server.TLSConfig] the proxy offers STARTTLS
// itself on the local side.
//
// Channel binding cannot cross the proxy, and SCRAM's downgrade
// protection notices: a client that supports channel binding but is
// offered no -PLUS mechanism says so ("y,," in its first message), and a
// server that does support it refuses the login. Such clients must have
// channel binding turned off for accounts used through the proxy.
//
// After that exchange the proxy relays, translating the framing:
//
//   - direct TLS: bytes are copied both ways as they come; stream
//     restarts and everything else pass through untouched;
//   - WebSocket: the client's byte stream is cut into top-level elements
//     (xmppstream.Splitter), each sent as one namespace-complete message; a
//     stream header (a restart) becomes <open/>, </stream:stream> becomes
//     <close/>, and whitespace keepalives become WebSocket pings. The
//     server's <open/> becomes a stream header and <close/> becomes
//     </stream:stream>;
//   - BOSH: one request is kept waiting at the connection manager for the
//     server's data, the client's elements are batched into requests
//     within the session's requests/hold limits (polling sessions are
//     polled no faster than their polling interval), a restart becomes an
//     xmpp:restart request, and a terminate becomes a stream error or
//     </stream:stream> for the client.
//
// Failures are told to the client in its own protocol: when no route
// works the client gets <remote-connection-failed/> with every route's
// reason in the <text/>; an element larger than [Server.MaxElement] is a
// <policy-violation/>; input that is not XMPP is <not-well-formed/> or the
// condition xmppstream names.
//
// # Limits and shutdown
//
// [Server.MaxConns] bounds the connections relayed at once (more are
// refused with <resource-constraint/>), [Server.IdleTimeout] ends a
// connection on which nothing moved either way for that long
// (<connection-timeout/>), and [Server.Shutdown] stops accepting and ends
// every stream politely: the upstream is closed the way its transport
// closes a stream, and the server's own goodbye reaches the client, before
// the connections are released. On a direct TLS relay the proxy follows
// the nesting of what the client sent (a scan for '<', '>' and quotes,
// about 1 ns a byte) and closes the upstream stream only between two
// elements; a client caught inside one leaves the server a stream cut
// short by the end of TLS rather than ill-formed XML.
//
// Rule IDs (A5-A10, C3-C5) refer to the project's protocol rules, docs/RULES.md.
package proxy

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
// After that exchange the proxy copies bytes both ways. It does not
// translate framings itself: the upstream is the dial.Conn's StreamConn,
// an RFC 6120 byte stream whatever the route's method, where package dial
// cuts the client's stream into RFC 7395 messages or paces it into
// XEP-0206 requests, and turns the server's back into a byte stream.
// Stream restarts after SASL pass through like everything else. What the
// proxy keeps is what only a proxy does: the local listener and local
// STARTTLS, the features it filters, the limits below, the metrics
// ([Metrics]), a polite shutdown, and one log line per connection.
//
// Failures are told to the client in its own protocol: when no route
// works the client gets <remote-connection-failed/> with every route's
// reason in the <text/>; over WebSocket and BOSH, where the stream is cut
// into elements, an element larger than [Server.MaxElement] is a
// <policy-violation/> and input that is not XMPP is <not-well-formed/>
// or the condition xmppstream names; an upstream that goes away there is
// <remote-connection-failed/>. A connection manager that ends a BOSH
// session with a condition reaches the client as a stream error of that
// condition.
//
// # Limits and shutdown
//
// [Server.MaxConns] bounds the connections relayed at once (more are
// refused with <resource-constraint/>), [Server.IdleTimeout] ends a
// connection on which nothing moved either way for that long
// (<connection-timeout/>), and [Server.Shutdown] stops accepting and ends
// every stream politely: the upstream stream is ended as its transport
// ends a stream (</stream:stream>, <close/>, a BOSH terminate), and the
// server's own goodbye reaches the client, before the connections are
// released. Only between two elements, though: the proxy follows the
// nesting of what the client sent (a scan for '<', '>' and quotes, about
// 1 ns a byte), and a client caught inside an element leaves a direct TLS
// server a stream cut short by the end of TLS rather than ill-formed XML
// (over WebSocket and BOSH the unfinished element was never sent, and
// the end of the stream goes out whole).
//
// # Metrics
//
// [Server.Metrics] receives the counts: connections by kind, bytes each
// way, winning routes, upstream failures and refusals by reason. The
// package defines the [Metrics] interface only; "hacx proxy --metrics"
// exports it to Prometheus.
//
// Rule IDs (A5-A10, C3-C5) refer to the project's protocol rules, docs/RULES.md.
package proxy

// Package dial connects to an XMPP service over the best working route of
// a HACX document (or any other discovery source), and is the one place
// that says which route is tried, in which order, with what proof.
//
// # What a successful dial proves
//
// A route works (rule C4) when
//
//   - TCP reached the route's ip:port, never a host name (A8);
//   - the TLS handshake sent exactly the route's SNI, or no SNI extension at
//     all when the record has no sni attribute (A5), and exactly its ALPN
//     protocol or no ALPN extension (A6);
//   - the certificate was accepted: by the route's pins when it has any (A9:
//     a leaf pin replaces CA validation, a CA pin needs a verified chain, no
//     match aborts the route), otherwise by a DNSSEC-secure DANE TLSA set
//     at _port._tcp.host (X4), otherwise by WebPKI for the XMPP domain, or
//     for websocket and bosh also the URL host (A10);
//   - the server's stream opening names the domain asked for: a
//     <stream:stream> header and features for direct TLS, an RFC 7395
//     <open/> after a WebSocket upgrade that selected subprotocol "xmpp",
//     or a XEP-0206 session creation response for BOSH.
//
// STARTTLS routes (RFC 6120 section 5, rule S1) add a plaintext step
// before TLS: the server's features must offer <starttls/> and its answer
// must be <proceed/>; then TLS runs with SNI = the domain, the certificate
// is checked as for direct TLS, and the stream restarts, where C4 applies
// in full. STARTTLS is TLS or nothing: features without <starttls/> (an
// attacker's strip), <failure/>, a stream error or EOF fail the route, and
// so do bytes that arrive after <proceed/> before the server's TLS answer
// ([ErrInjected]). Nothing read before TLS is trusted or passed on; the
// plaintext features are kept only for reports ([Attempt.PlainFeatures]).
//
// QUIC routes (XEP-0467, rule Q1) run the QUIC handshake to the route's
// ip:port over UDP ([Dialer.DialPacket] opens the socket) with the
// route's exact SNI and the certificate checks of direct TLS, offer the
// route's ALPN or, since QUIC needs one, the kind's (xmpp-client or
// xmpp-server), and prove the stream on one bidirectional QUIC stream as
// direct TLS does. The attempt's tcp phase is the UDP socket, its tls
// phase the QUIC handshake. Through a SOCKS5 proxy, which carries TCP
// only, QUIC routes are skipped ([ErrQUICThroughProxy], T1).
//
// A route with an ECHConfigList ([hacx.Route].ECH, rule E4) is dialed
// with Encrypted Client Hello: the inner ClientHello carries the route's
// SNI (or the domain), the outer one only the configuration's public name,
// and no ALPN is offered, since crypto/tls would copy it into the outer
// ClientHello. A server that rejects ECH with a retry configuration is
// tried once more with it, on a new connection; any other rejection fails
// the route with [ErrECHRejected], never a clear SNI. [Attempt.ECH] and
// [Attempt.ECHOuter] report the outcome and the name an observer saw.
// Direct TLS, WebSocket and BOSH share this handshake; a QUIC or STARTTLS
// route that carries ech fails.
//
// Any failure moves on to the next route (C3). Attempts overlap as in
// Happy Eyeballs (RFC 8305, rule C5): the next route starts after
// [Dialer.Stagger] or as soon as the previous attempt failed, whichever is
// first, so a dead address never costs a full timeout. The first verified
// stream wins; the attempts still running are cancelled and whatever they
// produce is closed in the background.
//
// # Results
//
// [Dialer.Dial] returns a [*Conn]: the winning route, the server's header
// and features, how the certificate was accepted, the log of every
// attempt, and the stream. The transports frame XMPP differently (a byte
// stream, one element per WebSocket message, BOSH request and response
// bodies); [Conn.StreamConn] hides that difference, here and only here:
// it is the same RFC 6120 byte stream [net.Conn] whatever the route's
// method, which another XMPP library or "hacx proxy" uses as it would a
// new connection. Nothing of the transport itself (no WebSocket or HTTP
// client type) is part of Conn.
//
// When every route fails, the error is an [*Error] listing each attempt
// as a [*RouteError] (route, phase reached, cause, duration), one line per
// route; errors.Is and errors.As reach every cause. [Dialer.DialAll] tries
// every route without stopping at the first success, for "hacx check
// --all".
//
// A phase that runs out of its own limit (ConnectTimeout, HandshakeTimeout,
// StreamTimeout) fails with a [*TimeoutError] that says which limit and
// how long ("tls handshake: no answer within 5s (handshake timeout)"); it
// still matches context.DeadlineExceeded and os.ErrDeadlineExceeded. Each
// [Attempt] also carries what a report needs: the TLS state (version,
// cipher, ALPN, the peer's chain, also for a refused certificate), the
// DANE result, the times to TCP and TLS, and the server's stream header.
//
// # Using the connection with another XMPP library
//
// Libraries such as mellium.im/xmpp negotiate a stream from its very
// beginning: they write their own <stream:stream> header and expect to
// read the server's. A [Conn] is past that point, because the dialer had
// to see the server's header to prove the domain (C4). [Conn.StreamConn]
// bridges the two: it absorbs (and checks) the library's first header
// instead of sending it, answers with the server's header rebuilt from
// [Conn.Header] and the features exactly as received, and carries the
// stream from then on, SASL and stream restarts included:
//
//   - over direct TLS and STARTTLS every byte passes through unchanged;
//   - over WebSocket (RFC 7395) the library's bytes are cut into top-level
//     elements with xmppstream's Splitter and sent one namespace-complete
//     element per message, a restarted header as <open/>,
//     </stream:stream> as <close/>, a whitespace keepalive as a ping; the
//     server's <open/> and <close/> read as a stream header and
//     </stream:stream>;
//   - over BOSH (XEP-0206) one request waits at the connection manager
//     for the server's data while the library's elements go out in
//     further requests, paced so that requests reach the manager in
//     order (ejabberd 23.01 stalls a session whose requests overtake each
//     other) and sent again with their rid when lost (XEP-0124 section
//     14.3); a restart is an xmpp:restart request, </stream:stream> the
//     terminate request, and a session the manager ends with a condition
//     reads as a stream error.
//
// The stream conn offers ConnectionState. Over direct TLS and STARTTLS it
// is the server's own TLS connection, so a library can bind SASL to the
// channel (-PLUS mechanisms), which it cannot through a proxy. Over
// WebSocket and BOSH it is the HTTPS connection the transport runs on,
// which the XMPP server behind the web endpoint need not see: libraries
// must not use -PLUS mechanisms there. Tell the library that the stream
// is already encrypted (mellium: the xmpp.Secure state), since it sees no
// *tls.Conn:
//
//	conn, err := d.Dial(ctx, j.Domain().String())
//	...
//	sc, err := conn.StreamConn()
//	...
//	session, err := xmpp.NewSession(ctx, j.Domain(), j, sc, xmpp.Secure,
//		xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
//			return xmpp.StreamConfig{Features: []xmpp.StreamFeature{xmpp.SASL("", password, sasl.ScramSha256, sasl.Plain), xmpp.BindResource()}}
//		}))
//
// The examples/mellium directory of the repository is a complete program
// with an integration test that logs in over each transport of a real
// Prosody.
//
// # Measured
//
// The benchmarks (racing against sequential tries, route memory, STARTTLS
// against direct TLS, QUIC against TCP) and the numbers measured on them
// are in bench/README.md of the repository.
//
// Rule IDs (A5-A10, C3-C5, X4) refer to the project's protocol rules
// (docs/RULES.md).
package dial

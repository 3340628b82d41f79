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
// attempt, and the transport. The three transports frame XMPP differently
// (a byte stream, one element per WebSocket message, BOSH request and
// response bodies), so Conn hands each over as it is instead of hiding
// them behind one byte stream: a [net.Conn] positioned after the server's
// features for direct TLS, the *websocket.Conn after the server's <open/>,
// or a [*BOSHSession] whose HTTP client stays bound to the route's ip:port.
//
// When every route fails, the error is an [*Error] listing each attempt
// as a [*RouteError] (route, phase reached, cause, duration), one line per
// route; errors.Is and errors.As reach every cause. [Dialer.DialAll] tries
// every route without stopping at the first success, for "hacx check
// --all".
//
// Rule IDs (A5-A10, C3-C5, X4) refer to the project's protocol rules
// (spec/RULES.md in the shared notes).
package dial

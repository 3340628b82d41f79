// Package loopback holds the XMPP endpoints of hacx's tests, all bound to
// loopback addresses: the good ones (direct TLS, STARTTLS, WebSocket,
// BOSH, QUIC, and echo servers that carry a whole stream for relay tests), the
// hostile ones a client must refuse or get past (blackholes, refused
// ports, web and mail servers where XMPP was expected, STARTTLS downgrades
// and injections, stalls), and a SOCKS5 proxy. Each records what every
// client sent (SNI, ALPN, Host, the stream's to) as a Contact.
//
// Rule IDs in comments are defined in docs/RULES.md.
package loopback

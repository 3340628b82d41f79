// Package hostmeta reads and writes the host-meta discovery files that
// XMPP services publish next to (or instead of) a HACX document:
//
//   - XEP-0156 /.well-known/host-meta, an XRD XML document (RFC 6415) whose
//     <Link rel="urn:xmpp:alt-connections:websocket" href="wss://..."/> and
//     rel="urn:xmpp:alt-connections:xbosh" links name the WebSocket and BOSH
//     endpoints (rule X2);
//   - /.well-known/host-meta.json, the same links as JSON (JRD), optionally
//     extended by Host Meta 2 (rule X3): a top-level "xmpp" object carrying
//     "ttl" and "public-key-pins-sha-256", and links with rels
//     urn:xmpp:alt-connections:{tls,quic,websocket,xbosh,s2s-tls,s2s-quic,
//     s2s-websocket} that carry priority, weight, sni, ech, ips and port.
//
// Parsing follows the same safety rules as HACX documents (H6): at most
// MaxSize bytes, no DOCTYPE or entity declarations, bounded nesting, and no
// panics on any input. XRD is read by the same strict reader as HACX
// documents (internal/safexml); JSON by encoding/json after a size and
// nesting check. Unknown links and properties are ignored, never
// fatal. The writers (Marshal, MarshalJSON) produce what the serve package
// publishes, so one configuration yields every discovery format (P5).
//
// See https://xmpp.org/extensions/xep-0156.html and RFC 6415.
//
// Rule IDs in comments and test names are defined in docs/RULES.md.
package hostmeta

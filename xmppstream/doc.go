// Package xmppstream is the minimum XMPP framing HACX needs to prove "this
// is the right server" (rule C4) over each of the three transports:
//
//   - direct TLS (XEP-0368, RFC 6120 section 4): the client writes a
//     <stream:stream> header (WriteOpen), the server answers with its own
//     header and <stream:features/> (ReadOpen checks them);
//   - WebSocket (RFC 7395): one XML element per message, <open/> in
//     urn:ietf:params:xml:ns:xmpp-framing (WSOpen, CheckWSOpen);
//   - BOSH (XEP-0124, XEP-0206): a session creation <body/> request and
//     response (BOSHSessionRequest, ParseBOSHSession).
//
// Every reader is bounded and parses the restricted XML of RFC 6120 section
// 11.1 only: no DOCTYPE, no entity declarations, no processing instructions
// other than the XML declaration, no comments. A server that answers with
// something other than XMPP (an HTTP response, an SMTP banner, a TLS alert,
// a stream error, a stream for another domain) gets an *Error that names
// what it got, so the attempt log can say why a route was skipped (C3).
//
// Every byte from the network goes first through the [Splitter]'s
// scanner: the stream openings (ReadOpen, ReadClientOpen, StartTLS, fed one
// byte at a time so that nothing past the element of interest is consumed
// from the connection), WebSocket messages and BOSH bodies. Its errors
// name the condition a relay sends back; the opening and message readers
// restate them as the causes above. Each element it accepts is then read
// whole into a small tree of names, attributes and text by the module's
// internal/safexml, the one reader that applies the H6 policy to HACX
// documents, host-meta and these XMPP elements alike, with the namespaces
// the stream header declared; an element the two readers disagree on is
// refused as ill-formed XML.
//
// # Relaying a whole stream
//
// Beyond the opening, a relay has to carry a stream from one framing to
// another (package dial does, for every StreamConn of a WebSocket or BOSH
// route). [Splitter] reads an RFC 6120 byte stream
// incrementally and returns one [Token] at a time: a stream header (also
// each restart after STARTTLS or SASL), one complete top-level element, a
// whitespace keepalive, or the closing tag. It never holds more than one
// element's bytes (bounded by the max given to [NewSplitter]); a larger
// element, a comment, a DTD or malformed XML ends the stream with an *Error
// whose *StreamError names the condition to send back. [Splitter.Complete]
// makes an element standalone by copying in the namespace declarations it
// inherited from the stream header, as RFC 7395 messages and BOSH bodies
// require. [OpenFromHeader] and [HeaderFromOpen] translate between
// <stream:stream> and <open/>; [ParseWSMessage] classifies one WebSocket
// message; [BOSHChildren], [BOSHWrap] and [BOSHRestart] unwrap and wrap
// BOSH bodies.
//
// The package also writes the server side of what a gateway answers
// (WriteServerOpen, WriteFeatures, WriteStreamError, WSServerOpen,
// WSStreamError, BOSHTerminate); the fixtures only hacx's own test
// endpoints need (canned features, a BOSH session creation response) are
// in the repository's internal/loopback.
//
// Specifications: RFC 6120 (https://www.rfc-editor.org/rfc/rfc6120),
// RFC 7395 (https://www.rfc-editor.org/rfc/rfc7395),
// XEP-0124 (https://xmpp.org/extensions/xep-0124.html),
// XEP-0206 (https://xmpp.org/extensions/xep-0206.html).
//
// Rule IDs in comments and test names are defined in docs/RULES.md.
package xmppstream

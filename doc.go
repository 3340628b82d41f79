// Package hacx is the document model of XMPP Connections across HTTPS (HACX).
//
// A HACX document, served at https://DOMAIN/.well-known/xmpp-client.xml (or
// xmpp-server.xml for server-to-server), lists every way into an XMPP
// service: direct TLS, WebSocket (RFC 7395) and BOSH (XEP-0206), each with an
// address, RFC 2782 priority and weight, the exact TLS SNI and ALPN to send,
// and optional public-key pins:
//
//	<hacx ttl="300">
//	  <tls ip="192.0.2.10" port="443" priority="10" weight="5" sni="xmpp.example.org" alpn="eG1wcC1jbGllbnQ="/>
//	  <websocket ip="192.0.2.11" port="443" priority="20" url="wss://chat.example.org/xmpp-websocket">
//	    <public-key-pin sha-256="..."/>
//	  </websocket>
//	</hacx>
//
// This package parses (strictly and safely, rule H6), validates (rules
// A1-A10, E1-E3), lints and writes such documents, and defines [Route], the
// one connection candidate that every discovery source converts into. It
// does no network or file I/O.
//
// Rule IDs in comments and test names refer to the project's protocol rules
// (docs/RULES.md).
package hacx

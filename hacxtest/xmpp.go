package hacxtest

import (
	"crypto/tls"

	"hacx.dev/hacx/internal/loopback"
)

// XMPPConfig configures a direct-TLS XMPP endpoint. Its zero value is a
// good client-to-server endpoint for whatever domain the client asks:
// Domain, when set, is the from the endpoint answers with (another
// domain makes the wrong-domain server of rule C4); Kind selects
// jabber:client or jabber:server; RequireALPN fails the handshake unless
// the client offers that protocol ID (A6); StreamError answers the
// client's header with that stream error instead of features.
type XMPPConfig = loopback.XMPPConfig

// XMPPServer is a loopback direct-TLS XMPP endpoint (XEP-0368): it
// completes TLS with its certificate, reads the client's stream header,
// answers with its own header and features, then keeps the stream open
// until the client or Close ends it. Addr is where it listens; Contacts
// and Last tell what each client sent (SNI, ALPN, the stream's to).
type XMPPServer = loopback.XMPPServer

// Contact is what an endpoint saw from one client connection: the exact
// SNI and ALPN (A5, A6), the stream's to and from, and why the exchange
// ended early, if it did.
type Contact = loopback.Contact

// StartXMPP starts a direct-TLS XMPP endpoint on addr (a loopback
// "ip:port", port 0 for any) presenting cert.
func StartXMPP(addr string, cert *tls.Certificate, cfg XMPPConfig) (*XMPPServer, error) {
	return loopback.StartXMPP(addr, cert, cfg)
}

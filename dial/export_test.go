package dial

import (
	"net"

	"hacx.dev/hacx"
	"hacx.dev/hacx/xmppstream"
)

// ConnOverTLS is a Conn as the dialer returns it for a direct TLS route,
// over nc, which may be one end of a pipe: the stream conn tests need no
// server.
func ConnOverTLS(nc net.Conn, domain string, kind hacx.Kind, header xmppstream.Header, features []byte) *Conn {
	return &Conn{
		Domain: domain, Kind: kind, Route: hacx.Route{Method: hacx.MethodTLS},
		Header: &header, Features: features, t: &tlsTransport{nc: nc},
	}
}

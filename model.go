package hacx

import (
	"fmt"
	"net/netip"
)

// DefaultTTL is the cache lifetime, in seconds, of a document without a ttl
// attribute (H5).
const DefaultTTL = 30

// Method is a connection method: the element name of a record.
type Method string

// The methods a HACX document can name, plus STARTTLS, which only SRV
// records (RFC 6120, X1) produce.
const (
	MethodTLS       Method = "tls"       // direct TLS, XEP-0368 style
	MethodWebSocket Method = "websocket" // RFC 7395
	MethodBOSH      Method = "bosh"      // XEP-0206
	MethodStartTLS  Method = "starttls"  // RFC 6120 STARTTLS, from _xmpp-client SRV only
	// MethodQUIC is XMPP over one bidirectional QUIC stream (XEP-0467,
	// Q1): the hacx extension element <quic>, with the attribute rules of
	// <tls>, and Host Meta 2 quic links. Clients of the draft skip the
	// element as a future method (E1).
	MethodQUIC Method = "quic"
)

// Kind says which side of XMPP a document serves.
type Kind int

const (
	// Client is client-to-server: xmpp-client.xml, namespace jabber:client.
	Client Kind = iota
	// Server is server-to-server: xmpp-server.xml, namespace jabber:server.
	Server
)

// WellKnownPath is the path of the kind's document (H1).
func (k Kind) WellKnownPath() string {
	if k == Server {
		return "/.well-known/xmpp-server.xml"
	}
	return "/.well-known/xmpp-client.xml"
}

// Namespace is the XMPP content namespace of the kind's streams.
func (k Kind) Namespace() string {
	if k == Server {
		return "jabber:server"
	}
	return "jabber:client"
}

func (k Kind) String() string {
	if k == Server {
		return "server"
	}
	return "client"
}

// Document is a parsed HACX document.
type Document struct {
	// TTL is how long, in seconds, a client may cache the document (H5).
	// Parse sets DefaultTTL when the attribute is absent.
	TTL uint32

	// Records are the valid connection records in document order. Parse
	// drops invalid ones (E2) and says why in Warnings.
	Records []Record

	// Extensions holds unknown child elements of <hacx>, byte for byte,
	// so that future methods survive a round trip (E1). Marshal writes them
	// after the records.
	Extensions [][]byte

	// Warnings lists what Parse found wrong but survived: dropped records,
	// ignored pins, unknown elements. Marshal ignores it.
	Warnings []Problem
}

// Record is one way in: a <tls>, <websocket> or <bosh> element, or the
// <quic> extension element (Q1).
type Record struct {
	Method   Method
	IP       netip.Addr // A1
	Port     uint16     // A2, never 0 in a valid record
	Priority uint16     // A3, lower is tried first
	Weight   uint16     // A4, default 0

	// SNI is the exact server name to send when HasSNI is set. When HasSNI
	// is false the client sends no SNI extension at all (A5). A present but
	// empty or IP-literal sni makes the record invalid.
	SNI    string
	HasSNI bool

	// ALPN is the single decoded protocol ID to offer; nil means offer no
	// ALPN extension (A6). A present alpn attribute always decodes to at
	// least one byte, and never appears on websocket or bosh (A7).
	ALPN []byte

	// URL is the wss:// (websocket) or https:// (bosh) endpoint; empty for
	// tls. Its host goes in the HTTP Host header; the TCP connection still
	// goes to IP:Port (A8).
	URL string

	// Pins are the acceptable public keys (A9); any one matching suffices.
	Pins []Pin

	// ECH is the ECHConfigList (decoded from the ech attribute's base64)
	// the client encrypts its ClientHello with; nil when the record
	// publishes none (E4). A valid record's list parses and names a DNS
	// public name.
	ECH []byte
}

// Addr is the record's transport address.
func (r Record) Addr() netip.AddrPort { return netip.AddrPortFrom(r.IP, r.Port) }

// String describes the record in one line, as error messages use it.
func (r Record) String() string {
	s := fmt.Sprintf("%s %s prio=%d weight=%d", r.Method, r.Addr(), r.Priority, r.Weight)
	if r.HasSNI {
		s += " sni=" + r.SNI
	} else {
		s += " sni=(none)"
	}
	if r.ALPN != nil {
		s += fmt.Sprintf(" alpn=%q", r.ALPN)
	}
	if r.URL != "" {
		s += " url=" + r.URL
	}
	if len(r.Pins) > 0 {
		s += fmt.Sprintf(" pins=%d", len(r.Pins))
	}
	if r.ECH != nil {
		s += " ech"
	}
	return s
}

package hostmeta

import (
	"fmt"
	"strings"
)

// MaxSize is the largest host-meta file Parse and ParseJSON accept (H6).
const MaxSize = 64 << 10

// Link relations for XMPP alternative connection methods (X2, X3).
const (
	RelWebSocket    = "urn:xmpp:alt-connections:websocket"
	RelBOSH         = "urn:xmpp:alt-connections:xbosh"
	RelTLS          = "urn:xmpp:alt-connections:tls"
	RelQUIC         = "urn:xmpp:alt-connections:quic"
	RelS2STLS       = "urn:xmpp:alt-connections:s2s-tls"
	RelS2SQUIC      = "urn:xmpp:alt-connections:s2s-quic"
	RelS2SWebSocket = "urn:xmpp:alt-connections:s2s-websocket"
)

// Document is a host-meta file, XML (XRD) or JSON (JRD), including the
// Host Meta 2 extensions. The zero value is an empty document.
type Document struct {
	// Subject is the optional XRD/JRD subject.
	Subject string
	// Links are the links in document order, whatever their rel.
	Links []Link
	// XMPP is the Host Meta 2 "xmpp" object; nil when absent. Its presence
	// tells clients to skip legacy SRV lookups (X3). Only JSON carries it.
	XMPP *XMPP
}

// XMPP is the Host Meta 2 top-level "xmpp" object (X3).
type XMPP struct {
	// TTL is how long, in seconds, the file may be cached.
	TTL uint32
	// PublicKeyPinsSHA256 are base64 sha-256 digests of acceptable
	// SubjectPublicKeyInfo, applying to every link.
	PublicKeyPinsSHA256 []string
}

// Link is one link. XEP-0156 uses only Rel and Href; Host Meta 2 adds the
// connection parameters.
type Link struct {
	Rel  string
	Href string // wss:// or https:// URL; empty for tls/quic links
	Type string // optional media type (XRD/JRD "type")

	// Host Meta 2 parameters (X3), JSON only.
	Priority uint16
	Weight   uint16
	SNI      string // TLS server name to send; empty = not given
	ECH      string // base64 ECHConfigList; empty = none
	IPs      []string
	Port     uint16 // for tls/quic links; 0 = not given
}

// LinksWith returns the links with rel, in document order.
func (d *Document) LinksWith(rel string) []Link {
	var out []Link
	for _, l := range d.Links {
		if l.Rel == rel {
			out = append(out, l)
		}
	}
	return out
}

// SyntaxError reports a host-meta file that is not well-formed, safe XML or
// JSON (H6); it says where (byte offset, or line for XML) and what.
type SyntaxError struct {
	Format string // "xml" or "json"
	Line   int    // 1-based line, 0 when unknown
	Offset int64  // byte offset, -1 when unknown
	Msg    string
	Err    error
}

func (e *SyntaxError) Error() string {
	var b strings.Builder
	b.WriteString("hostmeta: ")
	b.WriteString(e.Format)
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
	} else if e.Offset >= 0 {
		fmt.Fprintf(&b, " offset %d", e.Offset)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *SyntaxError) Unwrap() error { return e.Err }

package xmppstream

import (
	"errors"
	"io"

	"hacx.dev/hacx"
)

// XML namespaces of the framings this package reads and writes.
const (
	NSStream    = "http://etherx.jabber.org/streams"     // RFC 6120 stream header
	NSStreamErr = "urn:ietf:params:xml:ns:xmpp-streams"  // stream error conditions
	NSFraming   = "urn:ietf:params:xml:ns:xmpp-framing"  // RFC 7395 <open/>, <close/>
	NSHTTPBind  = "http://jabber.org/protocol/httpbind"  // XEP-0124 <body/>
	NSXBOSH     = "urn:xmpp:xbosh"                       // XEP-0206 xmpp:version
	nsXML       = "http://www.w3.org/XML/1998/namespace" // xml:lang
)

// Bounds on what readers accept, so that a hostile peer can never make them
// read or buffer without limit (H6 applied to streams).
const (
	// MaxHeaderBytes is how many bytes ReadOpen reads, whitespace
	// keepalives included, before the stream header must be complete.
	MaxHeaderBytes = 4 << 10
	// MaxOpenBytes is how many bytes ReadOpen reads in all, header and
	// features together.
	MaxOpenBytes = 32 << 10
	// MaxMessageBytes bounds a WebSocket message or BOSH body given to
	// CheckWSOpen, ParseBOSHSession and the other message parsers.
	MaxMessageBytes = 64 << 10
	// maxDepth bounds element nesting inside features and bodies.
	maxDepth = 32
)

// Header is what a stream opening says about its sender: a <stream:stream>
// header, an RFC 7395 <open/>, or the attributes of a BOSH session
// creation body. Empty fields were absent.
type Header struct {
	From    string // the domain the server speaks for; C4 requires the one asked
	To      string
	ID      string // stream ID
	Version string // "1.0"
	Lang    string // xml:lang
	NS      string // content namespace: jabber:client or jabber:server (TLS only)
}

var errNotYet = errors.New("xmppstream: not yet implemented")

// WriteOpen writes the client's XML declaration and stream header for a
// stream to domain to, in the content namespace of kind (RFC 6120 section
// 4.7): what a client sends first on a direct TLS connection.
func WriteOpen(w io.Writer, to string, kind hacx.Kind) error {
	return errNotYet
}

// ReadOpen reads the server's answer to WriteOpen from r: the stream header
// and then the <stream:features/> element, whose raw bytes it returns.
//
// It checks the stream namespace, the content namespace of kind, version
// 1.x and that from equals domain (ASCII case-insensitively, a trailing
// dot ignored): together with an authenticated TLS connection that is the
// success condition of rule C4. It reads at most MaxHeaderBytes before the
// header is complete and MaxOpenBytes in all, and never reads past the end
// of the features element, so r can go on being used for the stream.
// Wrong answers come back as an *Error naming what arrived instead: an
// HTTP response (ErrHTTP), a banner (ErrBanner), TLS bytes (ErrTLSRecord),
// a <stream:error/> (*StreamError), another domain (ErrWrongDomain).
//
// When the header is valid but the features cannot be read, ReadOpen
// returns the header along with an *Error whose Phase is PhaseFeatures.
// r should carry a deadline (a net.Conn with SetReadDeadline), since a
// silent peer makes ReadOpen wait.
func ReadOpen(r io.Reader, domain string, kind hacx.Kind) (*Header, []byte, error) {
	return nil, nil, errNotYet
}

// WriteServerOpen writes the server's XML declaration and stream header,
// from domain from with stream ID id, in the content namespace of kind.
// Follow it with WriteFeatures (or WriteStreamError).
func WriteServerOpen(w io.Writer, from, id string, kind hacx.Kind) error {
	return errNotYet
}

// WriteFeatures writes a <stream:features/> element holding inner, which
// must be well-formed XML (nil or empty writes an empty element).
func WriteFeatures(w io.Writer, inner []byte) error {
	return errNotYet
}

// Features returns typical post-TLS features of a server of kind: SASL
// mechanisms for clients, dialback for servers. Use it with WriteFeatures.
func Features(kind hacx.Kind) []byte {
	return nil
}

// WriteStreamError writes <stream:error/> with condition (an RFC 6120
// section 4.9.3 name such as "host-unknown") and optional text, and closes
// the stream with </stream:stream>.
func WriteStreamError(w io.Writer, condition, text string) error {
	return errNotYet
}

// ReadClientOpen is the server side of WriteOpen: it reads a client's
// stream header from r (bounded like ReadOpen) and checks the namespaces
// for kind and the version. The caller decides whether Header.To is a
// domain it serves.
func ReadClientOpen(r io.Reader, kind hacx.Kind) (*Header, error) {
	return nil, errNotYet
}

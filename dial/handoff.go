package dial

import (
	"bytes"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"hacx.dev/hacx"
	"hacx.dev/hacx/xmppstream"
)

// ErrNotByteStream is returned (wrapped) by Conn.StreamConn for a route
// whose transport is not a byte stream: WebSocket and BOSH frame XMPP in
// messages and bodies, which another library cannot read as a stream.
var ErrNotByteStream = errors.New("the transport is not an XMPP byte stream")

// StreamConn returns c's TLS connection (direct TLS or STARTTLS) as another XMPP library
// expects to find a new one: positioned before any stream header.
//
// The dialer had to open the stream itself to prove it comes from
// c.Domain (C4), so the server's header and features have already been
// read and the server is waiting for the client's next step. The returned
// net.Conn bridges that:
//
//   - the caller's first stream header (an optional XML declaration and
//     the <stream:stream> start tag, in one write or several) is checked
//     and absorbed, never sent: its to must be c.Domain and its content
//     namespace that of c.Kind, else Write fails with an *xmppstream.Error
//     (ErrWrongDomain, ErrNotXMPP, ErrVersion, ErrTooLarge past
//     xmppstream.MaxHeaderBytes) and so does every later Write;
//   - the first reads return the server's stream header, rebuilt from
//     c.Header (same from, id, version, xml:lang, namespaces; to is the
//     caller's from when it sent one, as a server answers, RFC 6120
//     section 4.7.2), followed by c.Features byte for byte;
//   - after that every byte passes through both ways unchanged, stream
//     restarts after SASL included.
//
// Reads do not wait for the caller's header. The connection offers
// ConnectionState, so a library can do SASL channel binding (-PLUS
// mechanisms): unlike through hacx proxy, the TLS connection it binds to
// is the server's own. Libraries that look for a *tls.Conn to decide that
// the stream is encrypted must be told so (mellium: the xmpp.Secure
// state).
//
// Call StreamConn once, and close the returned net.Conn instead of c: it
// closes c's transport without writing a </stream:stream> of its own.
func (c *Conn) StreamConn() (net.Conn, error) {
	if c == nil || c.NetConn == nil || !byteStream(c.Route.Method) {
		m := "no transport"
		if c != nil && c.Route.Method != "" {
			m = string(c.Route.Method)
		}
		return nil, fmt.Errorf("dial: StreamConn needs a direct TLS route, this connection is %s; "+
			"use hacx proxy, or translate the framing with xmppstream: %w", m, ErrNotByteStream)
	}
	if c.Header == nil || len(c.Features) == 0 {
		return nil, fmt.Errorf("dial: StreamConn: the server's stream header and features are missing: %w", ErrNotByteStream)
	}
	return &streamConn{Conn: c.NetConn, c: c, abs: headerAbsorber{domain: c.Domain, kind: c.Kind}}, nil
}

// byteStream reports whether m carries XMPP as a TLS byte stream: direct
// TLS, STARTTLS (after the TLS restart), or a route given without method.
func byteStream(m hacx.Method) bool {
	return m == hacx.MethodTLS || m == hacx.MethodStartTLS || m == ""
}

// streamConn is the net.Conn StreamConn returns.
type streamConn struct {
	net.Conn
	c *Conn

	passing atomic.Bool            // the caller's header is absorbed: writes go straight through
	from    atomic.Pointer[string] // the caller header's from, once absorbed
	wmu     sync.Mutex             // guards abs while the header is being absorbed
	abs     headerAbsorber

	rmu    sync.Mutex
	built  bool
	prefix []byte // what is left of the rebuilt header and features
}

func (s *streamConn) Write(p []byte) (int, error) {
	if s.passing.Load() {
		return s.Conn.Write(p)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.passing.Load() { // another writer finished the header meanwhile
		return s.Conn.Write(p)
	}
	rest, done, err := s.abs.write(p)
	if err != nil {
		return 0, fmt.Errorf("dial: stream conn: %w", err)
	}
	if !done {
		return len(p), nil
	}
	s.from.Store(&s.abs.hdr.From)
	s.passing.Store(true)
	if len(rest) == 0 {
		return len(p), nil
	}
	// Bytes after the header in the same write (a pipelining client)
	// belong to the server.
	n, err := s.Conn.Write(rest)
	if err != nil {
		return len(p) - len(rest) + n, err
	}
	return len(p), nil
}

func (s *streamConn) Read(p []byte) (int, error) {
	s.rmu.Lock()
	if !s.built {
		s.built = true
		from := ""
		if f := s.from.Load(); f != nil {
			from = *f
		}
		s.prefix = serverOpen(s.c, from)
	}
	if len(s.prefix) > 0 {
		n := copy(p, s.prefix)
		s.prefix = s.prefix[n:]
		s.rmu.Unlock()
		return n, nil
	}
	s.rmu.Unlock()
	return s.Conn.Read(p)
}

// ConnectionState is the state of the server's TLS connection, for SASL
// channel binding; the zero value when the transport is not TLS.
func (s *streamConn) ConnectionState() tls.ConnectionState {
	if tc, ok := s.Conn.(interface{ ConnectionState() tls.ConnectionState }); ok {
		return tc.ConnectionState()
	}
	return tls.ConnectionState{}
}

// serverOpen rebuilds the server's stream header from c.Header and appends
// c.Features. The stream prefix is the one the features element uses, so
// that features and the server's eventual </prefix:stream> stay
// well-formed under the rebuilt header; to is the caller's from, if any.
func serverOpen(c *Conn, to string) []byte {
	h := c.Header
	if to == "" {
		to = h.To
	}
	prefix := streamPrefix(c.Features)
	var b bytes.Buffer
	b.WriteString("<?xml version='1.0'?><" + prefix + ":stream xmlns='" + c.Kind.Namespace() + "' xmlns:" + prefix + "='" + xmppstream.NSStream + "'")
	for _, a := range []struct{ name, v string }{{"from", h.From}, {"to", to}, {"id", h.ID}, {"version", h.Version}, {"xml:lang", h.Lang}} {
		if a.v != "" {
			b.WriteString(" " + a.name + "='")
			xml.EscapeText(&b, []byte(a.v)) //nolint:errcheck // bytes.Buffer never fails
			b.WriteByte('\'')
		}
	}
	b.WriteByte('>')
	b.Write(c.Features)
	return b.Bytes()
}

// streamPrefix returns the prefix of the features element's name
// ("stream" in <stream:features>), or "stream" when it has none (it then
// declares the stream namespace as its default itself).
func streamPrefix(features []byte) string {
	f := bytes.TrimLeft(features, " \t\r\n")
	if len(f) == 0 || f[0] != '<' {
		return "stream"
	}
	end := bytes.IndexAny(f, " \t\r\n/>")
	if end < 0 {
		return "stream"
	}
	prefix, _, ok := strings.Cut(string(f[1:end]), ":")
	if !ok || !validPrefix(prefix) {
		return "stream"
	}
	return prefix
}

// validPrefix accepts the ASCII subset of XML NCNames: what a prefix taken
// from bytes the server sent may be, if it is to be written back.
func validPrefix(s string) bool {
	if s == "" || strings.HasPrefix(strings.ToLower(s), "xml") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// headerAbsorber collects the caller's first stream header, however it is
// split across writes, and checks it. It holds at most
// xmppstream.MaxHeaderBytes.
type headerAbsorber struct {
	domain string
	kind   hacx.Kind

	buf []byte
	hdr *xmppstream.Header // set once the header is complete and valid
	err error              // sticky: a bad header fails every later write
}

// write feeds p. Until the header is complete it returns done false and
// keeps the bytes; then done is true and rest is what p held after the
// header, to pass on. A header that is not valid for domain and kind is
// an error, now and on every later call.
func (a *headerAbsorber) write(p []byte) (rest []byte, done bool, err error) {
	if a.err != nil {
		return nil, false, a.err
	}
	if a.hdr != nil {
		return p, true, nil
	}
	take := min(len(p), xmppstream.MaxHeaderBytes-len(a.buf))
	a.buf = append(a.buf, p[:take]...)
	r := bytes.NewReader(a.buf)
	// ReadClientOpen reads byte by byte and stops at the start tag's '>':
	// what r has left is not part of the header.
	hdr, err := xmppstream.ReadClientOpen(r, a.kind)
	if err != nil {
		if errors.Is(err, xmppstream.ErrClosed) && len(a.buf) < xmppstream.MaxHeaderBytes {
			return nil, false, nil // incomplete: wait for more
		}
		a.err = fmt.Errorf("the caller's stream header: %w", err)
		a.buf = nil
		return nil, false, a.err
	}
	if !sameDomain(hdr.To, a.domain) {
		reason := fmt.Sprintf("the stream header is to %q, but this connection was verified for %q", hdr.To, a.domain)
		if hdr.To == "" {
			reason = fmt.Sprintf("the stream header has no to; this connection was verified for %q", a.domain)
		}
		a.err = &xmppstream.Error{Phase: xmppstream.PhaseHeader, Reason: reason, Err: xmppstream.ErrWrongDomain}
		a.buf = nil
		return nil, false, a.err
	}
	a.hdr = hdr
	used := len(a.buf) - r.Len()
	rest = append(a.buf[used:len(a.buf):len(a.buf)], p[take:]...)
	a.buf = nil
	return rest, true, nil
}

// sameDomain compares XMPP domains ASCII case-insensitively, ignoring one
// trailing dot, as the dialer's C4 check does.
func sameDomain(a, b string) bool {
	a, b = strings.TrimSuffix(a, "."), strings.TrimSuffix(b, ".")
	return a != "" && strings.EqualFold(a, b)
}

package dial

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"hacx.dev/hacx"
	"hacx.dev/hacx/xmppstream"
)

// This file holds what every stream conn shares: the opening served
// before the transport's own bytes (the server's header rebuilt, the
// features the dialer read) and the absorption of the caller's first
// header (see Conn.StreamConn).

// opening is the start of every stream conn's read side.
type opening struct {
	c *Conn
	// framed says the transport carries namespace-complete elements
	// (WebSocket, BOSH): the header then always uses the prefix stream,
	// which the transport's own restarts and </stream:stream> use too,
	// and features replaces c.Features (BOSH completes them from the
	// body they came in).
	framed   bool
	features []byte
	from     atomic.Pointer[string] // the caller header's from, once absorbed
	done     atomic.Bool            // everything served: reads skip the lock

	mu     sync.Mutex
	built  bool
	prefix []byte // what is left of the rebuilt header and features
}

// read serves what is left of the opening into p; ok is false once it
// has all been served, and the transport's bytes follow.
func (o *opening) read(p []byte) (n int, ok bool) {
	if o.done.Load() {
		return 0, false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.built {
		o.built = true
		from := ""
		if f := o.from.Load(); f != nil {
			from = *f
		}
		features, prefix := o.c.Features, streamPrefix(o.c.Features)
		if o.framed {
			features, prefix = o.features, "stream"
		}
		o.prefix = serverOpen(o.c, from, prefix, features)
	}
	if len(o.prefix) == 0 {
		o.done.Store(true)
		return 0, false
	}
	n = copy(p, o.prefix)
	o.prefix = o.prefix[n:]
	return n, true
}

// serverOpen rebuilds the server's stream header from c.Header and appends
// features. Over TLS the stream prefix is the one the features element
// uses (streamPrefix), so that features and the server's eventual
// </prefix:stream> stay well-formed under the rebuilt header; to is the
// caller's from, if any.
func serverOpen(c *Conn, to, prefix string, features []byte) []byte {
	h := c.Header
	if to == "" {
		to = h.To
	}
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
	b.Write(features)
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
	raw []byte             // the header's bytes as the caller wrote them, once valid
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
	a.raw = a.buf[:used:used]
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

package xmppstream

import (
	"bytes"
	"errors"
	"fmt"
)

// Phases name the step of an exchange an Error happened in.
const (
	PhaseHeader   = "stream header"   // reading the server's <stream:stream> (TLS)
	PhaseFeatures = "stream features" // reading <stream:features/> after the header
	PhaseWSOpen   = "websocket open"  // checking the RFC 7395 <open/>
	PhaseBOSH     = "bosh session"    // checking the XEP-0206 session creation response
)

// Sentinel causes, found with errors.Is in an *Error's chain. They let the
// dialer and its attempt log classify a failed route without string
// matching (C3).
var (
	// ErrHTTP: an HTTP response arrived where XMPP was expected.
	ErrHTTP = errors.New("HTTP response")
	// ErrBanner: a line-oriented banner ("220 ..." SMTP, "SSH-2.0-...")
	// arrived where XMPP was expected.
	ErrBanner = errors.New("non-XMPP banner")
	// ErrTLSRecord: TLS record bytes (an alert, a handshake) arrived where
	// plaintext XMPP was expected.
	ErrTLSRecord = errors.New("TLS record")
	// ErrNotXMPP: well-formed or not, the bytes are not the XMPP element
	// expected (wrong namespace, wrong element, garbage).
	ErrNotXMPP = errors.New("not XMPP")
	// ErrRestrictedXML: a DOCTYPE, entity, comment or processing
	// instruction, which RFC 6120 section 11.1 forbids (and H6 treats as an
	// attack surface).
	ErrRestrictedXML = errors.New("forbidden XML construct")
	// ErrWrongDomain: a valid stream whose from is not the domain asked
	// for (C3, C4).
	ErrWrongDomain = errors.New("stream for another domain")
	// ErrVersion: the version attribute is missing or not 1.x.
	ErrVersion = errors.New("unsupported XMPP version")
	// ErrTooLarge: the peer sent more than the reader's bound without
	// completing the element.
	ErrTooLarge = errors.New("too much data")
	// ErrClosed: the server closed the stream (a WebSocket <close/>, a BOSH
	// terminate without condition, EOF before the element ended).
	ErrClosed = errors.New("stream closed")
)

// StreamError is an XMPP stream error sent by the server: a <stream:error/>
// (RFC 6120 section 4.9), or the condition of a BOSH terminate body
// (XEP-0124 section 17). It is found with errors.As in an *Error's chain.
type StreamError struct {
	Condition string // e.g. "host-unknown", "see-other-host", "remote-connection-failed"
	Text      string // the optional <text/>, or the see-other-host/see-other-uri target
}

func (e *StreamError) Error() string {
	s := "stream error <" + e.Condition + "/>"
	if e.Condition == "" {
		s = "stream error (no condition)"
	}
	if e.Text != "" {
		s += fmt.Sprintf(": %q", e.Text)
	}
	return s
}

// Error is what every reader in this package returns: in which phase, what
// was wrong, and a short quoted excerpt of what the peer sent. Err is the
// cause: one of the sentinels above, a *StreamError, an I/O error, or an
// XML syntax error.
//
// Its message reads, for example:
//
//	xmppstream: stream header: got an HTTP response where XMPP was expected ("HTTP/1.1 400 Bad Request")
type Error struct {
	Phase  string // PhaseHeader, PhaseFeatures, PhaseWSOpen or PhaseBOSH
	Reason string // human-readable, without the excerpt
	Got    string // short excerpt of the offending bytes; may be empty
	Err    error
}

func (e *Error) Error() string {
	s := "xmppstream: " + e.Phase + ": " + e.Reason
	if e.Got != "" {
		s += fmt.Sprintf(" (%q)", e.Got)
	}
	if e.Err != nil && !isSentinel(e.Err) {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// isSentinel reports whether err is one of the package's own causes, whose
// text the Reason already says.
func isSentinel(err error) bool {
	switch err {
	case ErrHTTP, ErrBanner, ErrTLSRecord, ErrNotXMPP, ErrRestrictedXML,
		ErrWrongDomain, ErrVersion, ErrTooLarge, ErrClosed:
		return true
	}
	return false
}

// excerpt returns the first line of b, trimmed, at most 64 bytes, for
// Error.Got: enough to recognise "HTTP/1.1 400 Bad Request" or
// "220 mail.example.net ESMTP" in a log line.
func excerpt(b []byte) string {
	const maxExcerpt = 64
	b = bytes.TrimSpace(b)
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = bytes.TrimSpace(b[:i])
	}
	if len(b) > maxExcerpt {
		b = b[:maxExcerpt]
	}
	return string(b)
}

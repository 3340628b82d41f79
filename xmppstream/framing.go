package xmppstream

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"

	"hacx.dev/hacx"
)

// This file maps an RFC 6120 stream to the message framings: RFC 7395
// WebSocket messages (<open/>, <close/>, one element per message) and
// XEP-0206 BOSH bodies, what a relay between a plain XMPP stream and a
// WebSocket or BOSH peer needs.

// OpenFromHeader returns the RFC 7395 <open/> saying what h says: to,
// from, id, version (1.0 when empty) and xml:lang, in the framing
// namespace. Use it to carry a client's stream header (or restart) over
// WebSocket.
func OpenFromHeader(h *Header) []byte {
	var b bytes.Buffer
	b.WriteString("<open xmlns='" + NSFraming + "'")
	headerAttrs(&b, h)
	b.WriteString("/>")
	return b.Bytes()
}

// HeaderFromOpen returns an RFC 6120 stream header saying what the
// RFC 7395 <open/> h says, with an XML declaration, in the content
// namespace of kind: what a plain XMPP client expects to read where the
// WebSocket server sent <open/>.
func HeaderFromOpen(h *Header, kind hacx.Kind) []byte {
	var b bytes.Buffer
	b.WriteString("<?xml version='1.0'?><stream:stream xmlns='" + kind.Namespace() + "' xmlns:stream='" + NSStream + "'")
	headerAttrs(&b, h)
	b.WriteString(">")
	return b.Bytes()
}

func headerAttrs(b *bytes.Buffer, h *Header) {
	if h == nil {
		h = &Header{}
	}
	for _, a := range []struct{ name, v string }{{"to", h.To}, {"from", h.From}, {"id", h.ID}} {
		if a.v != "" {
			xmlAttr(b, a.name, a.v)
		}
	}
	v := h.Version
	if v == "" {
		v = "1.0"
	}
	xmlAttr(b, "version", v)
	if h.Lang != "" {
		xmlAttr(b, "xml:lang", h.Lang)
	}
}

// ParseWSMessage classifies one WebSocket message from the peer: an
// RFC 7395 <open/> (TokenOpen, with Header), a <close/> (TokenClose, with
// SeeOtherURI), or one element (TokenElement, Raw the element, which RFC
// 7395 section 3.3.3 makes namespace-complete). The message must hold
// exactly one element, checked like Splitter checks a stream, and at most
// DefaultMaxElement bytes. It does not check <open/>'s version or from:
// CheckWSOpen does, for a dialer.
func ParseWSMessage(msg []byte) (Token, error) {
	if len(msg) > DefaultMaxElement+readChunk {
		return Token{}, &Error{Phase: PhaseStream, Reason: fmt.Sprintf("got a message of %d bytes, more than %d", len(msg), DefaultMaxElement), Got: excerpt(msg), Err: &StreamError{Condition: "policy-violation"}}
	}
	tok, s, err := oneElement(bytes.TrimLeft(msg, " \t\r\n"), DefaultMaxElement, maxSplitDepth)
	switch err {
	case nil:
	case errMultiple:
		return Token{}, &Error{Phase: PhaseStream, Reason: err.Error(), Got: excerpt(msg), Err: &StreamError{Condition: "not-well-formed"}}
	case errNoElement:
		return Token{}, &Error{Phase: PhaseStream, Reason: "got a message without an element", Got: excerpt(msg), Err: &StreamError{Condition: "not-well-formed"}}
	default:
		return Token{}, err
	}
	tok.scope = nil
	switch tok.Name {
	case xml.Name{Space: NSFraming, Local: "open"}:
		tok.Kind, tok.Header = TokenOpen, headerOf(s.openAttrs)
		tok.Header.NS = "" // the framing namespace, not a content namespace
	case xml.Name{Space: NSFraming, Local: "close"}:
		tok.Kind, tok.SeeOtherURI = TokenClose, attrValue(s.openAttrs, "", "see-other-uri")
	}
	return tok, nil
}

// BOSHChildren returns the children of a BOSH <body/> (XEP-0124), each
// namespace-complete: the body's own declarations other than the BOSH
// ones, httpbind and xbosh, (xmlns:stream, say) are added where a child lacks them, and jabber:client
// is the default namespace of a child that declares none (XEP-0206
// stanzas are jabber:client), never httpbind. terminate is empty unless the body ends the
// session (type='terminate', or the legacy type='error'): then it is the
// condition attribute, or the type when there is none. body is bounded by
// MaxBOSHBody and each child by DefaultMaxElement.
func BOSHChildren(body []byte) (children [][]byte, terminate string, err error) {
	if len(body) > MaxBOSHBody {
		return nil, "", &Error{Phase: PhaseBOSH, Reason: fmt.Sprintf("got a body of %d bytes, more than %d", len(body), MaxBOSHBody), Got: excerpt(body), Err: &StreamError{Condition: "policy-violation"}}
	}
	s := newByteSplitter(body, DefaultMaxElement, modeBOSH)
	opened := false
	for {
		t, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if e := (*Error)(nil); errors.As(err, &e) {
				e.Phase = PhaseBOSH
			}
			return nil, "", err
		}
		switch t.Kind {
		case TokenOpen:
			opened = true
			if typ := attrValue(s.openAttrs, "", "type"); typ == "terminate" || typ == "error" {
				terminate = attrValue(s.openAttrs, "", "condition")
				if terminate == "" {
					terminate = typ
				}
			}
		case TokenElement:
			children = append(children, complete(t.Raw, t.scope))
		}
	}
	if !opened || !s.closed || len(bytes.TrimLeft(s.Buffered(), " \t\r\n")) > 0 {
		return nil, "", &Error{Phase: PhaseBOSH, Reason: "got a body that is not a complete " + NSHTTPBind + " <body/>", Got: excerpt(body), Err: &StreamError{Condition: "not-well-formed"}}
	}
	return children, terminate, nil
}

// BOSHWrap returns a request body for session sid with request ID rid
// carrying elems, which should be namespace-complete (Splitter.Complete):
// inside <body/> the default namespace is httpbind.
func BOSHWrap(sid string, rid uint64, elems ...[]byte) []byte {
	return boshWrap(sid, rid, "", elems)
}

// BOSHWrapTerminate is BOSHWrap for the last request of a session: the
// body has type='terminate' (XEP-0124 section 12), and may still carry
// elements such as a final unavailable presence.
func BOSHWrapTerminate(sid string, rid uint64, elems ...[]byte) []byte {
	return boshWrap(sid, rid, " type='terminate'", elems)
}

func boshWrap(sid string, rid uint64, extra string, elems [][]byte) []byte {
	var b bytes.Buffer
	b.WriteString("<body rid='" + strconv.FormatUint(rid, 10) + "'")
	xmlAttr(&b, "sid", sid)
	b.WriteString(extra + " xmlns='" + NSHTTPBind + "'")
	if len(elems) == 0 {
		b.WriteString("/>")
		return b.Bytes()
	}
	b.WriteByte('>')
	for _, e := range elems {
		b.Write(e)
	}
	b.WriteString("</body>")
	return b.Bytes()
}

// BOSHRestart returns the request body that restarts the stream of
// session sid after SASL (XEP-0206): xmpp:restart='true' in the
// urn:xmpp:xbosh namespace, to the domain to. It is what a client's new
// <stream:stream> header becomes on BOSH.
func BOSHRestart(sid string, rid uint64, to string) []byte {
	var b bytes.Buffer
	b.WriteString("<body rid='" + strconv.FormatUint(rid, 10) + "'")
	xmlAttr(&b, "sid", sid)
	xmlAttr(&b, "to", to)
	b.WriteString(" xml:lang='en' xmpp:restart='true' xmlns='" + NSHTTPBind + "' xmlns:xmpp='" + NSXBOSH + "'/>")
	return b.Bytes()
}

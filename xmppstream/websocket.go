package xmppstream

import (
	"bytes"
	"fmt"
)

// WSSubprotocol is the WebSocket subprotocol of RFC 7395; a server that
// does not echo it is not speaking XMPP (C3).
const WSSubprotocol = "xmpp"

// WSOpen returns the client's RFC 7395 <open/> message for domain to.
func WSOpen(to string) []byte {
	if to == "" {
		// OpenFromHeader leaves an empty to out; the client's <open/>
		// always carries to, so an empty domain is sent as to=''.
		return []byte("<open xmlns='" + NSFraming + "' to='' version='1.0' xml:lang='en'/>")
	}
	return OpenFromHeader(&Header{To: to, Lang: "en"})
}

// CheckWSOpen checks the server's first WebSocket message: an <open/> in
// urn:ietf:params:xml:ns:xmpp-framing with version 1.x and from equal to
// domain (C4). A <close/> (ErrClosed, with any see-other-uri in the
// reason) or a <stream:error/> (*StreamError) is an error naming it.
func CheckWSOpen(msg []byte, domain string) (*Header, error) {
	h, err := checkWSOpen(msg)
	if err != nil {
		return nil, err
	}
	if !sameDomain(h.From, domain) {
		reason := fmt.Sprintf("got an <open/> from %q, not from %q", h.From, domain)
		if h.From == "" {
			reason = fmt.Sprintf("got an <open/> without from; %q was expected", domain)
		}
		return nil, &Error{Phase: PhaseWSOpen, Reason: reason, Got: excerpt(msg), Err: ErrWrongDomain}
	}
	return h, nil
}

// CheckWSClientOpen is the server side of WSOpen: it checks a client's
// <open/> message and returns its header (To is what the client asked for).
func CheckWSClientOpen(msg []byte) (*Header, error) {
	return checkWSOpen(msg)
}

func checkWSOpen(msg []byte) (*Header, error) {
	root, err := parseMessage(msg, PhaseWSOpen, "an <open/>")
	if err != nil {
		return nil, err
	}
	if err := wsTerminal(root, PhaseWSOpen); err != nil {
		return nil, err
	}
	switch {
	case root.Name.Space == NSFraming && root.Name.Local == "open":
	case root.Name.Space == NSStream && root.Name.Local == "stream":
		return nil, &Error{Phase: PhaseWSOpen, Reason: "got a <stream:stream> header over WebSocket (pre-RFC 7395 framing)", Got: excerpt(root.Raw), Err: ErrNotXMPP}
	case root.Name.Local == "open":
		return nil, &Error{Phase: PhaseWSOpen, Reason: fmt.Sprintf("got <open/> in namespace %q, not %q", root.Name.Space, NSFraming), Got: excerpt(root.Raw), Err: ErrNotXMPP}
	default:
		return nil, &Error{Phase: PhaseWSOpen, Reason: fmt.Sprintf("got <%s/> where <open/> was expected", root.Name.Local), Got: excerpt(root.Raw), Err: ErrNotXMPP}
	}
	h := &Header{
		From:    root.get("", "from"),
		To:      root.get("", "to"),
		ID:      root.get("", "id"),
		Version: root.get("", "version"),
		Lang:    root.get(nsXML, "lang"),
	}
	if !checkVersion(h.Version) {
		reason := fmt.Sprintf("got version %q, not 1.0", h.Version)
		if h.Version == "" {
			reason = "got an <open/> without version"
		}
		return nil, &Error{Phase: PhaseWSOpen, Reason: reason, Got: excerpt(root.Raw), Err: ErrVersion}
	}
	return h, nil
}

// CheckWSFeatures checks a WebSocket message that should be the server's
// <stream:features/> (sent after <open/>) and returns it. A
// <stream:error/> or <close/> is an error naming it.
func CheckWSFeatures(msg []byte) ([]byte, error) {
	root, err := parseMessage(msg, PhaseFeatures, "<stream:features/>")
	if err != nil {
		return nil, err
	}
	if err := wsTerminal(root, PhaseFeatures); err != nil {
		return nil, err
	}
	if root.Name.Space != NSStream || root.Name.Local != "features" {
		return nil, &Error{Phase: PhaseFeatures, Reason: fmt.Sprintf("got <%s/> where <stream:features/> was expected", root.Name.Local), Got: excerpt(root.Raw), Err: ErrNotXMPP}
	}
	return root.Raw, nil
}

// wsTerminal returns the error a <close/> or <stream:error/> message
// means, or nil for any other element.
func wsTerminal(root *elem, phase string) error {
	switch {
	case root.Name.Space == NSFraming && root.Name.Local == "close":
		reason := "the server closed the stream (<close/>)"
		if uri := root.get("", "see-other-uri"); uri != "" {
			reason = fmt.Sprintf("the server closed the stream and points to see-other-uri %q", uri)
		}
		return &Error{Phase: phase, Reason: reason, Got: excerpt(root.Raw), Err: ErrClosed}
	case root.Name.Space == NSStream && root.Name.Local == "error":
		return &Error{Phase: phase, Reason: "the server sent a stream error", Got: excerpt(root.Raw), Err: streamError(root)}
	}
	return nil
}

// WSClose returns the RFC 7395 <close/> message.
func WSClose() []byte {
	return []byte("<close xmlns='" + NSFraming + "'/>")
}

// WSServerOpen returns the server's <open/> answer from domain from with
// stream ID id.
func WSServerOpen(from, id string) []byte {
	var b bytes.Buffer
	b.WriteString("<open xmlns='" + NSFraming + "'")
	xmlAttr(&b, "id", id)
	xmlAttr(&b, "from", from)
	b.WriteString(" version='1.0' xml:lang='en'/>")
	return b.Bytes()
}

// WSStreamError returns a <stream:error/> message with condition and
// optional text (RFC 7395 section 3.6). A condition that is not a plain
// name becomes undefined-condition.
func WSStreamError(condition, text string) []byte {
	b := []byte("<stream:error xmlns:stream='" + NSStream + "'>")
	b = append(b, errorBody(condition, text)...)
	return append(b, "</stream:error>"...)
}

package xmppstream

// WSSubprotocol is the WebSocket subprotocol of RFC 7395; a server that
// does not echo it is not speaking XMPP (C3).
const WSSubprotocol = "xmpp"

// WSOpen returns the client's RFC 7395 <open/> message for domain to.
func WSOpen(to string) []byte {
	return nil
}

// CheckWSOpen checks the server's first WebSocket message: an <open/> in
// urn:ietf:params:xml:ns:xmpp-framing with version 1.x and from equal to
// domain (C4). A <close/> (ErrClosed, with any see-other-uri in the
// reason) or a <stream:error/> (*StreamError) is an error naming it.
func CheckWSOpen(msg []byte, domain string) (*Header, error) {
	return nil, errNotYet
}

// CheckWSFeatures checks a WebSocket message that should be the server's
// <stream:features/> (sent after <open/>) and returns it. A
// <stream:error/> or <close/> is an error naming it.
func CheckWSFeatures(msg []byte) ([]byte, error) {
	return nil, errNotYet
}

// WSClose returns the RFC 7395 <close/> message.
func WSClose() []byte {
	return []byte(`<close xmlns="` + NSFraming + `"/>`)
}

// WSServerOpen returns the server's <open/> answer from domain from with
// stream ID id.
func WSServerOpen(from, id string) []byte {
	return nil
}

// WSFeatures returns a <stream:features/> message holding inner, with the
// stream prefix declared as RFC 7395 section 3.3.3 requires.
func WSFeatures(inner []byte) []byte {
	return nil
}

// WSStreamError returns a <stream:error/> message with condition and
// optional text (RFC 7395 section 3.6).
func WSStreamError(condition, text string) []byte {
	return nil
}

// CheckWSClientOpen is the server side of WSOpen: it checks a client's
// <open/> message and returns its header (To is what the client asked for).
func CheckWSClientOpen(msg []byte) (*Header, error) {
	return nil, errNotYet
}

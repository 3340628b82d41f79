package xmppstream

import "hacx.dev/hacx"

// BOSH defaults of the session creation request (XEP-0124 section 7).
const (
	BOSHVersion = "1.6" // ver: the XEP-0124 protocol version we speak
	BOSHWait    = 60    // wait: longest time, in seconds, the manager may hold a request
)

// BOSHSessionRequest returns the XEP-0206 session creation request body
// for domain to with request ID rid: content, hold=1, wait, ver,
// xmpp:version='1.0' and xml:lang, in the httpbind and xbosh namespaces.
// XEP-0206 defines client sessions only; kind is accepted for symmetry
// with WriteOpen and does not change the body.
func BOSHSessionRequest(to string, rid uint64, kind hacx.Kind) []byte {
	return nil
}

// BOSHSession is a connection manager's session creation response
// (XEP-0124 section 7.2, XEP-0206 section 4).
type BOSHSession struct {
	SID string
	// Header holds from, the stream id (authid), xmpp:version, xml:lang.
	Header Header
	// Wait, Hold, Requests, Polling, Inactivity, MaxPause are the body's
	// attributes of those names; 0 when absent.
	Wait, Hold, Requests, Polling, Inactivity, MaxPause int
	// Ver is the manager's BOSH protocol version ("1.6"); empty if absent.
	Ver string
	// Features is the raw <stream:features/> child, nil when the manager
	// sends it in a later response (XEP-0206 allows both).
	Features []byte
}

// ParseBOSHSession checks a session creation response body: the httpbind
// namespace, a sid, from equal to domain and xmpp:version 1.x (C4). A
// body of type='terminate' is an error holding a *StreamError with its
// condition. body is bounded by MaxMessageBytes.
func ParseBOSHSession(body []byte, domain string) (*BOSHSession, error) {
	return nil, errNotYet
}

// Marshal renders s as a session creation response body, with Features
// as its child: the server side of ParseBOSHSession.
func (s *BOSHSession) Marshal() []byte {
	return nil
}

// BOSHRequest is what a client's session creation request says.
type BOSHRequest struct {
	To, Lang, Ver, XMPPVersion, Content string
	RID                                 uint64
	Wait, Hold                          int
}

// ParseBOSHRequest is the server side of BOSHSessionRequest: it checks a
// session creation request body and returns its attributes.
func ParseBOSHRequest(body []byte) (*BOSHRequest, error) {
	return nil, errNotYet
}

// BOSHTerminate returns a type='terminate' body with condition (e.g.
// "host-unknown", "remote-connection-failed"; XEP-0124 section 17.2).
func BOSHTerminate(condition string) []byte {
	return nil
}

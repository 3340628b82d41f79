package xmppstream

import (
	"bytes"
	"fmt"
	"strconv"

	"hacx.dev/hacx"
)

// BOSH defaults of the session creation request (XEP-0124 section 7).
const (
	BOSHVersion = "1.6" // ver: the XEP-0124 protocol version we speak
	BOSHWait    = 60    // wait: longest time, in seconds, the manager may hold a request
	// BOSHContentType is the Content-Type of BOSH requests and responses.
	BOSHContentType = "text/xml; charset=utf-8"
)

// BOSHSessionRequest returns the XEP-0206 session creation request body
// for domain to with request ID rid: content, hold=1, wait, ver,
// xmpp:version='1.0' and xml:lang, in the httpbind and xbosh namespaces.
// XEP-0206 defines client sessions only; kind is accepted for symmetry
// with WriteOpen and does not change the body.
func BOSHSessionRequest(to string, rid uint64, kind hacx.Kind) []byte {
	_ = kind
	var b bytes.Buffer
	b.WriteString("<body content='" + BOSHContentType + "' hold='1'")
	b.WriteString(" rid='" + strconv.FormatUint(rid, 10) + "'")
	xmlAttr(&b, "to", to)
	b.WriteString(" ver='" + BOSHVersion + "' wait='" + strconv.Itoa(BOSHWait) + "'")
	b.WriteString(" xml:lang='en' xmpp:version='1.0' xmlns='" + NSHTTPBind + "' xmlns:xmpp='" + NSXBOSH + "'/>")
	return b.Bytes()
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
	// Features is the raw <stream:features/> child as received (its
	// stream prefix may be declared on the enclosing body), nil when the
	// manager sends it in a later response (XEP-0206 allows both).
	Features []byte
}

// ParseBOSHSession checks a session creation response body: the httpbind
// namespace, a sid, from equal to domain and xmpp:version 1.x (C4). A
// body of type='terminate' is an error holding a *StreamError with its
// condition. body is bounded by MaxMessageBytes.
func ParseBOSHSession(body []byte, domain string) (*BOSHSession, error) {
	root, err := boshBody(body)
	if err != nil {
		return nil, err
	}
	got := excerpt(root.Raw)
	if t := root.get("", "type"); t == "terminate" || t == "error" {
		cond := root.get("", "condition")
		var cause error = ErrClosed
		if se := root.child(NSStream, "error"); se != nil && cond == "remote-stream-error" {
			cause = streamError(se)
		} else if cond != "" {
			cause = &StreamError{Condition: cond}
		}
		return nil, &Error{Phase: PhaseBOSH, Reason: "the connection manager terminated the session", Got: got, Err: cause}
	}
	s := &BOSHSession{
		SID: root.get("", "sid"),
		Ver: root.get("", "ver"),
		Header: Header{
			From:    root.get("", "from"),
			ID:      root.get("", "authid"),
			Version: root.get(NSXBOSH, "version"),
			Lang:    root.get(nsXML, "lang"),
		},
	}
	if s.SID == "" {
		return nil, &Error{Phase: PhaseBOSH, Reason: "got a body without sid: not a session creation response", Got: got, Err: ErrNotXMPP}
	}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"wait", &s.Wait}, {"hold", &s.Hold}, {"requests", &s.Requests}, {"polling", &s.Polling}, {"inactivity", &s.Inactivity}, {"maxpause", &s.MaxPause}} {
		if *f.dst, err = intAttr(root, f.name); err != nil {
			return nil, &Error{Phase: PhaseBOSH, Reason: err.Error(), Got: got, Err: ErrNotXMPP}
		}
	}
	if !checkVersion(s.Header.Version) {
		reason := fmt.Sprintf("got xmpp:version %q, not 1.0", s.Header.Version)
		if s.Header.Version == "" {
			reason = "got a body without xmpp:version (BOSH without XEP-0206 XMPP support)"
		}
		return nil, &Error{Phase: PhaseBOSH, Reason: reason, Got: got, Err: ErrVersion}
	}
	if !sameDomain(s.Header.From, domain) {
		reason := fmt.Sprintf("got a session from %q, not from %q", s.Header.From, domain)
		if s.Header.From == "" {
			reason = fmt.Sprintf("got a session creation response without from; %q was expected", domain)
		}
		return nil, &Error{Phase: PhaseBOSH, Reason: reason, Got: got, Err: ErrWrongDomain}
	}
	if f := root.child(NSStream, "features"); f != nil {
		s.Features = f.Raw
	}
	return s, nil
}

// boshBody parses body and checks it is an httpbind <body/>.
func boshBody(body []byte) (*elem, error) {
	root, err := parseMessage(body, PhaseBOSH, "a BOSH <body/>")
	if err != nil {
		return nil, err
	}
	if root.Name.Space != NSHTTPBind || root.Name.Local != "body" {
		return nil, &Error{Phase: PhaseBOSH, Reason: fmt.Sprintf("got <%s/> in namespace %q where an %s <body/> was expected", root.Name.Local, root.Name.Space, NSHTTPBind), Got: excerpt(root.Raw), Err: ErrNotXMPP}
	}
	return root, nil
}

// intAttr reads a non-negative decimal attribute; absent is 0.
func intAttr(e *elem, name string) (int, error) {
	v, ok := e.attr("", name)
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("got %s=%q, not a non-negative integer", name, v)
	}
	return n, nil
}

// BOSHTerminate returns a type='terminate' body with condition (e.g.
// "host-unknown", "remote-connection-failed"; XEP-0124 section 17.2).
// A condition that is not a plain name is left out.
func BOSHTerminate(condition string) []byte {
	s := "<body type='terminate'"
	if isName(condition) {
		s += " condition='" + condition + "'"
	}
	return []byte(s + " xmlns='" + NSHTTPBind + "'/>")
}

package loopback

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"

	"hacx.dev/hacx"
	"hacx.dev/hacx/xmppstream"
)

// This file holds the server side of the exchanges package xmppstream
// has the client side of, where only hacx's tests need it: typical
// features, a BOSH session creation response, and reading a client's
// session creation request. (What a real server of hacx's writes, such
// as a stream header, features or a stream error, is package
// xmppstream's.)

// Features returns the inner XML of typical post-TLS features of a server
// of kind: SASL mechanisms for clients, dialback for servers. Give it to
// xmppstream.WriteFeatures or WSFeatures.
func Features(kind hacx.Kind) []byte {
	if kind == hacx.Server {
		return []byte("<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback>")
	}
	return []byte("<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms>")
}

// WSFeatures returns a <stream:features/> message holding inner, with the
// stream prefix declared on it as RFC 7395 section 3.3.3 requires.
func WSFeatures(inner []byte) []byte {
	b := []byte("<stream:features xmlns:stream='" + xmppstream.NSStream + "'>")
	b = append(b, inner...)
	return append(b, "</stream:features>"...)
}

// BOSHSessionBody renders s as a session creation response body, with
// s.Features (a complete <stream:features/> element, such as WSFeatures
// returns) as its child: the server side of xmppstream.ParseBOSHSession.
// An empty Header.Version is written as "1.0".
func BOSHSessionBody(s *xmppstream.BOSHSession) []byte {
	var b bytes.Buffer
	b.WriteString("<body xmlns='" + xmppstream.NSHTTPBind + "' xmlns:xmpp='" + xmppstream.NSXBOSH + "' xmlns:stream='" + xmppstream.NSStream + "'")
	xmlAttr(&b, "sid", s.SID)
	for _, f := range []struct {
		name string
		v    int
	}{{"wait", s.Wait}, {"hold", s.Hold}, {"requests", s.Requests}, {"polling", s.Polling}, {"inactivity", s.Inactivity}, {"maxpause", s.MaxPause}} {
		if f.v != 0 {
			b.WriteString(" " + f.name + "='" + strconv.Itoa(f.v) + "'")
		}
	}
	if s.Ver != "" {
		xmlAttr(&b, "ver", s.Ver)
	}
	xmlAttr(&b, "from", s.Header.From)
	if s.Header.ID != "" {
		xmlAttr(&b, "authid", s.Header.ID)
	}
	v := s.Header.Version
	if v == "" {
		v = "1.0"
	}
	xmlAttr(&b, "xmpp:version", v)
	if s.Header.Lang != "" {
		xmlAttr(&b, "xml:lang", s.Header.Lang)
	}
	if len(s.Features) == 0 {
		b.WriteString("/>")
		return b.Bytes()
	}
	b.WriteByte('>')
	b.Write(s.Features)
	b.WriteString("</body>")
	return b.Bytes()
}

// xmlAttr appends name='value' (value escaped) with a leading space.
func xmlAttr(b *bytes.Buffer, name, value string) {
	b.WriteString(" " + name + "='")
	xml.EscapeText(b, []byte(value)) //nolint:errcheck // bytes.Buffer never fails
	b.WriteByte('\'')
}

// BOSHRequest is what a client's session creation request says.
type BOSHRequest struct {
	To, Lang, Ver, XMPPVersion, Content string
	RID                                 uint64
	Wait, Hold                          int
}

// ParseBOSHRequest is the server side of xmppstream.BOSHSessionRequest: it
// checks a session creation request body (httpbind namespace, rid, to, no
// sid) and returns its attributes.
func ParseBOSHRequest(body []byte) (*BOSHRequest, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	var root xml.StartElement
	for {
		t, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("loopback: BOSH request: %w", err)
		}
		if se, ok := t.(xml.StartElement); ok {
			root = se
			break
		}
	}
	if root.Name != (xml.Name{Space: xmppstream.NSHTTPBind, Local: "body"}) {
		return nil, fmt.Errorf("loopback: BOSH request: got <%s/> in namespace %q, not an httpbind <body/>", root.Name.Local, root.Name.Space)
	}
	get := func(space, local string) string {
		for _, a := range root.Attr {
			if a.Name.Space == space && a.Name.Local == local {
				return a.Value
			}
		}
		return ""
	}
	if get("", "sid") != "" {
		return nil, errors.New("loopback: BOSH request: a body with sid is not a session creation request")
	}
	r := &BOSHRequest{
		To: get("", "to"), Lang: get("http://www.w3.org/XML/1998/namespace", "lang"), Ver: get("", "ver"),
		XMPPVersion: get(xmppstream.NSXBOSH, "version"), Content: get("", "content"),
	}
	var err error
	if r.RID, err = strconv.ParseUint(get("", "rid"), 10, 64); err != nil {
		return nil, fmt.Errorf("loopback: BOSH request: rid=%q is not a number", get("", "rid"))
	}
	if r.To == "" {
		return nil, errors.New("loopback: BOSH request: a session creation request without to")
	}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"wait", &r.Wait}, {"hold", &r.Hold}} {
		v := get("", f.name)
		if v == "" {
			continue
		}
		if *f.dst, err = strconv.Atoi(v); err != nil || *f.dst < 0 {
			return nil, fmt.Errorf("loopback: BOSH request: %s=%q is not a non-negative integer", f.name, v)
		}
	}
	return r, nil
}

package hacx

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"hacx.dev/hacx/internal/safexml"
)

// This file decodes records: the attributes and <public-key-pin> children
// of a <tls>, <websocket> or <bosh> element become a Record, and what is
// wrong with them becomes located Problems (E2).

// isNamespaceDecl reports whether an attribute is xmlns or xmlns:prefix.
func isNamespaceDecl(n safexml.Name) bool {
	return n.Space == "xmlns" || n.Space == "" && n.Local == "xmlns"
}

// attrName names an attribute in messages: namespace:local as the reader
// resolved it, so a prefix shows as the namespace it stands for.
func attrName(n safexml.Name) string {
	if n.Space != "" {
		return n.Space + ":" + n.Local
	}
	return n.Local
}

// record parses one method element. ok is false when the record is invalid
// and dropped (E2); the reasons are in p.warns.
func (p *parser) record(start safexml.Token, at Problem) (Record, bool, error) {
	rec := Record{Method: Method(start.Name.Local)}
	bad := false
	fail := func(rule, format string, a ...any) {
		pr := at
		pr.Severity, pr.Rule, pr.Msg = Error, rule, fmt.Sprintf(format, a...)
		p.warn(pr)
		bad = true
	}
	// the required attributes given (A1, A2, A3)
	var hasIP, hasPort, hasPriority bool
	for _, a := range start.Attr {
		if a.Name.Space != "" || a.Name.Local == "xmlns" {
			if !isNamespaceDecl(a.Name) {
				w := at
				w.Msg = fmt.Sprintf("unknown attribute %q ignored", attrName(a.Name))
				p.warn(w)
			}
			continue
		}
		switch a.Name.Local {
		case "ip":
			hasIP = true
			ip, err := netip.ParseAddr(a.Value)
			switch {
			case err != nil:
				fail("A1", "ip %q is not an IPv4 or IPv6 address (host names are not allowed)", a.Value)
			case ip.Zone() != "":
				fail("A1", "ip %q has a zone, which means nothing outside one host", a.Value)
			default:
				rec.IP = ip
			}
		case "port":
			hasPort = true
			n, ok := parseUint16(a.Value)
			if !ok || n == 0 {
				fail("A2", "port %q is not a number from 1 to 65535", a.Value)
			}
			rec.Port = n
		case "priority":
			hasPriority = true
			n, ok := parseUint16(a.Value)
			if !ok {
				fail("A3", "priority %q is not a number from 0 to 65535", a.Value)
			}
			rec.Priority = n
		case "weight":
			n, ok := parseUint16(a.Value)
			if !ok {
				fail("A4", "weight %q is not a number from 0 to 65535", a.Value)
			}
			rec.Weight = n
		case "sni":
			rec.SNI, rec.HasSNI = a.Value, true
		case "alpn":
			b, err := decodeBase64(a.Value)
			if err != nil {
				msg := fmt.Sprintf("alpn %q is not valid base64", a.Value)
				if isToken(a.Value) {
					msg += fmt.Sprintf(" (for the protocol %q write alpn=%q)", a.Value, base64.StdEncoding.EncodeToString([]byte(a.Value)))
				}
				fail("A6", "%s", msg)
				continue
			}
			if b == nil {
				b = []byte{}
			}
			rec.ALPN = b
		case "url":
			rec.URL = a.Value
		case "ech":
			// A hacx extension attribute (E4): other clients ignore it
			// as an unknown attribute. parse_check.go validates the list.
			b, err := decodeBase64(a.Value)
			if err != nil || len(b) == 0 {
				fail("E4", "ech %q is not valid base64 of an ECHConfigList", a.Value)
				continue
			}
			rec.ECH = b
		default:
			w := at
			w.Msg = fmt.Sprintf("unknown attribute %q ignored", a.Name.Local)
			p.warn(w)
		}
	}
	if !hasIP {
		fail("A1", "missing required attribute %s", "ip")
	}
	if !hasPort {
		fail("A2", "missing required attribute %s", "port")
	}
	if !hasPriority {
		fail("A3", "missing required attribute %s", "priority")
	}
	// Children: pins; anything else is ignored.
	for {
		t, err := p.x.Next()
		if err != nil {
			return rec, false, err
		}
		switch t.Kind {
		case safexml.EOF:
			return rec, false, p.eofInside(t)
		case safexml.EndElement:
			if !bad {
				for _, pr := range rec.check() {
					fail(pr.rule, "%s", pr.msg)
				}
			}
			if bad {
				return rec, false, nil
			}
			for i, pin := range rec.Pins {
				for _, d := range pin.Digests {
					if h := LookupHash(d.Hash); h == nil || h.Weak {
						w := at
						w.Rule, w.Msg = "A9", fmt.Sprintf("pin %d: %s", i+1, digestNote(d.Hash))
						p.note(w)
					}
				}
			}
			return rec, true, nil
		case safexml.CharData:
			if !t.Blank() {
				w := at
				w.Line, w.Col = p.x.LineCol(t.Offset)
				w.Msg = "text inside the record ignored"
				p.warn(w)
			}
		case safexml.StartElement:
			if t.Name.Local != "public-key-pin" || t.Name.Space != start.Name.Space {
				w := at
				w.Line, w.Col = p.x.LineCol(t.Offset)
				w.Rule, w.Msg = "E1", fmt.Sprintf("unknown element <%s> inside the record ignored", t.Name.Local)
				p.warn(w)
				if err := p.skip(); err != nil {
					return rec, false, err
				}
				continue
			}
			pin, msgs := parsePin(t.Attr)
			if len(msgs) > 0 {
				line, col := p.x.LineCol(t.Offset)
				for _, m := range msgs {
					pr := at
					pr.Line, pr.Col, pr.Severity, pr.Rule, pr.Msg = line, col, Error, "A9", fmt.Sprintf("pin %d: %s", len(rec.Pins)+1, m)
					p.warn(pr)
					bad = true
				}
			}
			rec.Pins = append(rec.Pins, pin)
			if err := p.skip(); err != nil {
				return rec, false, err
			}
		}
	}
}

// parsePin reads the attributes of a <public-key-pin>. Problems make the
// record invalid: a malformed pin must fail closed, never vanish (A9).
func parsePin(attrs []safexml.Attr) (Pin, []string) {
	var pin Pin
	var msgs []string
	for k, a := range attrs {
		if isNamespaceDecl(a.Name) {
			continue
		}
		if a.Name.Space != "" {
			msgs = append(msgs, fmt.Sprintf("attribute %q is not a hash name", attrName(a.Name)))
			continue
		}
		name := strings.ToLower(a.Name.Local)
		v, err := decodeBase64(a.Value)
		if err != nil {
			msgs = append(msgs, fmt.Sprintf("%s value is not valid base64", name))
			continue
		}
		if h := LookupHash(name); h != nil && len(v) != h.Size {
			msgs = append(msgs, fmt.Sprintf("%s value is %d bytes, a %s digest is %d", name, len(v), name, h.Size))
			continue
		}
		if pin.Digests == nil {
			// Room for every attribute left: one allocation per pin.
			pin.Digests = make([]Digest, 0, len(attrs)-k)
		}
		pin.Digests = append(pin.Digests, Digest{Hash: name, Value: v})
	}
	if len(pin.Digests) == 0 && len(msgs) == 0 {
		msgs = append(msgs, "no digest: a pin needs at least one attribute like sha-256=\"...\"")
	}
	return pin, msgs
}

// strictBase64 is made once: Strict returns a new Encoding on each call.
var strictBase64 = base64.StdEncoding.Strict()

// decodeBase64 is strict padded standard base64: unlike the encoding
// package, it also refuses CR and LF, so that one value has one spelling.
func decodeBase64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("line breaks in base64")
	}
	return strictBase64.DecodeString(s)
}

func parseUint16(s string) (uint16, bool) {
	n, err := strconv.ParseUint(s, 10, 16)
	return uint16(n), err == nil
}

// isToken reports whether s looks like a plain protocol name that someone
// forgot to base64-encode, for a helpful hint.
func isToken(s string) bool { return s != "" && printableASCII(s) }

// printableASCII reports whether every byte of s is visible ASCII ('!' to
// '~'): no space, control byte or non-ASCII byte. Non-ASCII UTF-8 bytes are
// all above '~', so no separate UTF-8 check is needed.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

package xmppstream

import (
	"bytes"
	"encoding/xml"
)

// This file holds namespaces: the declarations a stream header makes
// for the elements inside it, resolving names against them, and copying
// them into an element that must stand alone (RFC 7395 section 3.3.3,
// XEP-0206).

// nsDecl is one namespace declaration of a stream header (or BOSH body).
type nsDecl struct {
	prefix string // "" for the default namespace
	value  string // decoded namespace name
	raw    []byte // " xmlns:p='…'" as written, ready to insert into a start tag
}

// nsScope is what a stream header declares for the elements inside it.
type nsScope struct {
	decls []nsDecl
	// byPrefix indexes decls when there are more than a few, so that a
	// header declaring a hundred prefixes does not make every prefixed
	// name after it a hundred comparisons.
	byPrefix map[string]string
}

// maxHeaderDecls bounds the namespace declarations of a stream header,
// which Complete copies into each element; real headers declare two or
// three namespaces in about a hundred bytes.
const maxHeaderDecls = 1 << 10

// size is the length of the declarations Complete may copy.
func (sc *nsScope) size() int {
	n := 0
	for _, d := range sc.decls {
		n += len(d.raw)
	}
	return n
}

// indexScopeAbove is how many declarations a scope holds before lookup
// uses a map rather than comparing them one by one.
const indexScopeAbove = 8

func (sc *nsScope) index() {
	if len(sc.decls) <= indexScopeAbove {
		return
	}
	sc.byPrefix = make(map[string]string, len(sc.decls))
	for _, d := range sc.decls {
		sc.byPrefix[d.prefix] = d.value
	}
}

func (sc *nsScope) lookup(prefix []byte) (string, bool) {
	if sc == nil {
		return "", false
	}
	if sc.byPrefix != nil {
		v, ok := sc.byPrefix[string(prefix)]
		return v, ok
	}
	for i := range sc.decls {
		if sc.decls[i].prefix == string(prefix) {
			return sc.decls[i].value, true
		}
	}
	return "", false
}

// prefixOf returns the prefix of a qualified name, nil when there is none.
func prefixOf(qname []byte) []byte {
	if i := bytes.IndexByte(qname, ':'); i > 0 {
		return qname[:i]
	}
	return nil
}

// newScope collects the declarations of the header just scanned. Inside
// a BOSH body the default namespace of stanzas is jabber:client (XEP-0206),
// never httpbind, and declarations of the BOSH namespaces
// (httpbind, xbosh) are dropped: they mean nothing to the stanzas.
func (s *Splitter) newScope(b []byte) *nsScope {
	sc := &nsScope{}
	if s.mode == modeBOSH {
		sc.decls = append(sc.decls, nsDecl{prefix: "", value: "jabber:client", raw: []byte(" xmlns='jabber:client'")})
	}
	for _, a := range s.attrs {
		name := b[a.ns:a.ne]
		var prefix string
		switch {
		case string(name) == "xmlns":
		case bytes.HasPrefix(name, []byte("xmlns:")):
			prefix = string(name[len("xmlns:"):])
		default:
			continue
		}
		value := decodeAttr(b[a.vs:a.ve])
		if s.mode == modeBOSH && (prefix == "" || value == NSHTTPBind || value == NSXBOSH) {
			continue
		}
		q := b[a.vs-1]
		raw := make([]byte, 0, 4+len(name)+a.ve-a.vs)
		raw = append(raw, ' ')
		raw = append(raw, name...)
		raw = append(raw, '=', q)
		raw = append(raw, b[a.vs:a.ve]...)
		raw = append(raw, q)
		sc.decls = append(sc.decls, nsDecl{prefix: prefix, value: value, raw: raw})
	}
	sc.index()
	return sc
}

// headerOf reads a Header from the attributes of a stream header or
// <open/>.
func headerOf(attrs []xml.Attr) *Header {
	h := &Header{}
	for _, a := range attrs {
		switch {
		case a.Name.Space == "" && a.Name.Local == "to":
			h.To = a.Value
		case a.Name.Space == "" && a.Name.Local == "from":
			h.From = a.Value
		case a.Name.Space == "" && a.Name.Local == "id":
			h.ID = a.Value
		case a.Name.Space == "" && a.Name.Local == "version":
			h.Version = a.Value
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			h.NS = a.Value
		case (a.Name.Space == "xml" || a.Name.Space == nsXML) && a.Name.Local == "lang":
			// encoding/xml names the xml prefix by its namespace.
			h.Lang = a.Value
		}
	}
	return h
}

func attrValue(attrs []xml.Attr, space, local string) string {
	for _, a := range attrs {
		if a.Name.Space == space && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

func complete(raw []byte, sc *nsScope) []byte {
	if sc == nil || len(sc.decls) == 0 {
		return raw
	}
	nameEnd, own, ok := ownDecls(raw)
	if !ok {
		return raw
	}
	var add []byte
	for _, d := range sc.decls {
		if !own(d.prefix) {
			add = append(add, d.raw...)
		}
	}
	if len(add) == 0 {
		return raw
	}
	out := make([]byte, 0, len(raw)+len(add))
	out = append(out, raw[:nameEnd]...)
	out = append(out, add...)
	return append(out, raw[nameEnd:]...)
}

// ownDecls reads the start tag at the beginning of raw: where its name
// ends, and which prefixes ("" for the default namespace) it declares.
func ownDecls(raw []byte) (nameEnd int, has func(prefix string) bool, ok bool) {
	if len(raw) < 2 || raw[0] != '<' {
		return 0, nil, false
	}
	i := 1
	for i < len(raw) && !isNameDelim(raw[i]) {
		i++
	}
	nameEnd = i
	var decls [][]byte
	for {
		for i < len(raw) && isXMLSpace(raw[i]) {
			i++
		}
		if i >= len(raw) {
			return 0, nil, false
		}
		if raw[i] == '>' || raw[i] == '/' {
			break
		}
		ns := i
		for i < len(raw) && !isNameDelim(raw[i]) {
			i++
		}
		name := raw[ns:i]
		for i < len(raw) && (isXMLSpace(raw[i]) || raw[i] == '=') {
			i++
		}
		if i >= len(raw) || raw[i] != '\'' && raw[i] != '"' {
			return 0, nil, false
		}
		k := bytes.IndexByte(raw[i+1:], raw[i])
		if k < 0 {
			return 0, nil, false
		}
		i += k + 2
		if string(name) == "xmlns" {
			decls = append(decls, nil)
		} else if p, ok := bytes.CutPrefix(name, []byte("xmlns:")); ok {
			decls = append(decls, p)
		}
	}
	return nameEnd, func(prefix string) bool {
		for _, d := range decls {
			if string(d) == prefix {
				return true
			}
		}
		return false
	}, true
}

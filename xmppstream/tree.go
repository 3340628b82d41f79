package xmppstream

import (
	"bytes"
	"encoding/xml"
	"strings"
)

// This file turns one element the Splitter accepted into the small tree
// the opening and message checks look at. The Splitter is the package's
// one XML reader: it has checked everything about the bytes (XML 1.0
// well-formedness, namespaces, RFC 6120 section 11's restrictions, the
// bounds of H6) before tree walks them, so tree only finds names,
// attributes, children and text.

// elem is a parsed element.
type elem struct {
	Name     xml.Name
	Attr     []xml.Attr // xmlns declarations included, named as encoding/xml names them
	Children []*elem
	Text     string // character data directly inside, concatenated
	Raw      []byte // the element's bytes as received
}

// attr is get that also reports whether the attribute is present, for
// callers that tell an absent attribute from an empty one (intAttr).
func (e *elem) attr(space, local string) (string, bool) {
	for _, a := range e.Attr {
		if a.Name.Space == space && a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

func (e *elem) get(space, local string) string {
	return attrValue(e.Attr, space, local)
}

// child returns the first child element named {space}local, or nil.
func (e *elem) child(space, local string) *elem {
	for _, c := range e.Children {
		if c.Name.Space == space && c.Name.Local == local {
			return c
		}
	}
	return nil
}

// tree returns the element raw holds, which the Splitter has accepted,
// with names resolved by its own declarations and then by sc (the
// declarations of the stream header around it; nil for a message that
// stands alone). It returns nil for bytes that are not such an element:
// a bug of the caller's, never a crash.
func tree(raw []byte, sc *nsScope) *elem {
	p := &treeWalk{b: raw, sc: sc}
	if len(raw) < 2 || raw[0] != '<' {
		return nil
	}
	e := p.element(nil)
	if p.bad {
		return nil
	}
	return e
}

// treeWalk is the state of tree: a position in bytes known to be one
// well-formed element, and the declarations in scope.
type treeWalk struct {
	b   []byte
	i   int
	sc  *nsScope
	bad bool // the bytes ended early: not what the Splitter accepted
}

// nsFrame is what one start tag declares: prefix ("" for the default
// namespace) to namespace.
type nsFrame map[string]string

func (p *treeWalk) at(i int) byte {
	if i >= len(p.b) {
		p.bad = true
		return '>'
	}
	return p.b[i]
}

func (p *treeWalk) lookup(stack []nsFrame, prefix string) (string, bool) {
	for k := len(stack) - 1; k >= 0; k-- {
		if v, ok := stack[k][prefix]; ok {
			return v, true
		}
	}
	if prefix == "xml" {
		return nsXML, true
	}
	return p.sc.lookup([]byte(prefix))
}

// name returns the part of p.b from p.i up to a name delimiter.
func (p *treeWalk) name() string {
	from := p.i
	for !p.bad && !isNameDelim(p.at(p.i)) {
		p.i++
	}
	return string(p.b[from:min(p.i, len(p.b))])
}

// element reads the element whose '<' is at p.i.
func (p *treeWalk) element(stack []nsFrame) *elem {
	start := p.i
	p.i++
	qname := p.name()
	type rawAttr struct{ name, value string }
	var attrs []rawAttr
	var frame nsFrame
	empty := false
	for !p.bad {
		for isXMLSpace(p.at(p.i)) {
			p.i++
		}
		if c := p.at(p.i); c == '>' || c == '/' {
			empty = c == '/'
			p.i++
			if empty {
				p.i++ // the '>' of "/>"
			}
			break
		}
		name := p.name()
		for c := p.at(p.i); c != '\'' && c != '"' && !p.bad; c = p.at(p.i) {
			p.i++ // spaces and '='
		}
		quote := p.at(p.i)
		p.i++
		from := p.i
		for p.at(p.i) != quote && !p.bad {
			p.i++
		}
		value := decodeAttr(p.b[from:min(p.i, len(p.b))])
		p.i++
		attrs = append(attrs, rawAttr{name, value})
		prefix, declares := strings.CutPrefix(name, "xmlns:")
		if name == "xmlns" {
			prefix, declares = "", true
		}
		if declares {
			if frame == nil {
				frame = nsFrame{}
			}
			frame[prefix] = value
		}
	}
	if frame != nil {
		stack = append(stack, frame)
	}
	e := &elem{}
	prefix, local := splitQName(qname)
	e.Name.Local = local
	e.Name.Space, _ = p.lookup(stack, prefix)
	for _, a := range attrs {
		prefix, local := splitQName(a.name)
		n := xml.Name{Local: local}
		switch {
		case a.name == "xmlns":
		case prefix == "xmlns":
			n.Space = "xmlns"
		case prefix != "":
			ns, ok := p.lookup(stack, prefix)
			if !ok {
				ns = prefix
			}
			n.Space = ns
		}
		e.Attr = append(e.Attr, xml.Attr{Name: n, Value: a.value})
	}
	if empty {
		e.Raw = p.b[start:min(p.i, len(p.b))]
		return e
	}
	var text []byte
	for !p.bad {
		k := bytes.IndexByte(p.b[p.i:], '<')
		if k < 0 {
			p.bad = true
			break
		}
		if len(text) < MaxMessageBytes {
			text = append(text, decodeAttr(p.b[p.i:p.i+k])...)
		}
		p.i += k
		rest := p.b[p.i:]
		switch {
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			end := bytes.Index(rest, []byte("]]>"))
			if end < 0 {
				p.bad = true
				break
			}
			text = append(text, rest[len("<![CDATA["):end]...)
			p.i += end + len("]]>")
		case bytes.HasPrefix(rest, []byte("</")):
			end := bytes.IndexByte(rest, '>')
			if end < 0 {
				p.bad = true
				break
			}
			p.i += end + 1
			e.Text = string(text)
			e.Raw = p.b[start:p.i]
			return e
		default:
			e.Children = append(e.Children, p.element(stack))
		}
	}
	return e
}

// splitQName splits a qualified name at its colon.
func splitQName(q string) (prefix, local string) {
	if i := strings.IndexByte(q, ':'); i > 0 {
		return q[:i], q[i+1:]
	}
	return "", q
}

// streamError extracts the condition and text of a <stream:error/>.
func streamError(e *elem) *StreamError {
	se := &StreamError{}
	for _, c := range e.Children {
		if c.Name.Space != NSStreamErr {
			continue
		}
		if c.Name.Local == "text" {
			se.Text = strings.TrimSpace(c.Text)
		} else if se.Condition == "" {
			se.Condition = c.Name.Local
			if t := strings.TrimSpace(c.Text); t != "" && se.Text == "" {
				se.Text = t // see-other-host carries the new host
			}
		}
	}
	return se
}

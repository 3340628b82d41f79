package xmppstream

import (
	"encoding/xml"
	"strings"

	"hacx.dev/hacx/internal/safexml"
)

// This file turns one element the Splitter accepted into the small tree
// the opening and message checks look at. The Splitter has checked the
// bytes as they arrived (XML 1.0 well-formedness, namespaces, RFC 6120
// section 11's restrictions, the bounds of H6) without reading past the
// element; tree then reads the element whole with internal/safexml, the
// module's one reader of the H6 subset (documents, host-meta, and these
// elements), so names, attributes and text come from the same code
// everywhere, and any disagreement between the two readers is refused.

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
// stands alone). It returns nil for bytes that are not one such element:
// the Splitter and safexml disagree, which a caller reports as ill-formed
// XML, never a crash.
func tree(raw []byte, sc *nsScope) *elem {
	if len(raw) < 2 || raw[0] != '<' {
		return nil
	}
	s := string(raw)
	// The bound the Splitter applied (H6); safexml refusing deeper
	// nesting is one more way for the two readers to disagree.
	r := safexml.NewReader(s, maxDepth)
	if sc != nil {
		for _, d := range sc.decls {
			r.Declare(d.prefix, d.value)
		}
	}
	type open struct {
		e     *elem
		start int
		text  []byte
	}
	var stack []open
	var root *elem
	for {
		tok, err := r.Next()
		if err != nil {
			return nil
		}
		switch tok.Kind {
		case safexml.StartElement:
			// One element, nothing before it (no comment, no
			// declaration) and nothing after it.
			if root != nil || len(stack) == 0 && tok.Offset != 0 {
				return nil
			}
			e := &elem{Name: xml.Name{Space: tok.Name.Space, Local: tok.Name.Local}}
			if len(tok.Attr) > 0 {
				e.Attr = make([]xml.Attr, len(tok.Attr))
				for k, a := range tok.Attr {
					e.Attr[k] = xml.Attr{Name: xml.Name{Space: a.Name.Space, Local: a.Name.Local}, Value: a.Value}
				}
			}
			if len(stack) > 0 {
				parent := stack[len(stack)-1].e
				parent.Children = append(parent.Children, e)
			}
			stack = append(stack, open{e: e, start: tok.Offset})
		case safexml.CharData:
			if len(stack) == 0 {
				return nil
			}
			// Text is for conditions and mechanism names; once it holds
			// a message's worth, more is not kept.
			if top := &stack[len(stack)-1]; len(top.text) < MaxMessageBytes {
				top.text = append(top.text, tok.Text()...)
			}
		case safexml.EndElement:
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			top.e.Text = string(top.text)
			top.e.Raw = raw[top.start:r.Offset()]
			if len(stack) == 0 {
				root = top.e
			}
		case safexml.EOF:
			return root
		}
	}
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

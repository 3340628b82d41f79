package proxy

import (
	"bytes"
	"encoding/xml"
	"io"

	"hacx.dev/hacx/xmppstream"
)

// nsTLS is the STARTTLS namespace (RFC 6120 section 5.4).
const nsTLS = "urn:ietf:params:xml:ns:xmpp-tls"

// rewriteFeatures adapts the upstream's first <stream:features/> for the
// local client: the upstream's STARTTLS offer goes (the upstream is
// already encrypted and verified; STARTTLS is never forwarded), so do
// -PLUS SASL mechanisms, in RFC 6120 and XEP-0388 lists, and the XEP-0440
// channel-binding types (channel binding would bind the client's TLS
// connection with the proxy, which the server cannot see: the exchange
// would fail), and when offerTLS is set the proxy's own <starttls/> is put
// first, with <required/> when required. Everything else is kept byte for
// byte. Features that do not parse are passed on as they are: the client
// will say what is wrong with them.
func rewriteFeatures(features []byte, offerTLS, required bool) []byte {
	if len(features) == 0 {
		features = []byte("<stream:features/>")
	}
	out := features
	if cut, ok := featureCuts(features); ok && len(cut) > 0 {
		out = make([]byte, 0, len(features))
		prev := 0
		for _, c := range cut {
			out = append(out, features[prev:c[0]]...)
			prev = c[1]
		}
		out = append(out, features[prev:]...)
	}
	if !offerTLS {
		return out
	}
	tls := "<starttls xmlns='" + nsTLS + "'/>"
	if required {
		tls = "<starttls xmlns='" + nsTLS + "'><required/></starttls>"
	}
	end, empty, name := startTagEnd(out)
	if end < 0 {
		return out
	}
	var b bytes.Buffer
	if empty {
		// <stream:features/>: open it, so it can hold the offer.
		b.Write(bytes.TrimRight(out[:end-1], "/ \t\r\n"))
		b.WriteString(">" + tls + "</")
		b.Write(name)
		b.WriteString(">")
		b.Write(out[end+1:])
		return b.Bytes()
	}
	b.Write(out[:end+1])
	b.WriteString(tls)
	b.Write(out[end+1:])
	return b.Bytes()
}

// maxFeatureDepth bounds the nesting featureCuts follows.
const maxFeatureDepth = 32

// Channel-binding advertisements beyond RFC 6120's <mechanisms/>.
const (
	nsSASL2  = "urn:xmpp:sasl:2"    // XEP-0388 <authentication/>
	nsSASLCB = "urn:xmpp:sasl-cb:0" // XEP-0440 <sasl-channel-binding/>
)

// cbMechanisms reports whether the feature named n lists SASL mechanisms
// in <mechanism/> children: RFC 6120 <mechanisms/> or XEP-0388
// <authentication/>.
func cbMechanisms(n xml.Name) bool {
	return n.Local == "mechanisms" || n == xml.Name{Space: nsSASL2, Local: "authentication"}
}

// featureCuts returns the byte ranges to remove from features: <starttls/>
// children, <mechanism/> children of <mechanisms/> (RFC 6120) or
// <authentication xmlns='urn:xmpp:sasl:2'/> (XEP-0388) naming a -PLUS
// mechanism (RFC 5802 section 6), and XEP-0440 <sasl-channel-binding/>,
// which would tell the client to bind to a TLS connection the server
// does not see. ok is false when features are not one
// element (leading whitespace allowed) that parses.
func featureCuts(features []byte) (cut [][2]int, ok bool) {
	d := xml.NewDecoder(bytes.NewReader(features))
	var (
		roots     int
		depth     int
		child     xml.Name
		childFrom int
		mechFrom  int
		inMech    bool
		mechText  []byte
	)
	for {
		from := int(d.InputOffset())
		tok, err := d.Token()
		if err == io.EOF {
			return cut, depth == 0 && roots == 1
		}
		if err != nil {
			return nil, false
		}
		if depth == 0 {
			// One root element, whitespace around it: startTagEnd
			// relies on the root coming first.
			switch t := tok.(type) {
			case xml.CharData:
				if len(bytes.TrimSpace(t)) > 0 {
					return nil, false
				}
			case xml.StartElement:
				if roots > 0 {
					return nil, false
				}
			default:
				return nil, false
			}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
			if depth > maxFeatureDepth {
				return nil, false
			}
			switch {
			case depth == 2:
				child, childFrom = t.Name, from
			case depth == 3 && cbMechanisms(child) && t.Name.Local == "mechanism":
				inMech, mechFrom, mechText = true, from, mechText[:0]
			}
		case xml.CharData:
			if inMech && depth == 3 && len(mechText) < 256 {
				mechText = append(mechText, t...)
			}
		case xml.EndElement:
			to := int(d.InputOffset())
			switch {
			case depth == 3 && inMech:
				inMech = false
				if bytes.HasSuffix(bytes.TrimSpace(mechText), []byte("-PLUS")) {
					cut = append(cut, [2]int{mechFrom, to})
				}
			case depth == 2 && (child.Local == "starttls" || child == xml.Name{Space: nsSASLCB, Local: "sasl-channel-binding"}):
				cut = append(cut, [2]int{childFrom, to})
			}
			depth--
		}
	}
}

// startTagEnd finds the '>' ending the start tag at the beginning of b,
// skipping quoted attribute values; empty says it is an empty-element
// tag, name is the tag's qualified name. end is -1 when b does not start
// with a complete tag.
func startTagEnd(b []byte) (end int, empty bool, name []byte) {
	b0 := bytes.TrimLeft(b, " \t\r\n")
	off := len(b) - len(b0)
	if len(b0) < 2 || b0[0] != '<' {
		return -1, false, nil
	}
	i := 1
	for i < len(b0) && !bytes.ContainsRune([]byte(" \t\r\n/>"), rune(b0[i])) {
		i++
	}
	name = b0[1:i]
	var quote byte
	for ; i < len(b0); i++ {
		c := b0[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '>':
			return off + i, i > 0 && b0[i-1] == '/', name
		}
	}
	return -1, false, nil
}

// streamError renders <stream:error/> with condition and text followed by
// </stream:stream>, to write into a stream whose header declared the
// stream prefix (ours always does).
func streamError(condition, text string) []byte {
	var b bytes.Buffer
	xmppstream.WriteStreamError(&b, condition, text) //nolint:errcheck // bytes.Buffer never fails
	return b.Bytes()
}

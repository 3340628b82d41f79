package proxy

import "bytes"

// boundary follows the nesting of the XML a client sends on a direct TLS
// relay, so that Shutdown ends the upstream stream between two top-level
// elements and never inside one (which the server would take for
// ill-formed XML). It only looks for '<', '>' and quotes with the bytes
// package's fast searches, so following costs far less than the TLS
// records around the bytes; it does not check anything: the server does.
type boundary struct {
	depth  int   // open elements below the stream
	state  uint8 // where in the markup the last byte left us
	quote  byte  // in stQuote: the closing quote
	slash  bool  // in stStart: the last byte was '/'
	brack  int   // in stCDATA: ']' just before
	name   []byte
	inName bool // in stStart: still reading the tag name
	closed bool // the client sent </stream:stream> itself
	// stream is the qualified name of the client's stream header, as
	// it wrote it; empty means "stream:stream". Only that name at the
	// top level is a restart: <stream xmlns='urn:a'/> or a foreign
	// prefix's <x:stream/> is an element like any other.
	stream []byte
}

// defaultStreamName is the stream header's qualified name clients write.
var defaultStreamName = []byte("stream:stream")

func (b *boundary) streamName() []byte {
	if len(b.stream) == 0 {
		return defaultStreamName
	}
	return b.stream
}

const (
	stText  = iota // character data between tags
	stLT           // just after '<'
	stStart        // in a start tag
	stQuote        // in a quoted attribute value
	stEnd          // in an end tag
	stBang         // just after "<!"
	stCDATA        // in a CDATA section
	stSkip         // in a comment, a declaration or a processing instruction
)

// atBoundary reports whether the bytes so far end between top-level
// elements of the stream, and the client has not closed it.
func (b *boundary) atBoundary() bool {
	return b.state == stText && b.depth == 0 && !b.closed
}

// feed follows p, the next bytes sent upstream.
func (b *boundary) feed(p []byte) {
	for len(p) > 0 {
		switch b.state {
		case stText:
			i := bytes.IndexByte(p, '<')
			if i < 0 {
				return
			}
			p = p[i+1:]
			b.state = stLT
		case stLT:
			switch p[0] {
			case '/':
				b.state = stEnd
				p = p[1:]
			case '!':
				b.state = stBang
				p = p[1:]
			case '?':
				b.state = stSkip
				p = p[1:]
			default:
				b.state, b.slash, b.inName, b.name = stStart, false, true, b.name[:0]
			}
		case stStart:
			if b.inName && b.depth > 0 {
				b.inName = false // only a top-level name can be a stream's
			}
			if b.inName {
				i := bytes.IndexAny(p, " \t\r\n/>")
				n := i
				if n < 0 {
					n = len(p)
				}
				// One byte more than the stream's name is enough to
				// tell any other name from it.
				if limit := len(b.streamName()) + 1; b.depth == 0 && len(b.name) < limit {
					b.name = append(b.name, p[:min(n, limit-len(b.name))]...)
				}
				if i < 0 {
					return
				}
				b.inName = false
				p = p[i:]
				continue
			}
			i := bytes.IndexAny(p, "'\">")
			if i < 0 {
				b.slash = p[len(p)-1] == '/'
				return
			}
			if p[i] != '>' {
				b.state, b.quote, b.slash = stQuote, p[i], false
				p = p[i+1:]
				continue
			}
			empty := (i > 0 && p[i-1] == '/') || (i == 0 && b.slash)
			p = p[i+1:]
			b.state = stText
			switch {
			case empty:
			case b.depth == 0 && bytes.Equal(b.name, b.streamName()):
				// A restart (after SASL): a new stream, not an element.
			default:
				b.depth++
			}
		case stQuote:
			i := bytes.IndexByte(p, b.quote)
			if i < 0 {
				return
			}
			p = p[i+1:]
			b.state = stStart
		case stEnd:
			i := bytes.IndexByte(p, '>')
			if i < 0 {
				return
			}
			p = p[i+1:]
			b.state = stText
			if b.depth > 0 {
				b.depth--
			} else {
				b.closed = true // </stream:stream>
			}
		case stBang:
			if p[0] == '[' {
				b.state, b.brack = stCDATA, 0
			} else {
				b.state = stSkip
			}
			p = p[1:]
		case stCDATA:
			i := bytes.IndexByte(p, '>')
			if i < 0 {
				b.brack = trailing(p, ']', b.brack)
				return
			}
			done := trailing(p[:i], ']', b.brack) >= 2
			p = p[i+1:]
			b.brack = 0
			if done {
				b.state = stText
			}
		case stSkip:
			i := bytes.IndexByte(p, '>')
			if i < 0 {
				return
			}
			p = p[i+1:]
			b.state = stText
		}
	}
}

// trailing counts the c at the end of p, adding before when p is all c.
func trailing(p []byte, c byte, before int) int {
	n := 0
	for n < len(p) && p[len(p)-1-n] == c {
		n++
	}
	if n == len(p) {
		n += before
	}
	return n
}

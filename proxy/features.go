package proxy

import (
	"bytes"
	"regexp"

	"hacx.dev/hacx/xmppstream"
)

// nsTLS is the STARTTLS namespace (RFC 6120 section 5.4).
const nsTLS = "urn:ietf:params:xml:ns:xmpp-tls"

var (
	// An upstream <starttls/> offer, empty or with children (<required/>).
	reStartTLS = regexp.MustCompile(`<(?:[A-Za-z_][\w.-]*:)?starttls\b[^>]*?(?:/>|>.*?</(?:[A-Za-z_][\w.-]*:)?starttls\s*>)`)
	// A SASL mechanism with channel binding (RFC 5802 section 6: -PLUS).
	rePlus = regexp.MustCompile(`<((?:[A-Za-z_][\w.-]*:)?mechanism)\b[^>]*>\s*[A-Za-z0-9_-]*-PLUS\s*</((?:[A-Za-z_][\w.-]*:)?mechanism)\s*>`)
)

// rewriteFeatures adapts the upstream's first <stream:features/> for the
// local client: the upstream's STARTTLS offer goes (the upstream is
// already encrypted and verified; STARTTLS is never forwarded), so do
// -PLUS SASL mechanisms (channel binding would bind the client's TLS
// connection with the proxy, which the server cannot see: the exchange
// would fail), and when offerTLS is set the proxy's own <starttls/> is put
// first, with <required/> when required.
func rewriteFeatures(features []byte, offerTLS, required bool) []byte {
	if len(features) == 0 {
		features = []byte("<stream:features/>")
	}
	out := reStartTLS.ReplaceAll(features, nil)
	out = rePlus.ReplaceAll(out, nil)
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

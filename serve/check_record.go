package serve

// This file checks records and pins of a configuration in operator
// terms, then through the document parser clients use (A1-A9, E2).

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"

	"hacx.dev/hacx"
	"hacx.dev/hacx/ech"
)

// records converts and validates one kind's record list. Each record is
// checked here in operator terms and then the whole set goes through
// hacx.Marshal and hacx.Parse, so that exactly the rules clients apply
// (A1-A9, E2) decide what is publishable.
func (c *checker) records(key string, frs []fileRecord, ttl uint32) []hacx.Record {
	var out []hacx.Record
	var keys []string
	for i := range frs {
		rk := fmt.Sprintf("%s[%d]", key, i)
		r, ok := c.record(rk, &frs[i])
		if ok {
			out = append(out, r)
			keys = append(keys, rk)
		}
	}
	if len(out) == 0 {
		return out
	}
	for _, p := range roundTrip(out, ttl) {
		rk := key
		if p.Record >= 1 && p.Record <= len(keys) {
			rk = keys[p.Record-1]
		}
		c.add(rk, p.Rule, "%s", p.Msg)
	}
	return out
}

// roundTrip renders records as a document and parses it back, returning
// what the parser objects to (E2).
func roundTrip(recs []hacx.Record, ttl uint32) []hacx.Problem {
	data, err := hacx.Marshal(&hacx.Document{TTL: ttl, Records: recs})
	if err != nil {
		return []hacx.Problem{{Severity: hacx.Error, Msg: "cannot render document: " + err.Error()}}
	}
	doc, err := hacx.Parse(data)
	if err != nil {
		return []hacx.Problem{{Severity: hacx.Error, Msg: "rendered document does not parse: " + err.Error()}}
	}
	var probs []hacx.Problem
	for _, p := range doc.Warnings {
		// The note that <quic> is an extension (Q1, E1) is for readers of
		// a document; an operator configuring one meant it.
		if p.Rule == "E1" && p.Method == string(hacx.MethodQUIC) && !p.Lost && p.Severity == hacx.Warning {
			continue
		}
		probs = append(probs, p)
	}
	if len(probs) == 0 && len(doc.Records) != len(recs) {
		probs = append(probs, hacx.Problem{Severity: hacx.Error, Msg: fmt.Sprintf("%d of %d records survive parsing", len(doc.Records), len(recs))})
	}
	return probs
}

func (c *checker) record(key string, fr *fileRecord) (hacx.Record, bool) {
	n := len(c.problems)
	r := hacx.Record{Method: hacx.Method(strings.ToLower(fr.Method))}
	switch r.Method {
	case hacx.MethodTLS, hacx.MethodWebSocket, hacx.MethodBOSH, hacx.MethodQUIC: // quic: Q1
	case "":
		c.add(key, "", "record has no method: use \"tls\", \"websocket\", \"bosh\" or \"quic\"")
	default:
		c.add(key+".method", "", "unknown method %q: use \"tls\", \"websocket\", \"bosh\" or \"quic\"", fr.Method)
	}
	if fr.IP == "" {
		c.add(key, "A1", "record has no ip (an IPv4 or IPv6 address; host names are not allowed)")
	} else if ip, err := netip.ParseAddr(fr.IP); err != nil || ip.Zone() != "" {
		c.add(key+".ip", "A1", "ip %q is not an IPv4 or IPv6 address (host names are not allowed)", fr.IP)
	} else {
		r.IP = ip.Unmap()
	}
	switch {
	case fr.Port == 0:
		c.add(key, "A2", "record has no port")
	case fr.Port < 1 || fr.Port > 65535:
		c.add(key+".port", "A2", "port must be 1 to 65535, not %d", fr.Port)
	default:
		r.Port = uint16(fr.Port)
	}
	if fr.Priority < 0 || fr.Priority > 65535 {
		c.add(key+".priority", "A3", "priority must be 0 to 65535, not %d", fr.Priority)
	} else {
		r.Priority = uint16(fr.Priority)
	}
	if fr.Weight < 0 || fr.Weight > 65535 {
		c.add(key+".weight", "A4", "weight must be 0 to 65535, not %d", fr.Weight)
	} else {
		r.Weight = uint16(fr.Weight)
	}
	if fr.SNI != nil {
		s := *fr.SNI
		if _, err := netip.ParseAddr(s); s == "" || err == nil {
			c.add(key+".sni", "A5", "sni must be a host name; to send no SNI at all, leave sni out")
		}
		r.SNI, r.HasSNI = s, true
	}
	if fr.ALPN != nil {
		a := *fr.ALPN
		switch {
		case r.Method == hacx.MethodWebSocket || r.Method == hacx.MethodBOSH:
			c.add(key+".alpn", "A7", "alpn is only for tls records: WebSocket and BOSH negotiate over HTTP")
		case a == "" || len(a) > 255:
			c.add(key+".alpn", "A6", "alpn must be a protocol ID of 1 to 255 bytes, such as \"xmpp-client\"; to send no ALPN, leave alpn out")
		case looksBase64(a):
			// Operators copying from a document paste "eG1wcC1jbGllbnQ="; we
			// encode for them, so say so rather than double-encode silently.
			c.add(key+".alpn", "A6", "alpn is written as plain text (\"xmpp-client\"), not base64 (%q decodes to %q)", a, mustB64(a))
		}
		r.ALPN = []byte(a)
	}
	switch r.Method {
	case hacx.MethodTLS, hacx.MethodQUIC: // Q1: quic records follow the rules of tls
		if fr.URL != "" {
			c.add(key+".url", "", "%s records have no url", r.Method)
		}
	case hacx.MethodWebSocket, hacx.MethodBOSH:
		scheme := "wss"
		if r.Method == hacx.MethodBOSH {
			scheme = "https"
		}
		u, err := url.Parse(fr.URL)
		switch {
		case fr.URL == "":
			c.add(key, "", "%s record needs a url (%s://...)", r.Method, scheme)
		case err != nil || u.Scheme != scheme || u.Host == "":
			c.add(key+".url", "", "%s url must be %s://host/path, not %q", r.Method, scheme, fr.URL)
		}
		r.URL = fr.URL
	}
	if fr.ECH != "" {
		// The base64 ECHConfigList a record publishes (E4), as
		// "hacx ech keygen" prints it.
		b, _, err := ech.DecodeList(fr.ECH)
		if err != nil {
			c.add(key+".ech", "E4", "%s", strings.TrimPrefix(err.Error(), "ech: "))
		}
		r.ECH = b
	}
	for i, s := range fr.Pins {
		p, err := c.pin(s)
		if err != nil {
			c.add(key+".pins", "A9", "pin %d: %v", i+1, err)
			continue
		}
		r.Pins = append(r.Pins, p)
	}
	return r, len(c.problems) == n
}

// pin reads one pin setting: "sha-256=BASE64" (several space-separated
// digests of one key allowed, hacx.ParsePin), or the path of a PEM file
// whose first key (the leaf certificate's, or the key's) is pinned with
// sha-256.
func (c *checker) pin(s string) (hacx.Pin, error) {
	s = strings.TrimSpace(s)
	if name, _, ok := strings.Cut(s, "="); ok && hacx.LookupHash(name) != nil {
		p, err := hacx.ParsePin(s)
		if se, ok := errors.AsType[*hacx.PinSyntaxError](err); ok {
			// The problem already names the setting and the pin's number.
			return hacx.Pin{}, errors.New(se.Msg)
		}
		return p, err
	}
	path := s
	if !filepath.IsAbs(path) && c.dir != "" {
		path = filepath.Join(c.dir, path)
	}
	data, err := readPEMFile(path)
	if err != nil {
		return hacx.Pin{}, fmt.Errorf("%q is neither a hash=base64 pin nor a readable PEM file: %w", s, err)
	}
	kps, err := hacx.PinsFromPEM(data)
	if err != nil {
		// Located by the problem's line and key: the package prefix
		// would only be noise inside it.
		return hacx.Pin{}, fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "hacx: "))
	}
	// Only the first key: a chain file pins its leaf, not the CAs, which
	// would accept any certificate those CAs issue.
	return kps[0].Pin, nil
}

func looksBase64(s string) bool {
	if len(s) < 4 || len(s)%4 != 0 || !strings.HasSuffix(s, "=") {
		return false
	}
	_, err := base64.StdEncoding.DecodeString(s)
	return err == nil
}

func mustB64(s string) string {
	b, _ := base64.StdEncoding.DecodeString(s)
	return string(b)
}

package hostmeta

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// jsonDoc and jsonLink are the wire form of host-meta.json (X2, X3).
type jsonDoc struct {
	Subject string     `json:"subject,omitempty"`
	XMPP    *jsonXMPP  `json:"xmpp,omitempty"`
	Links   []jsonLink `json:"links"`
}

type jsonXMPP struct {
	TTL  *uint32  `json:"ttl,omitempty"`
	Pins []string `json:"public-key-pins-sha-256,omitempty"`
}

type jsonLink struct {
	Rel      string   `json:"rel"`
	Type     string   `json:"type,omitempty"`
	Href     string   `json:"href,omitempty"`
	Priority *uint16  `json:"priority,omitempty"`
	Weight   *uint16  `json:"weight,omitempty"`
	SNI      string   `json:"sni,omitempty"`
	ECH      string   `json:"ech,omitempty"`
	IPs      []string `json:"ips,omitempty"`
	Port     *uint16  `json:"port,omitempty"`
}

// ParseJSON reads host-meta.json: XEP-0156 links (X2) and the Host Meta 2
// xmpp object and link parameters (X3). Input over MaxSize, nesting deeper
// than 32, trailing data, or values of the wrong type or range (a port of
// 70000, a negative ttl) give a *SyntaxError. Unknown members are ignored.
func ParseJSON(data []byte) (*Document, error) {
	if len(data) > MaxSize {
		return nil, &SyntaxError{Format: "json", Offset: -1, Msg: "larger than 64 KiB (H6)"}
	}
	if err := checkJSONDepth(data); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var jd jsonDoc
	if err := dec.Decode(&jd); err != nil {
		se := &SyntaxError{Format: "json", Offset: -1, Msg: "invalid", Err: err}
		var jse *json.SyntaxError
		var jte *json.UnmarshalTypeError
		switch {
		case errors.As(err, &jse):
			se.Offset, se.Msg, se.Err = jse.Offset, jse.Error(), nil
		case errors.As(err, &jte):
			se.Offset, se.Msg, se.Err = jte.Offset, "member "+jte.Field+": want "+jte.Type.String()+", got "+jte.Value, nil
		}
		return nil, se
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &SyntaxError{Format: "json", Offset: dec.InputOffset(), Msg: "data after the top-level object"}
	}
	doc := &Document{Subject: jd.Subject}
	if jd.XMPP != nil {
		x := &XMPP{PublicKeyPinsSHA256: jd.XMPP.Pins}
		if jd.XMPP.TTL != nil {
			x.TTL = *jd.XMPP.TTL
		}
		doc.XMPP = x
	}
	for _, jl := range jd.Links {
		l := Link{Rel: jl.Rel, Type: jl.Type, Href: jl.Href, SNI: jl.SNI, ECH: jl.ECH, IPs: jl.IPs}
		if jl.Priority != nil {
			l.Priority = *jl.Priority
		}
		if jl.Weight != nil {
			l.Weight = *jl.Weight
		}
		if jl.Port != nil {
			l.Port = *jl.Port
		}
		doc.Links = append(doc.Links, l)
	}
	return doc, nil
}

// checkJSONDepth refuses nesting deeper than maxDepth before decoding, so
// a hostile file cannot make the decoder recurse deeply (H6).
func checkJSONDepth(data []byte) error {
	depth := 0
	inString, escaped := false, false
	for i, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > maxDepth {
				return &SyntaxError{Format: "json", Offset: int64(i), Msg: "nested too deeply (H6)"}
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// MarshalJSON writes d as host-meta.json, including the Host Meta 2 xmpp
// object and link parameters when set (X3). Zero priority, weight and port
// are written only on Host Meta 2 links (those with IPs, SNI or Port, or any
// link when d.XMPP is set), so a plain XEP-0156 file stays plain.
func MarshalJSON(d *Document) ([]byte, error) {
	jd := jsonDoc{Subject: d.Subject, Links: []jsonLink{}}
	if d.XMPP != nil {
		ttl := d.XMPP.TTL
		jd.XMPP = &jsonXMPP{TTL: &ttl, Pins: d.XMPP.PublicKeyPinsSHA256}
	}
	for _, l := range d.Links {
		jl := jsonLink{Rel: l.Rel, Type: l.Type, Href: l.Href, SNI: l.SNI, ECH: l.ECH, IPs: l.IPs}
		if d.XMPP != nil || len(l.IPs) > 0 || l.SNI != "" || l.Port != 0 || l.Priority != 0 || l.Weight != 0 {
			prio, weight := l.Priority, l.Weight
			jl.Priority, jl.Weight = &prio, &weight
			if l.Port != 0 {
				port := l.Port
				jl.Port = &port
			}
		}
		jd.Links = append(jd.Links, jl)
	}
	out, err := json.MarshalIndent(jd, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

package xmppstream

import (
	"bytes"
	"errors"
	"testing"

	"hacx.dev/hacx"
)

// The fuzzers check that network input never panics, that every failure
// is an *Error, and that success implies the C4 condition (from == domain).

func FuzzReadOpen(f *testing.F) {
	f.Add([]byte(prosodyHeader+saslFeatures), "example.com")
	f.Add([]byte(ejabberdHeader+"<stream:features/>"), "example.com")
	f.Add([]byte("HTTP/1.1 400 Bad Request\r\n"), "example.com")
	f.Add([]byte("\x15\x03\x01\x00\x02\x02\x46"), "")
	f.Add([]byte(prosodyHeader+"<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"), "example.com")
	f.Fuzz(func(t *testing.T, data []byte, domain string) {
		for _, kind := range []hacx.Kind{hacx.Client, hacx.Server} {
			r := bytes.NewReader(data)
			h, feats, err := ReadOpen(r, domain, kind)
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("error %T %v is not an *Error", err, err)
				}
				continue
			}
			if !sameDomain(h.From, domain) || h.NS != kind.Namespace() || !checkVersion(h.Version) {
				t.Fatalf("accepted %+v for %q", h, domain)
			}
			if consumed := len(data) - r.Len(); consumed > MaxOpenBytes || !bytes.Contains(data[:consumed], feats) {
				t.Fatalf("consumed %d bytes; features %q", consumed, feats)
			}
		}
		if _, err := ReadClientOpen(bytes.NewReader(data), hacx.Client); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("ReadClientOpen error %T %v is not an *Error", err, err)
			}
		}
	})
}

func FuzzCheckWSOpen(f *testing.F) {
	f.Add([]byte(WSServerOpen("example.com", "1")), "example.com")
	f.Add(WSClose(), "example.com")
	f.Add(WSStreamError("host-unknown", "x"), "example.com")
	f.Add([]byte(wsFeatures), "")
	f.Fuzz(func(t *testing.T, msg []byte, domain string) {
		h, err := CheckWSOpen(msg, domain)
		if err == nil && !sameDomain(h.From, domain) {
			t.Fatalf("accepted %+v for %q", h, domain)
		}
		for _, err := range []error{err, second(CheckWSFeatures(msg)), second(CheckWSClientOpen(msg))} {
			var e *Error
			if err != nil && !errors.As(err, &e) {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
		}
	})
}

func FuzzParseBOSHSession(f *testing.F) {
	f.Add([]byte(prosodyBOSH), "example.com")
	f.Add(BOSHTerminate("host-unknown"), "example.com")
	f.Add(BOSHSessionRequest("example.com", 1, hacx.Client), "example.com")
	f.Fuzz(func(t *testing.T, body []byte, domain string) {
		s, err := ParseBOSHSession(body, domain)
		if err == nil && (!sameDomain(s.Header.From, domain) || s.SID == "") {
			t.Fatalf("accepted %+v for %q", s, domain)
		}
		var e *Error
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("error %T %v is not an *Error", err, err)
		}
	})
}

func second[T any](_ T, err error) error { return err }

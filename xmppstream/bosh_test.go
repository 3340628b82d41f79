package xmppstream

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// A Prosody 0.12 session creation response, features included.
const prosodyBOSH = `<body xmlns:stream='http://etherx.jabber.org/streams' xmlns='http://jabber.org/protocol/httpbind' sid='8c1a7f2e-5a31-4e0b' xmpp:version='1.0' xmlns:xmpp='urn:xmpp:xbosh' inactivity='60' polling='5' requests='2' hold='1' ver='1.6' from='example.com' secure='true' wait='60' maxpause='300'><stream:features xmlns='jabber:client'><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features></body>`

// TestParseBOSHSession_C4 covers XEP-0206 session creation responses and
// the wrong answers a BOSH route can give (C3).
func TestParseBOSHSession_C4(t *testing.T) {
	s, err := ParseBOSHSession([]byte(prosodyBOSH), "example.com")
	if err != nil {
		t.Fatal(err)
	}
	want := BOSHSession{SID: "8c1a7f2e-5a31-4e0b", Header: Header{From: "example.com", Version: "1.0"},
		Wait: 60, Hold: 1, Requests: 2, Polling: 5, Inactivity: 60, MaxPause: 300, Ver: "1.6"}
	feats := s.Features
	s.Features = nil
	if !reflect.DeepEqual(*s, want) {
		t.Errorf("session = %+v\nwant %+v", *s, want)
	}
	if !strings.HasPrefix(string(feats), "<stream:features xmlns='jabber:client'>") || !strings.HasSuffix(string(feats), "</stream:features>") {
		t.Errorf("features = %q", feats)
	}

	tests := []struct {
		name, body string
		cause      error
		cond       string
		inMsg      string
	}{
		{"ejabberd without features", `<body xmlns='http://jabber.org/protocol/httpbind' sid='abc' wait='60' requests='2' inactivity='30' maxpause='120' polling='2' ver='1.8' from='example.com' secure='true' authid='123' xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0'/>`, nil, "", ""},
		{"terminate host-unknown", `<body type='terminate' condition='host-unknown' xmlns='http://jabber.org/protocol/httpbind'/>`, nil, "host-unknown", "terminated"},
		{"terminate remote-stream-error", `<body type='terminate' condition='remote-stream-error' xmlns='http://jabber.org/protocol/httpbind' xmlns:stream='http://etherx.jabber.org/streams'><stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></body>`, nil, "conflict", "conflict"},
		{"terminate bare", `<body type='terminate' xmlns='http://jabber.org/protocol/httpbind'/>`, ErrClosed, "", "terminated"},
		{"wrong domain", strings.Replace(prosodyBOSH, "from='example.com'", "from='other.example'", 1), ErrWrongDomain, "", `"other.example"`},
		{"no from", strings.Replace(prosodyBOSH, "from='example.com' ", "", 1), ErrWrongDomain, "", "without from"},
		{"no sid", strings.Replace(prosodyBOSH, "sid='8c1a7f2e-5a31-4e0b' ", "", 1), ErrNotXMPP, "", "without sid"},
		{"no xmpp:version", strings.Replace(prosodyBOSH, "xmpp:version='1.0' ", "", 1), ErrVersion, "", "without xmpp:version"},
		{"unprefixed version is not xmpp:version", strings.Replace(prosodyBOSH, "xmpp:version='1.0' ", "version='1.0' ", 1), ErrVersion, "", "without xmpp:version"},
		{"bad wait", strings.Replace(prosodyBOSH, "wait='60'", "wait='soon'", 1), ErrNotXMPP, "", `wait="soon"`},
		{"negative hold", strings.Replace(prosodyBOSH, "hold='1'", "hold='-1'", 1), ErrNotXMPP, "", "hold"},
		{"wrong namespace", `<body xmlns='jabber:client' sid='x' from='example.com'/>`, ErrNotXMPP, "", "httpbind"},
		{"html error page", "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head></html>", ErrNotXMPP, "", "HTML"},
		{"json", `{"error": "not found"}`, ErrNotXMPP, "", "not XML"},
		{"xxe H6", `<?xml version="1.0"?><!DOCTYPE body [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><body xmlns='http://jabber.org/protocol/httpbind' sid='&xxe;'/>`, ErrRestrictedXML, "", "DOCTYPE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseBOSHSession([]byte(tc.body), "example.com")
			if tc.cause == nil && tc.cond == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", s)
			}
			var e *Error
			if !errors.As(err, &e) || e.Phase != PhaseBOSH {
				t.Errorf("error %v is not a bosh-phase *Error", err)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("error %v is not %v", err, tc.cause)
			}
			var se *StreamError
			if tc.cond != "" && (!errors.As(err, &se) || se.Condition != tc.cond) {
				t.Errorf("error %v: want condition %s", err, tc.cond)
			}
			if !strings.Contains(err.Error(), tc.inMsg) {
				t.Errorf("message %q does not contain %q", err, tc.inMsg)
			}
		})
	}
}

// TestBOSHTerminate_ReadBack: a terminate body names its condition to
// ParseBOSHSession, and a condition that is not a plain name is left out.
// (The session creation round trip is internal/loopback's test: it writes
// the server side.)
func TestBOSHTerminate_ReadBack(t *testing.T) {
	_, err := ParseBOSHSession(BOSHTerminate("remote-connection-failed"), "example.com")
	var se *StreamError
	if !errors.As(err, &se) || se.Condition != "remote-connection-failed" {
		t.Errorf("terminate: %v", err)
	}
	if b := string(BOSHTerminate("x'/>")); strings.Contains(b, "condition") {
		t.Errorf("unsafe condition written: %s", b)
	}
}

package xmppstream

import (
	"errors"
	"strings"
	"testing"
)

// TestCheckWSOpen_C4 covers RFC 7395 <open/> answers as Prosody and
// ejabberd send them, and the wrong ones (C3).
func TestCheckWSOpen_C4(t *testing.T) {
	tests := []struct {
		name  string
		msg   string
		ok    bool
		cause error
		cond  string
		inMsg string
	}{
		{"prosody", `<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" xml:lang="en" version="1.0" id="0e2e2a4c" from="example.com"/>`, true, nil, "", ""},
		{"ejabberd single quotes", `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='1234' from='example.com' version='1.0' xml:lang='en'/>`, true, nil, "", ""},
		{"declaration and whitespace", "<?xml version='1.0'?>\n<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='EXAMPLE.com' version='1.0'></open>\n", true, nil, "", ""},
		{"wrong domain", `<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" version="1.0" from="other.example"/>`, false, ErrWrongDomain, "", `"other.example"`},
		{"no from", `<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" version="1.0"/>`, false, ErrWrongDomain, "", "without from"},
		{"no version", `<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" from="example.com"/>`, false, ErrVersion, "", "without version"},
		{"wrong namespace", `<open xmlns="jabber:client" version="1.0" from="example.com"/>`, false, ErrNotXMPP, "", "namespace"},
		{"old draft framing", `<stream:stream xmlns:stream="http://etherx.jabber.org/streams" xmlns="jabber:client" from="example.com" version="1.0"/>`, false, ErrNotXMPP, "", "pre-RFC 7395"},
		{"close with see-other-uri", `<close xmlns="urn:ietf:params:xml:ns:xmpp-framing" see-other-uri="wss://other.example/ws"/>`, false, ErrClosed, "", "wss://other.example/ws"},
		{"close", `<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>`, false, ErrClosed, "", "<close/>"},
		{"stream error", `<stream:error xmlns:stream="http://etherx.jabber.org/streams"><host-unknown xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error>`, false, nil, "host-unknown", "host-unknown"},
		{"html", "<!DOCTYPE html><html></html>", false, ErrNotXMPP, "", "HTML"},
		{"text", "hello", false, ErrNotXMPP, "", "not XML"},
		{"empty", "", false, ErrClosed, "", "empty"},
		{"two elements", `<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" version="1.0" from="example.com"/><x/>`, false, ErrNotXMPP, "", "more than one"},
		{"trailing text", `<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" version="1.0" from="example.com"/>x`, false, ErrNotXMPP, "", "text outside"},
		{"doctype H6", `<!DOCTYPE open [<!ENTITY x "y">]><open xmlns="urn:ietf:params:xml:ns:xmpp-framing" version="1.0" from="&x;"/>`, false, ErrRestrictedXML, "", "DOCTYPE"},
		{"unknown entity", `<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" version="1.0" from="&x;"/>`, false, nil, "", "ill-formed"},
		{"ill-formed", `<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" version="1.0" from="example.com">`, false, nil, "", "ill-formed"},
		{"too large", strings.Repeat(" ", MaxMessageBytes+1), false, ErrTooLarge, "", "bound"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := CheckWSOpen([]byte(tc.msg), "example.com")
			if tc.ok {
				if err != nil || !sameDomain(h.From, "example.com") {
					t.Fatalf("got %+v, %v", h, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", h)
			}
			var e *Error
			if !errors.As(err, &e) || e.Phase != PhaseWSOpen {
				t.Errorf("error %v is not a websocket-open *Error", err)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("error %v is not %v", err, tc.cause)
			}
			var se *StreamError
			if tc.cond != "" && (!errors.As(err, &se) || se.Condition != tc.cond) {
				t.Errorf("error %v: want <%s/>", err, tc.cond)
			}
			if !strings.Contains(err.Error(), tc.inMsg) {
				t.Errorf("message %q does not contain %q", err, tc.inMsg)
			}
		})
	}
}

func TestCheckWSFeatures(t *testing.T) {
	f := []byte(wsFeatures)
	got, err := CheckWSFeatures(f)
	if err != nil || string(got) != string(f) {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := CheckWSFeatures(WSStreamError("not-authorized", "")); err == nil {
		t.Error("stream error accepted as features")
	}
	if _, err := CheckWSFeatures(WSClose()); !errors.Is(err, ErrClosed) {
		t.Errorf("close: got %v", err)
	}
	if _, err := CheckWSFeatures([]byte(`<features/>`)); !errors.Is(err, ErrNotXMPP) {
		t.Errorf("unqualified features: got %v", err)
	}
}

func TestRoundTrip_WebSocket_C4(t *testing.T) {
	ch, err := CheckWSClientOpen(WSOpen(`example.com`))
	if err != nil || ch.To != "example.com" || ch.Version != "1.0" {
		t.Fatalf("client open: %+v, %v", ch, err)
	}
	h, err := CheckWSOpen(WSServerOpen("example.com", "s-1"), "example.com")
	if err != nil || h.ID != "s-1" || h.Lang != "en" {
		t.Fatalf("server open: %+v, %v", h, err)
	}
	_, err = CheckWSOpen(WSStreamError("see-other-host", "other.example"), "example.com")
	var se *StreamError
	if !errors.As(err, &se) || se.Condition != "see-other-host" || se.Text != "other.example" {
		t.Fatalf("stream error: %v", err)
	}
}

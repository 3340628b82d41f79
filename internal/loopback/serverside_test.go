package loopback

import (
	"bytes"
	"testing"

	"hacx.dev/hacx"
	"hacx.dev/hacx/xmppstream"
)

// TestServerSide_ReadBack_C4: what the endpoints write, xmppstream's
// readers accept, for both kinds: a stream header and features, and a
// BOSH session creation exchange.
func TestServerSide_ReadBack_C4(t *testing.T) {
	for _, kind := range []hacx.Kind{hacx.Client, hacx.Server} {
		var b bytes.Buffer
		xmppstream.WriteServerOpen(&b, "example.com", "id-1", kind)
		if err := xmppstream.WriteFeatures(&b, Features(kind)); err != nil {
			t.Fatal(err)
		}
		h, f, err := xmppstream.ReadOpen(&b, "example.com", kind)
		if err != nil || h.ID != "id-1" || !bytes.Contains(f, Features(kind)) {
			t.Errorf("%s: header %+v features %q, %v", kind, h, f, err)
		}
	}
	if f, err := xmppstream.CheckWSFeatures(WSFeatures(Features(hacx.Client))); err != nil || !bytes.Contains(f, Features(hacx.Client)) {
		t.Errorf("WebSocket features %q, %v", f, err)
	}

	req, err := ParseBOSHRequest(xmppstream.BOSHSessionRequest("example.com", 1<<53+7, hacx.Client))
	if err != nil {
		t.Fatal(err)
	}
	want := BOSHRequest{To: "example.com", Lang: "en", Ver: xmppstream.BOSHVersion, XMPPVersion: "1.0", Content: xmppstream.BOSHContentType, RID: 1<<53 + 7, Wait: xmppstream.BOSHWait, Hold: 1}
	if *req != want {
		t.Errorf("request = %+v\nwant %+v", *req, want)
	}
	in := xmppstream.BOSHSession{SID: "s'1", Header: xmppstream.Header{From: "example.com", ID: "a1", Lang: "en"}, Wait: 60, Hold: 1, Requests: 2, Ver: "1.6", Features: WSFeatures(Features(hacx.Client))}
	out, err := xmppstream.ParseBOSHSession(BOSHSessionBody(&in), "example.com")
	if err != nil {
		t.Fatalf("ParseBOSHSession(%s): %v", BOSHSessionBody(&in), err)
	}
	in.Header.Version = "1.0"
	if out.SID != in.SID || out.Header != in.Header || out.Wait != 60 || out.Hold != 1 || out.Requests != 2 || string(out.Features) != string(in.Features) {
		t.Errorf("round trip: %+v\nwant %+v", out, in)
	}
}

// TestParseBOSHRequest_Rejects: only a session creation request passes.
func TestParseBOSHRequest_Rejects(t *testing.T) {
	for _, b := range []string{
		`<body xmlns='http://jabber.org/protocol/httpbind' rid='x' to='example.com'/>`,
		`<body xmlns='http://jabber.org/protocol/httpbind' rid='1'/>`,
		`<body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='example.com' wait='-5'/>`,
		`<body rid='1' to='example.com'/>`,
		string(xmppstream.BOSHWrapTerminate("sid", 2)), // a request with sid
		"not XML",
	} {
		if r, err := ParseBOSHRequest([]byte(b)); err == nil {
			t.Errorf("ParseBOSHRequest(%s) = %+v", b, r)
		}
	}
}

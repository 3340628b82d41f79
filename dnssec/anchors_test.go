package dnssec_test

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"hacx.dev/hacx/dnssec"
)

// The root zone's key-signing keys as IANA publishes them
// (root-anchors.xml gives the same public keys): the built-in DS records
// must be exactly their SHA-256 digests.
var rootKeys = []string{
	". 172800 IN DNSKEY 257 3 8 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU=",
	". 172800 IN DNSKEY 257 3 8 AwEAAa96jeuknZlaeSrvyAJj6ZHv28hhOKkx3rLGXVaC6rXTsDc449/cidltpkyGwCJNnOAlFNKF2jBosZBU5eeHspaQWOmOElZsjICMQMC3aeHbGiShvZsx4wMYSjH8e7Vrhbu6irwCzVBApESjbUdpWWmEnhathWu1jo+siFUiRAAxm9qyJNg/wOZqqzL/dL/q8PkcRU5oUKEpUge71M3ej2/7CPqpdVwuMoTvoB+ZOT4YeGyxMvHmbrxlFzGOHOijtzN+u1TQNatX2XBuzZNQ1K+s2CXkPIZo7s6JgZyvaBevYtxPvYLw4z9mR7K2vaF18UYH9Z9GNUUeayffKC73PYc=",
}

func TestRootAnchors_MatchRootKeys(t *testing.T) {
	anchors := dnssec.RootAnchors()
	if len(anchors) != len(rootKeys) {
		t.Fatalf("%d anchors", len(anchors))
	}
	for i, s := range rootKeys {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		k := rr.(*dns.DNSKEY)
		ds := anchors[i].(*dns.DS)
		want := k.ToDS(dns.SHA256)
		if ds.KeyTag != want.KeyTag || ds.Algorithm != 8 || ds.DigestType != 2 || !strings.EqualFold(ds.Digest, want.Digest) || ds.Hdr.Name != "." {
			t.Errorf("anchor %s, want %s", ds, want)
		}
	}
	if tags := []uint16{anchors[0].(*dns.DS).KeyTag, anchors[1].(*dns.DS).KeyTag}; tags[0] != 20326 || tags[1] != 38696 {
		t.Errorf("key tags %v, want KSK-2017 20326 and KSK-2024 38696", tags)
	}
}

func TestParseAnchors(t *testing.T) {
	good := `; the test root
test. DS 30922 13 2 DF9C5E33F9529CAD8C3D58ED079A7034A99ACB99376614812B0EFAB012050999
$TTL 3600
. IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D
example.test. 300 IN DNSKEY 257 3 13 Yr/u8ZDHD5F9pHxvNL4JKLUhXGq9KBKhW5ikbIyvovJ8JWOZ6P1U+5r72TUtkjCrBKaojQ2ukCDd2XUjt4bXSw==
`
	rrs, err := dnssec.ParseAnchors(strings.NewReader(good), "anchors.txt")
	if err != nil || len(rrs) != 3 {
		t.Fatalf("%v %v", rrs, err)
	}
	if rrs[2].Header().Name != "example.test." || rrs[2].Header().Rrtype != dns.TypeDNSKEY {
		t.Errorf("last anchor %v", rrs[2])
	}
	for _, bad := range []string{
		"",                                   // nothing anchored
		"example. IN A 192.0.2.1",            // not an anchor
		"example. IN DNSKEY 256 4 13 AAAA",   // protocol 4
		"example. IN DNSKEY 0 3 13 AAAA",     // not a zone key
		"example. IN DS 1 13 2",              // no digest
		"$INCLUDE /etc/passwd",               // nothing from elsewhere
		"example. CH DS 1 13 2 AAAAAAAAAAAA", // not IN
		"example. IN DS nonsense",
	} {
		if _, err := dnssec.ParseAnchors(strings.NewReader(bad), "bad.txt"); err == nil || !strings.Contains(err.Error(), "bad.txt") {
			t.Errorf("%q: err %v, want an error naming the file", bad, err)
		}
	}
}

func FuzzParseAnchors(f *testing.F) {
	f.Add(". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D")
	f.Add("example. 300 IN DNSKEY 257 3 13 AAAA\n$ORIGIN a.\n@ DS 1 13 2 ABCD")
	f.Add("(")
	f.Fuzz(func(t *testing.T, s string) {
		rrs, err := dnssec.ParseAnchors(strings.NewReader(s), "f")
		if err != nil {
			return
		}
		if len(rrs) == 0 {
			t.Fatal("no anchors and no error")
		}
		for _, rr := range rrs {
			switch a := rr.(type) {
			case *dns.DS:
			case *dns.DNSKEY:
				if a.Flags&dns.ZONE == 0 {
					t.Fatalf("non-zone key accepted: %v", a)
				}
			default:
				t.Fatalf("%T accepted", rr)
			}
		}
	})
}

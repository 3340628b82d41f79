package ech

import (
	"crypto/hpke"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/cryptobyte"
)

// Version is the ECHConfig version this package reads and writes
// (draft-ietf-tls-esni-18 and later).
const Version = 0xfe0d

// HPKE identifiers (RFC 9180 section 7) of the suite GenerateKey uses.
const (
	KEMX25519HKDFSHA256 = 0x0020 // DHKEM(X25519, HKDF-SHA256)
	KDFHKDFSHA256       = 0x0001 // HKDF-SHA256
	AEADAES128GCM       = 0x0001 // AES-128-GCM
)

// Suite is an HPKE symmetric cipher suite: a KDF and an AEAD.
type Suite struct {
	KDF, AEAD uint16
}

// Config is one parsed ECHConfig.
type Config struct {
	ConfigID      uint8
	KEM           uint16
	PublicKey     []byte
	Suites        []Suite
	MaxNameLength uint8
	// PublicName is the name the outer ClientHello carries in its SNI:
	// the only name an observer sees.
	PublicName string
	// Extensions are the raw ECHConfigExtension bytes, usually empty.
	Extensions []byte
	// Raw is the whole ECHConfig, version and length included, as
	// crypto/tls wants it for a server key.
	Raw []byte
}

// ErrEmpty is returned for an ECHConfigList with no configuration of a
// version this package knows.
var ErrEmpty = errors.New("ech: no ECHConfig of version 0xfe0d in the list")

// ParseConfigList reads an ECHConfigList. Configurations of other
// versions are skipped, as the ECH specification asks of clients; a list
// with none of ours is ErrEmpty. The public name must be a DNS host name
// (not an IP literal), as the specification requires of clients too.
func ParseConfigList(b []byte) ([]Config, error) {
	s := cryptobyte.String(b)
	var list cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&list) || !s.Empty() {
		return nil, errors.New("ech: malformed ECHConfigList: bad length")
	}
	if list.Empty() {
		return nil, errors.New("ech: malformed ECHConfigList: empty")
	}
	var out []Config
	for !list.Empty() {
		start := list
		var version uint16
		var body cryptobyte.String
		if !list.ReadUint16(&version) || !list.ReadUint16LengthPrefixed(&body) {
			return nil, errors.New("ech: malformed ECHConfig: bad length")
		}
		if version != Version {
			continue
		}
		c, err := parseContents(body)
		if err != nil {
			return nil, err
		}
		c.Raw = append([]byte(nil), start[:4+len(body)]...)
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, ErrEmpty
	}
	return out, nil
}

func parseContents(s cryptobyte.String) (Config, error) {
	var c Config
	var pk, suites, name, ext cryptobyte.String
	if !s.ReadUint8(&c.ConfigID) || !s.ReadUint16(&c.KEM) ||
		!s.ReadUint16LengthPrefixed(&pk) || pk.Empty() ||
		!s.ReadUint16LengthPrefixed(&suites) {
		return c, errors.New("ech: malformed ECHConfig: key config")
	}
	if suites.Empty() || len(suites)%4 != 0 {
		return c, errors.New("ech: malformed ECHConfig: cipher suites")
	}
	for !suites.Empty() {
		var st Suite
		suites.ReadUint16(&st.KDF)
		suites.ReadUint16(&st.AEAD)
		c.Suites = append(c.Suites, st)
	}
	if !s.ReadUint8(&c.MaxNameLength) || !s.ReadUint8LengthPrefixed(&name) || name.Empty() {
		return c, errors.New("ech: malformed ECHConfig: public name")
	}
	if !s.ReadUint16LengthPrefixed(&ext) || !s.Empty() {
		return c, errors.New("ech: malformed ECHConfig: extensions")
	}
	c.PublicKey = append([]byte(nil), pk...)
	c.PublicName = string(name)
	c.Extensions = append([]byte(nil), ext...)
	if err := CheckPublicName(c.PublicName); err != nil {
		return c, err
	}
	return c, nil
}

// CheckPublicName reports whether name can be an ECH public name: a DNS
// host name of letter-digit-hyphen labels, not an IP literal and not
// ending in a numeric label (the ECH specification's rule, which keeps
// IPv4 literals out).
func CheckPublicName(name string) error {
	if name == "" || len(name) > 253 {
		return fmt.Errorf("ech: public name %q: not a DNS name", name)
	}
	labels := strings.Split(strings.TrimSuffix(name, "."), ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("ech: public name %q: not a DNS name", name)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("ech: public name %q: not a DNS name", name)
			}
		}
	}
	last := labels[len(labels)-1]
	if strings.Trim(last, "0123456789") == "" || strings.HasPrefix(strings.ToLower(last), "0x") {
		return fmt.Errorf("ech: public name %q: ends in a numeric label (an IP literal)", name)
	}
	return nil
}

// DecodeList decodes the base64 text of an ech attribute (standard
// alphabet, padded, as the document's other base64 values) and parses it.
func DecodeList(text string) ([]byte, []Config, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(text)
	if err != nil {
		return nil, nil, fmt.Errorf("ech: not base64: %w", err)
	}
	cs, err := ParseConfigList(b)
	if err != nil {
		return nil, nil, err
	}
	return b, cs, nil
}

// MarshalList joins ECHConfigs (each Config.Raw) into an ECHConfigList.
func MarshalList(configs ...[]byte) []byte {
	var b cryptobyte.Builder
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, c := range configs {
			b.AddBytes(c)
		}
	})
	return b.BytesOrPanic()
}

// Select returns the configuration of list a client uses, the one Go's
// crypto/tls picks: the first whose KEM, public key and some cipher suite
// it supports and that has no mandatory extension it does not know. Its
// PublicName is the SNI of the outer ClientHello.
func Select(list []Config) (Config, error) {
	for _, c := range list {
		if mandatoryExtension(c.Extensions) {
			continue
		}
		kem, err := hpke.NewKEM(c.KEM)
		if err != nil {
			continue
		}
		if _, err := kem.NewPublicKey(c.PublicKey); err != nil {
			continue
		}
		for _, s := range c.Suites {
			_, kerr := hpke.NewKDF(s.KDF)
			_, aerr := hpke.NewAEAD(s.AEAD)
			if kerr == nil && aerr == nil {
				return c, nil
			}
		}
	}
	return Config{}, errors.New("ech: no configuration in the list has a key and cipher suite this client supports")
}

// mandatoryExtension reports whether exts holds an extension whose type
// has the high bit set: one a client must understand, and this package
// understands none. Unparseable extensions count as mandatory.
func mandatoryExtension(exts []byte) bool {
	s := cryptobyte.String(exts)
	for !s.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !s.ReadUint16(&typ) || !s.ReadUint16LengthPrefixed(&data) {
			return true
		}
		if typ&0x8000 != 0 {
			return true
		}
	}
	return false
}

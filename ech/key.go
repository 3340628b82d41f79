package ech

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"hacx.dev/hacx/internal/atomicfile"
)

// Key is an ECH configuration with its private key.
type Key struct {
	Config     Config
	PrivateKey *ecdh.PrivateKey
	// Created orders keys for rotation: the newest is published and sent
	// as retry configuration. Zero when the file did not say.
	Created time.Time
}

// GenerateKey makes a new X25519 key and its ECHConfig for publicName,
// with HKDF-SHA256 and AES-128-GCM and a random config_id.
func GenerateKey(publicName string) (*Key, error) {
	if err := CheckPublicName(publicName); err != nil {
		return nil, err
	}
	if len(publicName) > 255 {
		return nil, fmt.Errorf("ech: public name %q: too long", publicName)
	}
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	var id [1]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddUint16(Version)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint8(id[0])
		b.AddUint16(KEMX25519HKDFSHA256)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(priv.PublicKey().Bytes()) })
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			b.AddUint16(KDFHKDFSHA256)
			b.AddUint16(AEADAES128GCM)
		})
		// maximum_name_length 0: the client pads to its own rule.
		b.AddUint8(0)
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(publicName)) })
		b.AddUint16(0) // no extensions
	})
	raw, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	cs, err := ParseConfigList(MarshalList(raw))
	if err != nil {
		return nil, err
	}
	return &Key{Config: cs[0], PrivateKey: priv, Created: time.Now().UTC().Truncate(time.Second)}, nil
}

// ConfigList is the one-entry ECHConfigList of k: what a record publishes.
func (k *Key) ConfigList() []byte { return MarshalList(k.Config.Raw) }

// MarshalPEM writes k as a key file: PKCS #8 private key, then the
// ECHConfigList with a Created header.
func (k *Key) MarshalPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.PrivateKey)
	if err != nil {
		return nil, err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	blk := &pem.Block{Type: "ECHCONFIG", Bytes: k.ConfigList()}
	if !k.Created.IsZero() {
		blk.Headers = map[string]string{"Created": k.Created.Format(time.RFC3339)}
	}
	return append(out, pem.EncodeToMemory(blk)...), nil
}

// WriteFile writes k to path atomically with mode 0600: the private key
// is a secret.
func (k *Key) WriteFile(path string) error {
	b, err := k.MarshalPEM()
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o600)
}

// ParseKey reads a key file: one PRIVATE KEY (X25519, PKCS #8) and one
// ECHCONFIG block whose single configuration carries that key's public
// half.
func ParseKey(data []byte) (*Key, error) {
	var k Key
	var list []byte
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "PRIVATE KEY":
			pk, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("ech: key file: %w", err)
			}
			ek, ok := pk.(*ecdh.PrivateKey)
			if !ok || ek.Curve() != ecdh.X25519() {
				return nil, errors.New("ech: key file: the private key is not X25519")
			}
			k.PrivateKey = ek
		case "ECHCONFIG":
			list = blk.Bytes
			if c := blk.Headers["Created"]; c != "" {
				t, err := time.Parse(time.RFC3339, c)
				if err != nil {
					return nil, fmt.Errorf("ech: key file: Created: %w", err)
				}
				k.Created = t
			}
		}
	}
	if k.PrivateKey == nil || list == nil {
		return nil, errors.New("ech: key file: needs a PRIVATE KEY and an ECHCONFIG block")
	}
	cs, err := ParseConfigList(list)
	if err != nil {
		return nil, fmt.Errorf("ech: key file: %w", err)
	}
	if len(cs) != 1 {
		return nil, fmt.Errorf("ech: key file: %d configurations, want 1", len(cs))
	}
	k.Config = cs[0]
	if k.Config.KEM != KEMX25519HKDFSHA256 || string(k.Config.PublicKey) != string(k.PrivateKey.PublicKey().Bytes()) {
		return nil, errors.New("ech: key file: the configuration does not carry the private key's public key")
	}
	return &k, nil
}

// ReadKeyFile reads and parses a key file.
func ReadKeyFile(path string) (*Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// Keys are the keys a server accepts, several during a rotation.
type Keys []*Key

// Newest is the key to publish: the latest Created, the last given on a
// tie; nil when there are none.
func (ks Keys) Newest() *Key {
	var n *Key
	for _, k := range ks {
		if n == nil || !k.Created.Before(n.Created) {
			n = k
		}
	}
	return n
}

// TLS is ks for tls.Config.EncryptedClientHelloKeys: every key is
// accepted, and only the newest is sent as retry configuration, so a
// client with a stale configuration learns the one that is published (E4).
func (ks Keys) TLS() []tls.EncryptedClientHelloKey {
	n := ks.Newest()
	out := make([]tls.EncryptedClientHelloKey, 0, len(ks))
	for _, k := range ks {
		out = append(out, tls.EncryptedClientHelloKey{
			Config: k.Config.Raw, PrivateKey: k.PrivateKey.Bytes(), SendAsRetry: k == n,
		})
	}
	return out
}

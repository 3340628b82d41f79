// Package ech holds Encrypted Client Hello configurations and keys (rule
// E4): the ECHConfigList a HACX record or a Host Meta 2 link publishes in
// its ech attribute, and the key files a server decrypts the inner
// ClientHello with.
//
// An ECHConfigList is the wire structure of the TLS ECH specification
// (draft-ietf-tls-esni, version 0xfe0d), whose key is an HPKE key
// (RFC 9180). GenerateKey makes X25519 keys with HKDF-SHA256 and
// AES-128-GCM, the suite every ECH implementation supports; ParseConfigList
// reads any version-0xfe0d configuration and skips other versions, as a
// client must.
//
// A key file is PEM: the X25519 private key as PKCS #8 ("PRIVATE KEY") and
// the configuration as a one-entry ECHConfigList ("ECHCONFIG"), the layout
// OpenSSL and other servers read. Several files may be loaded at once so
// that keys can rotate: Keys.TLS hands all of them to crypto/tls, so a
// client holding any published configuration is accepted, and only the
// newest is sent back as retry configuration and printed for publishing.
//
// Rule IDs in comments (E4) are defined in the project's protocol rules
// (docs/RULES.md).
package ech

// Package trust decides whether a TLS peer is the one a HACX client meant to
// reach, and remembers what HTTPS servers said about themselves.
//
// It holds pure certificate-trust logic and two small persistent stores:
//
//   - [VerifyWebPKI]: RFC 5280 chain building plus RFC 6125 name check
//     against any of the acceptable names (rule A10: the XMPP domain, and for
//     websocket/bosh also the URL host).
//   - [VerifyPins]: the <public-key-pin> check of rule A9. A pin on the leaf
//     key replaces CA validation (self-signed certificates are fine); a pin on
//     a CA key counts only when the presented chain is cryptographically
//     verified from the leaf up to that key and the leaf carries an
//     acceptable name. md2/md5/sha-1 and unknown hashes are ignored, and a
//     set with no usable pin fails closed.
//   - [VerifyDANE]: TLSA matching for RFC 6698/7671 usages 0-3 (rule X4).
//     The caller must only pass records from a DNSSEC-validated answer.
//   - [ParseHSTS] and [HSTSStore]: Strict-Transport-Security (RFC 6797,
//     rule X5), strictly parsed, remembered per host, persisted.
//   - [ParseHPKP] and [HPKPStore]: Public-Key-Pins (RFC 7469, rule X6),
//     stored only from validated responses carrying a backup pin, enforced
//     on later connections.
//
// The stores look like golang.org/x/crypto/acme/autocert's DirCache: the
// zero value works in memory, and setting Path persists state to a JSON file
// written atomically (temporary file + rename, mode 0600) and merged under
// an flock(2) lock file (Path + ".lock"), so several processes sharing the
// file lose no observation.
//
// Errors are prefixed "trust:" and carry structure ([*PinError],
// [*NameError], [*DANEError], [*HPKPError], [*HPKPRefusedError],
// [*HeaderError], [*StoreError]) for errors.As, with one readable line from
// Error.
//
// Failure policy of the stores: an unreadable or corrupt file is never
// overwritten (it may hold pins still protecting hosts). HSTSStore.Known
// then reports false (HACX fetches are HTTPS-only anyway, rule H1), while
// HPKPStore.Check returns the *StoreError so that pins fail closed.
//
// Rule IDs (A9, A10, X4, X5, X6) refer to the project's protocol rules
// (docs/RULES.md).
package trust

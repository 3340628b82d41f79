// Package testbed is the world hacx's own tests, benchmarks and "hacx
// demo" run in: real Debian programs started on loopback ports of their
// own (Prosody, ejabberd, unbound, pebble), a DNS server, signed zones,
// and the Bed, one call that builds a whole small Internet with good and
// hostile endpoints (package loopback) and a publisher (hacxtest).
//
// # Real DNSSEC validation
//
// StartUnbound runs Debian's unbound as a validating resolver on a loopback
// port, configured from scratch in a temporary directory: "test." is
// served (local-zone nodefault) by a stub to a DNSServer on loopback, every
// other name is forwarded there too, root hints are never used, and the
// only trust anchors are the ones given. NewSignedZone makes a zone signed
// at run time (one ECDSA P-256 key, DNSKEY.Generate and RRSIG.Sign) inside
// a DNSServer, which then returns RRSIGs to queries with the DO bit; its
// TrustAnchor is the DS to give unbound. SignedZone.Sign and Resign make
// bogus data on purpose: a record altered after signing, or a zone whose
// key no longer matches its anchor. The zone has no NSEC chain, so tests
// ask only for names that exist. With a certificate (UnboundConfig.TLS)
// unbound also listens for DNS over TLS and DNS over HTTPS.
//
// For hacx's own validator (D1) there is a whole signed tree: NewZone
// makes a zone, Delegate links it to its parent (with or without DS) and
// Signed signs it with its NSEC or NSEC3 chain (opt-out, iterations), as
// plain records a test may break (drop a signature, alter a record,
// re-sign an RRset over an expired period). StartNSD serves such zones
// with Debian's nsd, a real authoritative server answering for the whole
// tree on one loopback port; Authority answers the same way inside the
// test process (an Exchanger for package dnssec, or on a port with Serve).
//
// Integration tests skip when a program is missing, unless the CI
// environment variable is set (testenv.Require).
//
// Rule IDs in comments are defined in docs/RULES.md.
package testbed

// Package hacxtest is an offline test bed for HACX: a certificate authority
// made at run time, and (as it grows) a DNS server, a HACX publisher and
// good and hostile XMPP endpoints, all bound to loopback addresses only.
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
// ask only for names that exist. Integration tests skip when unbound is
// missing, unless the CI environment variable is set.
//
// Tests of every package, the benchmarks and "hacx demo" use it, so each
// layer is exercised against the same realistic world.
//
// Rule IDs in comments and test names are defined in docs/RULES.md.
package hacxtest

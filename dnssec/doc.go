// Package dnssec answers the DNS questions hacx relies on (SRV, TLSA,
// A/AAAA) and proves them from trust anchors in the process itself (rule
// D1), over plain DNS, DNS over TLS or DNS over HTTPS, optionally through
// a SOCKS proxy (T1), with a cache that lets a warm lookup make no query
// at all.
//
// A [Validator] implements the security-aware resolver of RFC 4033-4035,
// RFC 5155 and RFC 6840: every query carries the DO and CD bits, so that
// the upstream server returns the signatures and never hides data it
// judged bogus itself; each answer's RRset is verified against the keys
// of the zone that signed it, and those keys against the DS records of
// the parent zone, up to a trust anchor (the IANA root keys of
// [RootAnchors], or anchors of the caller's own). Denials ("no TLSA
// here", NXDOMAIN, an unsigned delegation) are proven with NSEC or NSEC3
// records. Each [Answer] says how far that went:
//
//   - [Secure]: the chain of signatures from an anchor holds;
//   - [Insecure]: a signed denial proves that a zone on the way is not
//     signed (or signed only with algorithms treated as insecure: SHA-1
//     based ones, NSEC3 with too many iterations); the data is usable but
//     proves nothing, so WebPKI decides;
//   - [Bogus]: a signature that does not verify or has expired, a key
//     that matches no DS, a missing signature or proof in a signed zone:
//     hacx fails closed (X4: a bogus TLSA answer refuses the route);
//   - [Indeterminate]: nothing could be proven either way because the
//     upstream server returns no DNSSEC records for the trust anchor's
//     own zone (a resolver or middlebox that strips them), or no anchor
//     covers the name. Decision: this is treated as insecure, since an
//     attacker able to strip those records could as well drop the
//     queries, which leaves WebPKI in charge too.
//
// The work per answer is bounded (signature verifications, key-tag
// collisions, NSEC3 iterations per RFC 9276, queries, CNAME hops), so a
// hostile zone cannot make validation expensive (the KeyTrap class of
// attacks, CVE-2023-50387).
//
// A [Client] carries queries to one [Server]: plain DNS (UDP, then TCP
// when truncated), DNS over TCP, DNS over TLS (RFC 7858) or DNS over
// HTTPS (RFC 8484, POST or GET), reusing its connections. With
// StreamOnly (a SOCKS proxy carries TCP only) it never sends UDP. A
// [Cache] in front of it keeps raw answers for their TTL in memory and,
// through a [Store] such as discover.DirCache, on disk; cached answers
// are validated again when used, so the store itself is not trusted.
//
// Rule IDs in comments refer to the project's rules (docs/RULES.md).
package dnssec

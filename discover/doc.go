// Package discover finds every way into an XMPP service and hands them,
// ordered and with provenance, to the dial package.
//
// [Resolver.Lookup] fetches the domain's HACX document over verified HTTPS
// (rules H1-H6: https only, at most 10 redirects each verified against its
// own host, 404 as a definite "nothing published", a 64 KiB cap, a timeout
// on the whole fetch), checks the bootstrap connection against HSTS, HPKP and
// DANE state (H2, X4-X6), caches the document for its ttl and keeps using a
// stale copy, visibly, when a refetch fails (H5). When the domain publishes
// no HACX document, or it cannot be fetched and nothing is cached, the
// Resolver falls back to XEP-0368/RFC 6120 SRV records (X1), XEP-0156
// host-meta (X2) and Host Meta 2 host-meta.json (X3; its presence skips the
// SRV lookups). When none of them publishes anything (no document, no
// host-meta, no SRV record of either kind), the domain itself is the route,
// as RFC 6120 section 3.2.2 has clients do (F1): its addresses on 5222 with
// STARTTLS and 5223 with direct TLS (5269 between servers), source
// [hacx.SourceFallback]; an SRV target "." turns that off for its service,
// and behind a socks5h proxy the routes go by name for the proxy to
// resolve (T1). Every source converts into [hacx.Route]; [Order] puts the
// merged routes in one RFC 2782 order (C2).
//
// DNS goes through package dnssec: to the system's resolver or the
// Resolver's DNSServer, over plain DNS, DNS over TLS or DNS over HTTPS, and
// through the Proxy when there is one (T1: never as UDP, never outside the
// proxy). With DNSSECValidate (the zero value) every SRV, TLSA and A/AAAA
// answer is validated in this process from the TrustAnchors (D1): a bogus
// SRV or address answer is ignored, with the reason in its source's report
// (SourceResult.DNSSEC says how each answer was validated). Answers are
// cached within their TTLs, in memory and in the Cache, so that a lookup
// answered from the cache makes no DNS query.
//
// [Resolver.LookupTLSA] answers DANE TLSA queries (X4) and says whether the
// answer is DNSSEC-secure: validated here (D1) or, with DNSSECResolver,
// carrying the AD bit of a resolver this process trusts, one on loopback or
// one explicitly configured. A bogus answer (a signature that does not
// verify, a key that does not match its trust anchor; for a trusted
// resolver, its SERVFAIL) aborts the bootstrap TLS connection instead of
// leaving it to WebPKI (RFC 6698 section 4.1). The integration tests check
// every outcome with zones signed at test time and served by Debian's nsd,
// DNS over TLS and HTTPS through Debian's unbound, and the AD-bit mode
// through unbound validating (testbed.StartNSD, testbed.StartUnbound).
//
// The document cache is the [Cache] interface, shaped like
// golang.org/x/crypto/acme/autocert's: [DirCache] persists across restarts
// and processes, [MemCache] lives in memory.
//
// Rule IDs in comments and test names refer to the project's protocol rules
// (docs/RULES.md).
package discover

// Package audit looks at a domain's publication the way a careful operator
// would, beyond "does a route work": it is "hacx check --audit" and the
// audit module of "hacx exporter".
//
// An Auditor gathers Facts: a lookup that consults every source (HACX,
// Host Meta 2, XEP-0156 host-meta and SRV, even when the HACX document has
// routes, and SRV even when Host Meta 2 says to skip it), an attempt on
// every route they give, the headers of the well-known document fetched
// with a foreign Origin, and for WebSocket and BOSH routes what a web
// client on another site would get. Findings turns Facts into findings,
// each citing the rule it concerns and saying how to fix it:
//
//   - the sources disagree: an endpoint in one source but not another that
//     can express it, different ports, a different priority order (P6);
//   - a certificate expires within 14 days or has expired (P7), or does not
//     name the domain or the SNI its route sends (A10);
//   - pins that match no key of the served chain (A9), or no backup pin (P2);
//   - no Strict-Transport-Security on the HTTPS host (X5), no CORS header on
//     the document (P3);
//   - no IPv6 (or no IPv4) route (A1); a ttl outside [5 min, 1 week] (H5);
//   - ALPN offered but not negotiated (A6);
//   - a BOSH endpoint without CORS, a WebSocket endpoint that refuses other
//     origins (P8).
//
// Findings never change what a client does: they are advice, and the
// reports keep them apart from the result of the check.
//
// Rule IDs refer to the project's rules (docs/RULES.md).
package audit

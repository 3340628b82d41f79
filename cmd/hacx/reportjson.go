package main

// The ROUTE and SOURCE objects of the --json reports are hacx.RouteReport
// and discover.SourceReport, defined once so that lookup, check and demo
// cannot drift apart; these texts document them in each command's help.

// jsonRouteHelp documents a ROUTE object (lookup, check).
const jsonRouteHelp = `A ROUTE object (the same in lookup and check):

    {"source": "hacx|host-meta2|host-meta|srv", "index": 1,
     "method": "tls|websocket|bosh|starttls", "ip": "192.0.2.1", "port": 443,
     "host": "DNS name the address came from", "sni": "xmpp.example.org",
     "alpn": "xmpp-client", "url": "wss://... or https://...",
     "pins": ["sha-256=BASE64"], "priority": 10, "weight": 5,
     "ech": "BASE64 ECHConfigList"}

"index" is the record's 1-based position in its source. "sni" is absent
when the route sends no SNI (A5), "alpn" when it sends no ALPN (A6; an ID
that is not printable is written "base64:..."). "pins" has one string per
acceptable key (A9), its digests "hash=base64" separated by spaces; [] when
the route is not pinned. "ech" is the ECHConfigList the route is dialed
with (E4), absent when none. Numbers are always present, strings are absent
when empty.`

// jsonSourceHelp documents a SOURCE object (lookup, check, demo).
const jsonSourceHelp = `A SOURCE object (the same in lookup, check and demo):

    {"source": "hacx", "query": "URL, or DNS name and type",
     "status": "found|none|error|skipped", "routes": 2,
     "cached": false, "stale": false, "fetched_at": "RFC 3339 time",
     "redirects": ["https://..."], "final_url": "https://...",
     "hsts": "...", "hpkp": "...", "dane": "...",
     "dnssec": "NAME TYPE: how it was validated; ...",
     "note": "why skipped, or what was partial", "error": "why it failed"}

"routes" counts the routes the source gave. "error" is set when status is
error, or when a stale copy was used because the refetch failed.
"fetched_at" is when the answer was fetched from the network; "redirects"
and "final_url" say where HTTPS redirected (H3); "hsts", "hpkp" and "dane"
describe the bootstrap connection (X5, X6, X4): "dane" is "verified",
"no-tlsa" (a secure denial), "unsigned", "not validated", "bogus: ..."
(the connection was refused), "lookup failed: ..." or "skipped ...".
"dnssec" says how each DNS answer the source relied on (SRV, TLSA,
A/AAAA) was validated (D1), "NAME TYPE: how" joined by "; ", how being
"secure", "insecure (why)", "bogus (why)" (the answer was not used),
"indeterminate (why)" (nothing could be proven: treated as insecure),
"secure (AD bit from SERVER)" or "insecure (no AD bit from SERVER)" with
--dnssec resolver, or "not validated (DNSSEC off)". "cached" is true for
a DNS source whose answers all came from the cache. Numbers and booleans
are always present; strings are absent when empty, and so are
"fetched_at" when unknown and "redirects" when there were none.`

// jsonRouteSourceHelp is both, for the commands that report both.
const jsonRouteSourceHelp = jsonRouteHelp + "\n\n" + jsonSourceHelp

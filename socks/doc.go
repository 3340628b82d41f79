// Package socks connects through a SOCKS5 proxy (RFC 1928, with RFC 1929
// user name and password), the way a HACX client reaches XMPP services over
// Tor (rule T1).
//
// A [Proxy] is built from a URL: socks5h://host:port has the proxy resolve
// host names, so the client itself makes no DNS query at all (the Tor
// default: a local query would leak which service is being reached);
// socks5://host:port resolves names locally and hands the proxy an IP
// address. Credentials in the URL are sent to the proxy, which Tor uses to
// isolate streams from each other; they never appear in [Proxy.String] or
// in errors.
//
// The discover.Resolver and dial.Dialer take a *Proxy in their Proxy field:
// every TCP connection they open (the HACX fetch, each route) then goes
// through it, and a proxy that fails is an error, never a reason to
// connect directly. DNS goes through it too: SOCKS5 carries no DNS
// queries, so the Resolver sends its own (SRV, TLSA, A/AAAA) as DNS over
// TCP, TLS or HTTPS through the proxy to the server named
// (Resolver.DNSServer, hacx --resolver, whose default behind a proxy is
// a DNS over HTTPS server), never as UDP from this machine. With socks5h
// and no server named it makes none; with socks5 and none named, a
// library caller's system resolver is asked directly, and the lookup
// result says so for each source that did.
//
//	p, err := socks.Parse("socks5h://127.0.0.1:9050")
//	r := &discover.Resolver{Proxy: p}
//	d := &dial.Dialer{Proxy: p, Routes: r}
//
// Rule IDs in comments and test names are defined in docs/RULES.md.
package socks

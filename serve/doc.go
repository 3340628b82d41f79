// Package serve publishes HACX documents and the host-meta files derived
// from them, for XMPP operators (rules P1-P5 of docs/RULES.md).
//
// One TOML configuration (LoadConfig; see examples/hacx.toml) describes, per
// domain, the client-to-server and server-to-server records, their ttl,
// optional redirects, HSTS and HPKP policies, CORS, and variants chosen by
// client address. From it Handler serves:
//
//	/.well-known/xmpp-client.xml   HACX, application/xml          (H1, P1, P3)
//	/.well-known/xmpp-server.xml   HACX, application/xml
//	/.well-known/host-meta         XEP-0156 XRD                  (X2, P5)
//	/.well-known/host-meta.json    XEP-0156 + Host Meta 2        (X3, P5)
//
// with Cache-Control max-age=ttl, a strong ETag and If-None-Match, HSTS,
// Public-Key-Pins when configured (refused without a backup pin, P2), and
// Access-Control-Allow-Origin: * on these files only. Every response is
// rendered when the configuration loads; requests do not allocate.
//
// Handler is a plain http.Handler, to mount in any Go server. Server adds
// what a standalone publisher needs: certificates from files (reloaded on
// change) or ACME, a redirect-only HTTP listener, a private metrics
// listener, reload on file change or request that keeps the old
// configuration when the new one is broken, and graceful shutdown. Like
// http.Server it listens itself (Run, on its Addr fields) or serves on
// listeners it is given (Serve, and its Listener fields).
//
// Server is also the XMPP front door on port 443 (rules G1-G4): for a
// domain with an Upstream, each TLS connection is routed after its
// handshake by ALPN, xmpp-client and xmpp-server to the XMPP server's c2s
// and s2s listeners (plain, or tls:// verified), h2 and http/1.1 to
// Handler, and the WebSocket and BOSH paths to the server's HTTP listener;
// without ALPN a first byte '<' means c2s. An optional XMPPS listener takes
// direct TLS that is always c2s. An unreachable upstream gets the client a
// remote-connection-failed stream error in the framing it speaks. A PROXY
// protocol v2 header or X-Forwarded-For tells the server the client's
// address. A domain with an upstream and no records publishes records
// derived from the listeners and Gateway.PublicIPs. Limits and timeouts
// (Gateway) guard the door; shutdown drains open streams until
// ShutdownTimeout; each connection is reported once to the Logger and
// through Metrics.Connection.
//
// Both report what they count through Metrics, a small interface: package
// serve links no metrics library, and a nil Metrics counts nothing. hacx
// serve --metrics implements it with Prometheus.
//
// Render and WriteFile produce the same files for operators who publish
// through another web server, and Nginx the nginx location blocks that
// answer them with Handler's headers. Pins in a configuration, by digest
// or PEM file, are read and computed by package hacx (ParsePin,
// PinsFromPEM), as "hacx pin" prints them.
//
// Config.CheckChain refuses an HPKP policy that has no pin of the chain
// actually served (clients would ignore it, RFC 7469 section 2.5) or no
// backup pin (RFC 7469 section 4.3), P2; Server applies it to every
// configuration and certificate file it loads. With ACME, Server refuses
// any HPKP policy (Config.CheckACME): renewals make new keys, and clients
// holding the old pins would be locked out.
package serve

package serve

import (
	"net/netip"
	"time"

	"hacx.dev/hacx"
)

// Config is a validated publishing configuration: what Handler serves. It is
// usually loaded from TOML with LoadConfig, but Go programs may build one
// directly; Handler.Load checks it again either way.
type Config struct {
	// Domains are the XMPP domains served, matched against the request's
	// Host header without port, case-insensitively.
	Domains []Domain

	// TrustedProxies are the peers whose ClientIPHeader is believed when
	// choosing a variant (P4). Empty (the default): the header is ignored
	// and the TCP peer address decides.
	TrustedProxies []netip.Prefix
	// ClientIPHeader names the header a trusted proxy sets; empty means
	// X-Forwarded-For.
	ClientIPHeader string

	// Gateway holds the gateway's public addresses, limits and timeouts
	// (G1-G4), used by a Server for domains with an Upstream.
	Gateway Gateway

	// ECHKeyFiles are Encrypted Client Hello key files a Server decrypts
	// with, besides its own Server.ECHKeyFiles (E4).
	ECHKeyFiles []string

	file string // set by LoadConfig, for CheckChain's errors
}

// Domain is everything published for one XMPP domain.
type Domain struct {
	Name string // the XMPP domain, e.g. "example.org"

	// Client and Server are the xmpp-client.xml and xmpp-server.xml
	// publications of the default variant.
	Client, Server Publication

	// Variants are alternative record sets for client networks (P4); the
	// one whose CIDR is the longest prefix match of the client address
	// wins, and clients matching none get the default (Client, Server).
	Variants []Variant

	// HSTS is the Strict-Transport-Security policy (P2, X5); nil means
	// DefaultHSTS.
	HSTS *HSTS
	// HPKP is the Public-Key-Pins policy (P2, X6); nil sends none.
	HPKP *HPKP

	// NoCORS drops Access-Control-Allow-Origin: * from the discovery
	// files, which browsers' XMPP clients need to read them (P3).
	NoCORS bool
	// NoHostMeta stops deriving /.well-known/host-meta and host-meta.json
	// from the records (P5), for servers that publish their own.
	NoHostMeta bool

	// Upstream, when set, makes a Server's gateway forward this domain's
	// XMPP traffic to its XMPP server (G1). With no records, redirect or
	// document of its own, the domain publishes records derived from the
	// gateway's listeners and Gateway.PublicIPs (G2).
	Upstream *Upstream
}

// Variant is a record set served to clients in some networks (P4).
type Variant struct {
	Name  string // for logs and metrics
	CIDRs []netip.Prefix
	// Client and Server replace the domain's publications for these
	// clients; a Publication with neither records, Raw nor Redirect falls
	// back to the domain's.
	Client, Server Publication
}

// Publication is one document: records rendered with hacx.Marshal, a
// document served byte for byte, or a redirect (P1). Exactly one of them is
// used, in the order Redirect, Raw, Records; all empty means "not published"
// (404, H4).
type Publication struct {
	// TTL is the document's ttl and Cache-Control max-age in seconds (H5,
	// P3); 0 means hacx.DefaultTTL.
	TTL     uint32
	Records []hacx.Record

	// Raw, when set, is served as it is (hacx serve --doc); TTL should
	// then be the document's own.
	Raw []byte

	// Redirect is an https:// URL answered with 302 Found (P1, H3).
	Redirect string
}

func (p *Publication) empty() bool {
	return p.Redirect == "" && p.Raw == nil && len(p.Records) == 0
}

// HSTS is a Strict-Transport-Security policy (RFC 6797).
type HSTS struct {
	MaxAge            time.Duration // rounded down to seconds; 0 tells browsers to forget
	IncludeSubDomains bool
}

// DefaultHSTS is sent when a Domain sets no HSTS: one year, this host only.
var DefaultHSTS = HSTS{MaxAge: 365 * 24 * time.Hour}

// HPKP is a Public-Key-Pins policy (RFC 7469). RFC 7469 section 4.3
// requires a backup pin, so a policy with fewer than two distinct pins is
// refused (P2).
type HPKP struct {
	// PinsSHA256 are sha-256 digests of SubjectPublicKeyInfo: at least one
	// of the served chain and at least one backup key kept offline.
	PinsSHA256        [][]byte
	MaxAge            time.Duration
	IncludeSubDomains bool
	ReportURI         string

	key  string // where LoadConfig found the pins, for CheckChain's errors
	line int
}

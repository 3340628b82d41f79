package serve

import (
	"crypto/tls"
	"crypto/x509"
	"net/netip"
	"sync"
	"time"
)

// Metrics receives what a Handler and a Server count, for an exporter such
// as Prometheus to publish (hacx serve --metrics does). Package serve only
// calls it and never reads anything back, so the exporter and its
// dependencies stay with the program that embeds serve. A nil Metrics
// counts nothing.
//
// Implementations must be safe for concurrent use, and Request must be
// cheap: it runs on every request.
type Metrics interface {
	// Request reports one answer to a well-known path. file is the name
	// of the path ("xmpp-client.xml", "xmpp-server.xml", "host-meta" or
	// "host-meta.json"), status the HTTP status sent (200, 302, 304, 404,
	// 405), and variant the name of the record set served (P4):
	// "default" for clients of no variant, "" when no configured domain
	// answered.
	Request(file string, status int, variant string)

	// Reload reports each load of the configuration and certificate
	// files: Server's first load and every Reload, whether from a signal,
	// a changed file or a direct call. err is nil when everything loaded,
	// otherwise what the load returned (a *StartError, or one or more
	// *ReloadError).
	Reload(err error)

	// Certificates reports the leaf certificates in service whenever they
	// change: after certificate files load, and when ACME serves a new or
	// renewed certificate. Each call gives the whole set, which replaces
	// the previous one; calls never overlap.
	Certificates(leaves []*x509.Certificate)

	// Connection reports one connection to the gateway's listeners when
	// it has ended (G1-G4): the route it took, its bytes and how it
	// ended. Handshake failures, refusals by a limit and upstream
	// failures are connections too, with their Outcome. It runs once per
	// connection, on the connection's goroutine.
	Connection(c *ConnInfo)
}

// ConnInfo describes one connection to the gateway, for Metrics and the
// log line written when it ends.
type ConnInfo struct {
	Listener string         // "https" (ALPN routed) or "xmpps" (direct TLS, always c2s)
	Client   netip.AddrPort // the TCP peer
	// Route is what the connection carried: "c2s", "s2s", "http" (the
	// well-known files and anything else not forwarded), "websocket" or
	// "bosh" (an HTTP connection that carried a WebSocket, or BOSH
	// requests); "" when it ended before being routed.
	Route    string
	ALPN     string // the protocol negotiated, "" for none
	Domain   string // the SNI, or for HTTP the last Host routed
	Upstream string // the upstream address used, "" for none
	// In and Out count the bytes read from and written to the client's
	// TCP connection, TLS included.
	In, Out  int64
	Duration time.Duration
	// Outcome is one of the Outcome constants.
	Outcome string
	Err     error // what ended it, when not a clean close
}

// Outcomes of a gateway connection (ConnInfo.Outcome).
const (
	OutcomeClosed           = "closed"             // either side ended it cleanly
	OutcomeLimit            = "limit"              // refused by MaxConns or MaxConnsPerIP, before TLS
	OutcomeHandshakeFailed  = "handshake-failed"   // the TLS handshake failed
	OutcomeHandshakeTimeout = "handshake-timeout"  // no complete handshake within HandshakeTimeout
	OutcomeFirstByteTimeout = "first-byte-timeout" // no byte after the handshake within FirstByteTimeout
	OutcomeNoUpstream       = "no-upstream"        // no upstream for this domain and kind
	OutcomeUpstreamFailed   = "upstream-failed"    // the upstream could not be reached (G1)
	OutcomeIdle             = "idle"               // nothing moved for the idle timeout
	OutcomeShutdown         = "shutdown"           // still open when graceful shutdown ended
	OutcomeError            = "error"              // an I/O error ended it
)

// inService tracks the certificates a Server has in service, for
// Metrics.Certificates. File certificates replace the whole set at each
// load; ACME certificates are kept per server name as handshakes serve
// them.
type inService struct {
	mu    sync.Mutex // held while reporting, so that reports never overlap
	byKey map[string]*x509.Certificate
}

// replace makes leaf the only certificate in service and reports it.
func (c *inService) replace(m Metrics, leaf *x509.Certificate) {
	if m == nil || leaf == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byKey = map[string]*x509.Certificate{"": leaf}
	m.Certificates([]*x509.Certificate{leaf})
}

// served records the certificate ACME served for name. It runs on every
// handshake, so it reports only when the certificate for name changed.
func (c *inService) served(m Metrics, name string, cert *tls.Certificate) {
	if m == nil || cert == nil {
		return
	}
	leaf := cert.Leaf
	if leaf == nil {
		if len(cert.Certificate) == 0 {
			return
		}
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.byKey[name]; old != nil && old.Equal(leaf) {
		return
	}
	if c.byKey == nil {
		c.byKey = map[string]*x509.Certificate{}
	}
	c.byKey[name] = leaf
	all := make([]*x509.Certificate, 0, len(c.byKey))
	for _, l := range c.byKey {
		all = append(all, l)
	}
	m.Certificates(all)
}

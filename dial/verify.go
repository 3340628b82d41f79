package dial

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"hacx.dev/hacx"
	"hacx.dev/hacx/trust"
)

// Verification is how a certificate was accepted (A9, A10, X4), as
// Attempt.Verified and Conn.Verified report it; "" until it was.
type Verification string

// Ways a certificate is accepted.
const (
	VerifiedPin    Verification = "pin"    // a <public-key-pin> matched (A9)
	VerifiedDANE   Verification = "dane"   // a DNSSEC-secure TLSA record matched (X4)
	VerifiedWebPKI Verification = "webpki" // a chain to a trusted root, name = the domain or URL host (A10)
)

// tlsaLookup is a TLSA query started alongside the TCP connect, so DANE
// costs no extra round trip on the critical path; done closes when the
// answer is in.
type tlsaLookup struct {
	done   chan struct{}
	host   string
	port   uint16
	recs   []*dns.TLSA
	secure bool
	err    error
}

func (d *Dialer) startTLSA(ctx context.Context, r hacx.Route, host string) *tlsaLookup {
	src := d.tlsaSource()
	if len(r.Pins) > 0 || src == NoDANE || host == "" {
		return nil // pins replace DANE and WebPKI (A9)
	}
	l := &tlsaLookup{done: make(chan struct{}), host: host, port: r.Addr.Port()}
	go func() {
		defer close(l.done)
		l.recs, l.secure, l.err = src.LookupTLSA(ctx, host, l.port)
	}()
	return l
}

// verifyError marks an error returned from VerifyConnection, so that a
// failed handshake can be told apart from a refused certificate.
type verifyError struct{ err error }

func (e *verifyError) Error() string { return e.err.Error() }
func (e *verifyError) Unwrap() error { return e.err }

// VerifyError reports that the peer's certificate was refused (A9, A10,
// X4): How says by which rule ("pin", "dane" or "webpki").
type VerifyError struct {
	How Verification
	Err error
}

func (e *VerifyError) Error() string {
	return "certificate refused (" + string(e.How) + "): " + e.Err.Error()
}
func (e *VerifyError) Unwrap() error { return e.Err }

// verify decides whether the peer is the service (A9, A10, X4):
//
//   - pins present: they alone decide (a leaf pin replaces CA validation,
//     a CA pin needs a verified chain); no match is fatal for the route;
//   - else a DNSSEC-secure TLSA set decides when it has a usable record;
//     a usable set with no match is fatal (X4);
//   - else WebPKI for any of names.
//
// A TLSA lookup that failed falls back to WebPKI, which is still a full
// authentication; only secure answers are believed at all. The exception
// is a bogus answer (trust.ErrBogus), which refuses the route.
//
// dane reports what the DANE check found (the DANE constants), "" when it
// was not consulted.
func (d *Dialer) verify(ctx context.Context, r hacx.Route, cs tls.ConnectionState, names []string, tl *tlsaLookup) (how Verification, dane DANEResult, err error) {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return "", "", &VerifyError{How: VerifiedWebPKI, Err: errors.New("no certificate presented")}
	}
	opts := trust.VerifyOptions{Roots: d.Roots, Names: names, Now: d.now()}
	if len(r.Pins) > 0 {
		if err := trust.VerifyPins(r.Pins, certs, opts); err != nil {
			return "", "", &VerifyError{How: VerifiedPin, Err: err}
		}
		return VerifiedPin, "", nil
	}
	if tl != nil {
		select {
		case <-tl.done:
		case <-ctx.Done():
			return "", "", fmt.Errorf("waiting for TLSA %s: %w", tlsaName(tl.host, tl.port), context.Cause(ctx))
		}
		switch {
		case errors.Is(tl.err, trust.ErrBogus):
			// RFC 6698 §4.1: bogus TLSA data aborts the connection; a
			// WebPKI fall-back is what a forger would hope for (X4).
			return "", DANEBogus, &VerifyError{How: VerifiedDANE, Err: fmt.Errorf("%s: %w", tlsaName(tl.host, tl.port), tl.err)}
		case tl.err != nil:
			dane = DANEError
			d.log().Debug("dial: TLSA lookup failed, using WebPKI", "name", tlsaName(tl.host, tl.port), "err", tl.err)
		case !tl.secure && len(tl.recs) > 0:
			dane = DANEInsecure
		case tl.secure && len(tl.recs) > 0:
			err := trust.VerifyDANE(tl.recs, certs, opts)
			if err == nil {
				return VerifiedDANE, DANEMatch, nil
			}
			if !errors.Is(err, trust.ErrNoUsableTLSA) {
				return "", DANEMismatch, &VerifyError{How: VerifiedDANE, Err: fmt.Errorf("%s: %w", tlsaName(tl.host, tl.port), err)}
			}
			dane = DANENone
		default:
			dane = DANENone
		}
	}
	if _, err := trust.VerifyWebPKI(certs, opts); err != nil {
		return "", dane, &VerifyError{How: VerifiedWebPKI, Err: err}
	}
	return VerifiedWebPKI, dane, nil
}

// tlsaName is the owner name of the TLSA records for host:port (X4). It is
// built by hand: dns.TLSAName refuses nothing we need but insists on a
// service name we do not have.
func tlsaName(host string, port uint16) string {
	return fmt.Sprintf("_%d._tcp.%s", port, dns.Fqdn(host))
}

// tlsConfig is the client TLS configuration of rule A5/A6: exactly the
// route's SNI or none, exactly its ALPN or none. Go's own checks are off
// because an empty ServerName would disable the name check anyway;
// VerifyConnection does the real work (GO-NOTES).
func (d *Dialer) tlsConfig(ctx context.Context, a *attempt, names []string, tl *tlsaLookup) (*tls.Config, error) {
	r := a.route
	cfg := &tls.Config{
		InsecureSkipVerify: true,
		MinVersion:         tls.VersionTLS12,
		VerifyConnection: func(cs tls.ConnectionState) error {
			a.setPhase(PhaseVerify)        // a loser waiting for TLSA reports "verify"
			a.tls.CompareAndSwap(nil, &cs) // the first connection's, for reports
			how, dane, err := d.verify(ctx, r, cs, names, tl)
			if dane != "" {
				a.dane.Store(dane)
			}
			if err != nil {
				return &verifyError{err}
			}
			a.verified.Store(how)
			return nil
		},
	}
	if r.HasSNI {
		// RFC 6066 forbids empty and IP-literal host names; Go would
		// silently send no SNI, breaking "exactly this value" (A5).
		if r.SNI == "" || isIPLiteral(r.SNI) {
			return nil, fmt.Errorf("sni %q cannot be sent (A5)", r.SNI)
		}
		cfg.ServerName = r.SNI
	}
	if r.ALPN != nil {
		cfg.NextProtos = []string{string(r.ALPN)} // exactly one protocol ID (A6)
	}
	if r.ECH != nil {
		if err := d.configureECH(cfg, a, names); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

func isIPLiteral(s string) bool {
	_, err := netip.ParseAddr(strings.Trim(s, "[]"))
	return err == nil
}

// connectTLS runs the tcp, tls and verify phases of one connection to the
// route's ip:port (A8), each under its own timeout.
func (d *Dialer) connectTLS(ctx context.Context, a *attempt, names []string, tl *tlsaLookup) (*tls.Conn, error) {
	raw, err := d.connectTCP(ctx, a)
	if err != nil {
		return nil, err
	}
	tc, err := d.handshake(ctx, a, raw, names, tl)
	var rej *tls.ECHRejectionError
	if a.route.ECH == nil || !errors.As(err, &rej) {
		return tc, err
	}
	if a.echRetry != nil || len(rej.RetryConfigList) == 0 {
		return nil, echFailure(a, rej)
	}
	// E4: the server's retry configuration is used once, on a new
	// connection (the rejected handshake is over).
	a.echRetry = rej.RetryConfigList
	a.echRetried.Store(true)
	if raw, err = d.connectTCP(ctx, a); err != nil {
		return nil, err
	}
	tc, err = d.handshake(ctx, a, raw, names, tl)
	if errors.As(err, &rej) {
		return nil, echFailure(a, rej)
	}
	return tc, err
}

// connectTCP is the tcp phase: a connection to the route's destination
// under ConnectTimeout.
func (d *Dialer) connectTCP(ctx context.Context, a *attempt) (net.Conn, error) {
	a.setPhase(PhaseTCP)
	limit := d.connectTimeout()
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	raw, err := d.dialTCP(cctx, a.route.Dest())
	if te := timedOut(ctx, cctx, err, d.connectOp(), "connect timeout", limit); te != nil {
		err = te
	}
	if err != nil {
		return nil, err
	}
	a.mark(&a.connected)
	return raw, nil
}

// handshake runs the tls and verify phases on raw under
// HandshakeTimeout; raw is closed when they fail.
func (d *Dialer) handshake(ctx context.Context, a *attempt, raw net.Conn, names []string, tl *tlsaLookup) (*tls.Conn, error) {
	a.setPhase(PhaseTLS)
	// The handshake timeout also bounds the wait for the TLSA answer,
	// which happens inside VerifyConnection.
	limit := d.handshakeTimeout()
	hctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cfg, err := d.tlsConfig(hctx, a, names, tl)
	if err != nil {
		raw.Close()
		return nil, err
	}
	tc := tls.Client(raw, cfg)
	err = tc.HandshakeContext(hctx)
	if err != nil {
		raw.Close()
		var ve *verifyError
		if errors.As(err, &ve) {
			a.setPhase(PhaseVerify)
			if te := timedOut(ctx, hctx, ve.err, "tls verify (TLSA lookup)", "handshake timeout", limit); te != nil {
				return nil, te
			}
			return nil, ve.err
		}
		if a.route.ECH != nil {
			err = echHandshakeError(a, err)
			if _, ok := err.(*VerifyError); ok {
				a.setPhase(PhaseVerify)
				return nil, err
			}
		}
		a.setPhase(PhaseTLS) // the certificate was fine; the handshake failed after
		if te := timedOut(ctx, hctx, err, "tls handshake", "handshake timeout", limit); te != nil {
			return nil, te
		}
		return nil, err
	}
	if a.route.ECH != nil {
		// crypto/tls fails a rejected handshake itself; this is the
		// belt to its braces (E4: no silent downgrade).
		if !tc.ConnectionState().ECHAccepted {
			tc.Close()
			return nil, ErrECHRejected
		}
		a.ech.Store(ECHAccepted)
	}
	a.mark(&a.secured)
	return tc, nil
}

// acceptableNames are the names a certificate may carry (A10): the XMPP
// domain, and for websocket/bosh also the URL host.
func acceptableNames(domain, urlHost string) []string {
	names := []string{domain}
	if urlHost != "" && !strings.EqualFold(strings.TrimSuffix(urlHost, "."), strings.TrimSuffix(domain, ".")) {
		names = append(names, urlHost)
	}
	return names
}

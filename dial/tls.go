package dial

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/xmppstream"
)

// try runs one attempt to its end: a verified stream or an error.
func (d *Dialer) try(ctx context.Context, a *attempt, domain string, kind hacx.Kind) (*Conn, error) {
	switch a.route.Method {
	case hacx.MethodTLS:
		return d.tryTLS(ctx, a, domain, kind)
	case hacx.MethodWebSocket:
		return d.tryWebSocket(ctx, a, domain, kind)
	case hacx.MethodBOSH:
		return d.tryBOSH(ctx, a, domain, kind)
	case hacx.MethodStartTLS:
		return d.tryStartTLS(ctx, a, domain, kind)
	}
	// Future methods (E1) are skipped with a reason (C1).
	return nil, fmt.Errorf("%w %q", ErrUnsupportedMethod, a.route.Method)
}

// tlsaHost is the name DANE records are looked up under (X4): the name the
// address came from, else the URL host, else the XMPP domain.
func tlsaHost(r hacx.Route, domain, urlHost string) string {
	switch {
	case r.Host != "":
		return r.Host
	case urlHost != "":
		return urlHost
	}
	return domain
}

// tryTLS is direct TLS (XEP-0368 style): tcp, tls, verify, then our stream
// header and the server's, whose from must be domain (C4).
func (d *Dialer) tryTLS(ctx context.Context, a *attempt, domain string, kind hacx.Kind) (*Conn, error) {
	tl := d.startTLSA(ctx, a.route, tlsaHost(a.route, domain, ""))
	tc, err := d.connectTLS(ctx, a, []string{domain}, tl)
	if err != nil {
		return nil, err
	}
	a.setPhase(PhaseStream)
	hdr, feats, err := d.exchangeHeaders(ctx, tc, domain, kind)
	if err != nil {
		tc.Close()
		return nil, err
	}
	return &Conn{
		Domain: domain, Kind: kind, Route: a.route,
		Header: hdr, Features: feats, Verified: a.how(),
		TLS: tc.ConnectionState(), NetConn: tc,
	}, nil
}

// exchangeHeaders writes our stream header and reads the server's header
// and features under StreamTimeout. The deadline is lifted on success, so
// the connection outlives the dial's context.
func (d *Dialer) exchangeHeaders(ctx context.Context, tc *tls.Conn, domain string, kind hacx.Kind) (*xmppstream.Header, []byte, error) {
	limit := d.streamTimeout()
	sctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	// Reads and writes on a net.Conn ignore contexts: a past deadline
	// unblocks them when the attempt is cancelled or times out.
	stop := context.AfterFunc(sctx, func() { tc.SetDeadline(time.Unix(1, 0)) })
	from := ""
	if kind == hacx.Server {
		from = d.From
	}
	err := xmppstream.WriteOpenFrom(tc, from, domain, kind)
	var hdr *xmppstream.Header
	var feats []byte
	if err == nil {
		hdr, feats, err = xmppstream.ReadOpen(tc, domain, kind)
	}
	if !stop() {
		// The context fired: whatever I/O error we got, the reason is
		// the timeout or the cancellation.
		if err == nil {
			err = context.Cause(sctx)
		}
		return nil, nil, streamErr(ctx, sctx, err, "xmpp stream header", limit)
	}
	if err != nil {
		return nil, nil, err
	}
	tc.SetDeadline(time.Time{})
	return hdr, feats, nil
}

package dial

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"hacx.dev/hacx"
	"hacx.dev/hacx/xmppstream"
)

// ErrInjected is the cause of a STARTTLS attempt whose server sent bytes
// after <proceed/> and before its TLS answer: the CVE-2011-0411 class of
// attack, where plaintext an on-path attacker slipped in would be read as
// the start of the secured stream (S1).
var ErrInjected = errors.New("dial: bytes after <proceed/> before the TLS handshake: refused as an injection")

// tryStartTLS is RFC 6120 STARTTLS (S1): tcp, then a plaintext stream that
// must offer <starttls/> and answer <proceed/>, then TLS on the same
// connection with SNI = the domain, verified as direct TLS is, then the
// restarted stream, whose from must be domain (C4). Nothing read before
// TLS is trusted or passed on; any deviation fails the attempt, never a
// plaintext continuation.
func (d *Dialer) tryStartTLS(ctx context.Context, a *attempt, domain string, kind hacx.Kind) (*Conn, error) {
	tl := d.startTLSA(ctx, a.route, tlsaHost(a.route, domain, ""))
	raw, err := d.connectTCP(ctx, a)
	if err != nil {
		return nil, err
	}
	a.setPhase(PhaseStartTLS)
	feats, err := d.negotiateStartTLS(ctx, raw, domain, kind)
	a.plain.Store(&feats)
	if err != nil {
		raw.Close()
		return nil, err
	}
	tc, err := d.handshake(ctx, a, &injectGuard{Conn: raw}, []string{domain}, tl)
	if err != nil {
		return nil, err
	}
	a.setPhase(PhaseStream)
	hdr, post, err := d.exchangeHeaders(ctx, tc, domain, kind)
	if err != nil {
		tc.Close()
		return nil, err
	}
	return &Conn{
		Domain: domain, Kind: kind, Route: a.route,
		Header: hdr, Features: post, Verified: a.how(),
		TLS: tc.ConnectionState(), t: &tlsTransport{nc: tc},
	}, nil
}

// negotiateStartTLS runs the plaintext exchange under StreamTimeout, the
// same bound as every other XMPP step. The features are returned also
// when it fails, for the report.
func (d *Dialer) negotiateStartTLS(ctx context.Context, raw net.Conn, domain string, kind hacx.Kind) ([]byte, error) {
	var feats []byte
	err := d.streamStep(ctx, raw, "starttls negotiation", func() error {
		var err error
		feats, err = xmppstream.StartTLS(raw, d.from(kind), domain, kind)
		return err
	})
	return feats, err
}

// injectGuard watches the first bytes the TLS client reads after
// <proceed/>. A server's first TLS record is a handshake (22) or an alert
// (21), with major version 3; anything else was sent before the TLS
// answer, and is refused with ErrInjected instead of the TLS package's
// generic complaint. Either way it is never read as XMPP.
type injectGuard struct {
	net.Conn
	once sync.Once
	err  error
}

func (g *injectGuard) Read(p []byte) (int, error) {
	n, err := g.Conn.Read(p)
	g.once.Do(func() {
		if n == 0 {
			return
		}
		b := p[:n]
		if b[0] != 22 && b[0] != 21 || n > 1 && b[1] != 3 {
			g.err = fmt.Errorf("%w (got %q)", ErrInjected, excerptBytes(b))
		}
	})
	if g.err != nil {
		return 0, g.err
	}
	return n, err
}

// excerptBytes shows at most 40 bytes of what arrived.
func excerptBytes(b []byte) string {
	if len(b) > 40 {
		b = b[:40]
	}
	return string(b)
}

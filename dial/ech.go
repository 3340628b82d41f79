package dial

import (
	"crypto/tls"
	"errors"
	"fmt"

	"hacx.dev/hacx"
	"hacx.dev/hacx/ech"
)

// ECHResult is what became of Encrypted Client Hello on an attempt
// (Attempt.ECH, E4).
type ECHResult string

// What an attempt's ECH came to.
const (
	ECHAccepted ECHResult = "accepted" // the server decrypted the inner ClientHello
	ECHRejected ECHResult = "rejected" // the server answered the outer ClientHello: the route failed
	ECHNone     ECHResult = "none"     // the route publishes no ECH: the ClientHello went in clear
)

// ErrECHRejected is the cause of a route that publishes ECH whose server
// did not accept it (E4): such a route is never dialed with a clear SNI.
var ErrECHRejected = errors.New("dial: the server did not accept Encrypted Client Hello")

// echMethod reports whether method dials through our TLS handshake, the
// only place ECH is honoured. Any other route that publishes ECH fails
// rather than go out without it (E4).
func echMethod(m hacx.Method) bool {
	return m == hacx.MethodTLS || m == hacx.MethodWebSocket || m == hacx.MethodBOSH
}

// echList is the ECHConfigList the attempt's next handshake uses: the
// server's retry configuration once it gave one, else the route's.
func (a *attempt) echList() []byte {
	if a.echRetry != nil {
		return a.echRetry
	}
	return a.route.ECH
}

// configureECH turns cfg into an ECH configuration for the attempt (E4):
// the inner ClientHello carries the route's SNI, or the domain when the
// route names none (the inner name is encrypted, so A5's "no SNI" has
// nothing to hide and a fronting server needs the name to route by); the
// outer one carries the configuration's public name. No ALPN is offered:
// crypto/tls copies the ALPN list into the outer ClientHello, where
// xmpp-client would tell an observer what the connection is for.
// A rejection is believed only from a certificate valid for the public
// name under the Dialer's roots, so that only the real front end can hand
// out retry configurations. crypto/tls checks that itself (RootCAs, Time):
// EncryptedClientHelloRejectionVerify would replace the check but, as of
// Go 1.26, is handed a ConnectionState without the peer's certificates.
func (d *Dialer) configureECH(cfg *tls.Config, a *attempt, names []string) error {
	list := a.echList()
	cs, err := ech.ParseConfigList(list)
	if err != nil {
		return fmt.Errorf("ech: %w", err)
	}
	c, err := ech.Select(cs)
	if err != nil {
		return err
	}
	a.echOuter.Store(c.PublicName)
	inner := a.route.SNI
	if !a.route.HasSNI {
		inner = names[0]
	}
	if inner == "" || isIPLiteral(inner) {
		return fmt.Errorf("inner sni %q cannot be sent (A5, E4)", inner)
	}
	cfg.ServerName = inner
	cfg.NextProtos = nil
	cfg.MinVersion = tls.VersionTLS13 // ECH is TLS 1.3 only
	cfg.EncryptedClientHelloConfigList = list
	cfg.RootCAs = d.Roots
	cfg.Time = d.now
	return nil
}

// echHandshakeError turns the error of a handshake on an ECH route into
// the attempt's account of it: a rejection (E4) is recorded, and a
// certificate refused after a rejection (the only certificate crypto/tls
// checks on an ECH route, InsecureSkipVerify aside) is a VerifyError.
func echHandshakeError(a *attempt, err error) error {
	var rej *tls.ECHRejectionError
	var cve *tls.CertificateVerificationError
	switch {
	case errors.As(err, &rej):
		a.ech.Store(ECHRejected)
	case errors.As(err, &cve):
		a.ech.Store(ECHRejected)
		outer, _ := a.echOuter.Load().(string)
		return &VerifyError{How: VerifiedWebPKI, Err: fmt.Errorf("ECH rejected, and the certificate is not valid for the public name %s: %w", outer, cve.Err)}
	}
	return err
}

// echFailure explains a rejection (E4): what the server said, and that
// the route is not tried in clear.
func echFailure(a *attempt, rej *tls.ECHRejectionError) error {
	outer, _ := a.echOuter.Load().(string)
	switch {
	case a.echRetry != nil:
		return fmt.Errorf("%w with the retry configuration it sent (public name %s)", ErrECHRejected, outer)
	case len(rej.RetryConfigList) == 0:
		return fmt.Errorf("%w (public name %s) and sent no retry configuration: the server has no ECH key for this route's configuration", ErrECHRejected, outer)
	}
	return fmt.Errorf("%w (public name %s)", ErrECHRejected, outer)
}

package loopback

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"time"

	"hacx.dev/hacx/xmppstream"
)

// StartTLSMode is how a STARTTLS endpoint behaves (rule S1): the good
// server, or one of the downgrades and stalls of an on-path attacker or a
// broken server that a client must refuse.
type StartTLSMode int

const (
	// StartTLSGood offers <starttls><required/></starttls>, answers
	// <proceed/>, completes TLS and serves the restarted stream.
	StartTLSGood StartTLSMode = iota
	// StartTLSStripped offers SASL in plaintext and no <starttls/>: what
	// a client sees when an attacker strips it.
	StartTLSStripped
	// StartTLSFailure answers <starttls/> with <failure/>.
	StartTLSFailure
	// StartTLSStreamError answers <starttls/> with a stream error.
	StartTLSStreamError
	// StartTLSInject sends <proceed/> and, in the same write, plaintext
	// that a careless client would read as the first bytes of the secured
	// stream (the CVE-2011-0411 class), then waits for the handshake.
	StartTLSInject
	// StartTLSStallHeader accepts TCP and sends nothing.
	StartTLSStallHeader
	// StartTLSStallProceed offers STARTTLS and never answers <starttls/>.
	StartTLSStallProceed
	// StartTLSStallTLS answers <proceed/> and never answers the
	// ClientHello.
	StartTLSStallTLS
)

// InjectedStanza is what StartTLSInject sends after <proceed/>: a
// stanza that would look like the server's if it were read as part of
// the secured stream.
const InjectedStanza = "<message from='admin@example.test'><body>injected</body></message>"

// StartTLSServer is a loopback XMPP endpoint reached by STARTTLS (RFC
// 6120 section 5): a plaintext stream header and features, then TLS with
// its certificate on the same connection, then the restarted stream
// served like StartXMPP's. Its Mode makes it one of the hostile variants.
type StartTLSServer struct {
	*endpoint
	cfg  XMPPConfig
	mode StartTLSMode
	cert *tls.Certificate
}

// StartStartTLS starts a STARTTLS endpoint on addr (a loopback
// "ip:port", port 0 for any) presenting cert after <proceed/>.
// cfg.Domain and cfg.StreamError apply to the stream after TLS;
// cfg.RequireALPN to the handshake.
func StartStartTLS(addr string, cert *tls.Certificate, mode StartTLSMode, cfg XMPPConfig) (*StartTLSServer, error) {
	if cert == nil {
		return nil, errors.New("loopback: StartStartTLS needs a certificate")
	}
	e, err := listenLoopback(addr)
	if err != nil {
		return nil, err
	}
	s := &StartTLSServer{endpoint: e, cfg: cfg, mode: mode, cert: cert}
	e.serve(s.handle)
	return s, nil
}

func (s *StartTLSServer) handle(c net.Conn) {
	i := s.newContact(c.RemoteAddr())
	c.SetDeadline(time.Now().Add(endpointTimeout))
	fail := func(err error) { s.update(i, func(ct *Contact) { ct.Err = err.Error() }) }
	if s.mode == StartTLSStallHeader {
		io.Copy(io.Discard, c)
		return
	}
	hdr, err := xmppstream.ReadClientOpen(c, s.cfg.Kind)
	if err != nil {
		fail(err)
		return
	}
	s.update(i, func(ct *Contact) { ct.To, ct.From = hdr.To, hdr.From })
	// The plaintext header always names the domain asked: cfg.Domain
	// makes the wrong-domain server of C4 after TLS, where it counts.
	if err := xmppstream.WriteServerOpen(c, hdr.To, "hacxtest-plain", s.cfg.Kind); err != nil {
		fail(err)
		return
	}
	offer := "<starttls xmlns='" + xmppstream.NSTLS + "'><required/></starttls>"
	if s.mode == StartTLSStripped {
		offer = string(Features(s.cfg.Kind))
	}
	if err := xmppstream.WriteFeatures(c, []byte(offer)); err != nil || s.mode == StartTLSStripped {
		io.Copy(io.Discard, c) // a stripped stream waits for a plaintext login that must never come
		return
	}
	if err := readStartTLS(c); err != nil {
		fail(err)
		return
	}
	var answer string
	switch s.mode {
	case StartTLSStallProceed:
		io.Copy(io.Discard, c)
		return
	case StartTLSFailure:
		answer = "<failure xmlns='" + xmppstream.NSTLS + "'/></stream:stream>"
	case StartTLSStreamError:
		answer = "<stream:error><policy-violation xmlns='" + xmppstream.NSStreamErr + "'/></stream:error></stream:stream>"
	case StartTLSInject:
		answer = "<proceed xmlns='" + xmppstream.NSTLS + "'/>" + InjectedStanza
	default:
		answer = "<proceed xmlns='" + xmppstream.NSTLS + "'/>"
	}
	if _, err := io.WriteString(c, answer); err != nil || s.mode == StartTLSFailure || s.mode == StartTLSStreamError {
		return
	}
	if s.mode == StartTLSStallTLS {
		io.Copy(io.Discard, c)
		return
	}
	tc := tls.Server(c, s.tlsConfig(s.cert, s.cfg.RequireALPN, nil, func(*tls.ClientHelloInfo) int { return i }))
	if err := tc.HandshakeContext(s.ctx); err != nil {
		fail(err)
		return
	}
	s.update(i, func(ct *Contact) { ct.TLSDone, ct.Negotiated = true, tc.ConnectionState().NegotiatedProtocol })
	serveStream(tc, s.cfg, func(h *xmppstream.Header) { s.update(i, func(ct *Contact) { ct.To, ct.From = h.To, h.From }) }, fail)
}

// readStartTLS reads the client's <starttls/> command byte by byte, after
// any whitespace keepalives, so that nothing after it (the ClientHello) is
// consumed.
func readStartTLS(c net.Conn) error {
	want := xmppstream.StartTLSCommand
	got := make([]byte, 0, len(want))
	one := make([]byte, 1)
	for len(got) < len(want) {
		if _, err := io.ReadFull(c, one); err != nil {
			return err
		}
		if len(got) == 0 && (one[0] == ' ' || one[0] == '\n' || one[0] == '\r' || one[0] == '\t') {
			continue
		}
		got = append(got, one[0])
	}
	if string(got) != want {
		return errors.New("loopback: expected " + want + ", got " + string(got))
	}
	return nil
}

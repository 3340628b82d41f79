package loopback

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"hacx.dev/hacx"
	"hacx.dev/hacx/xmppstream"
)

// This file holds the loopback QUIC XMPP endpoint (XEP-0467, Q1): a QUIC
// listener on UDP whose first bidirectional stream carries an XMPP stream
// served like the direct-TLS echo endpoint's.

// QUICConfig configures a QUIC XMPP endpoint. Its zero value is a good
// client-to-server endpoint for whatever domain the client asks.
type QUICConfig struct {
	// Domain is the from the server answers with. Empty: the domain the
	// client's header asked for. Another domain makes the wrong-domain
	// endpoint of rule C3.
	Domain string
	// Kind selects jabber:client (zero) or jabber:server streams.
	Kind hacx.Kind
	// NextProtos are the ALPN protocol IDs the server accepts; nil means
	// xmpp-client (xmpp-server for Kind Server), as XEP-0467 names them.
	// A list without the client's ID makes the wrong-ALPN endpoint: QUIC
	// fails the handshake without a common protocol (RFC 9001 section
	// 8.1).
	NextProtos []string
}

// QUICServer is a loopback QUIC XMPP endpoint: it completes the QUIC
// handshake with its certificate, accepts one bidirectional stream, reads
// the client's stream header and answers with its own header and
// features, then echoes every element (an element <close-me/> in NSEcho
// makes it end the stream) until the client ends the stream.
type QUICServer struct {
	echoEnds
	ln     *quic.Listener
	addr   netip.AddrPort
	cfg    QUICConfig
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	contacts []Contact
}

// StartQUIC starts a QUIC XMPP endpoint on addr (a loopback "ip:port",
// port 0 for any) presenting cert.
func StartQUIC(addr string, cert *tls.Certificate, cfg QUICConfig) (*QUICServer, error) {
	if cert == nil {
		return nil, errors.New("loopback: StartQUIC needs a certificate")
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("loopback: endpoint address %q is not a loopback ip:port", addr)
	}
	protos := cfg.NextProtos
	if protos == nil {
		protos = []string{"xmpp-client"}
		if cfg.Kind == hacx.Server {
			protos = []string{"xmpp-server"}
		}
	}
	s := &QUICServer{cfg: cfg}
	tcfg := &tls.Config{
		Certificates: []tls.Certificate{*cert},
		NextProtos:   protos,
		MinVersion:   tls.VersionTLS13,
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			// The exact SNI and ALPN offer, for tests of A5 and A6.
			c := Contact{SNI: h.ServerName}
			if h.SupportedProtos != nil {
				c.ALPN = slices.Clone(h.SupportedProtos)
			}
			if ua, ok := h.Conn.RemoteAddr().(*net.UDPAddr); ok {
				ap := ua.AddrPort()
				c.Remote = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
			}
			s.mu.Lock()
			s.contacts = append(s.contacts, c)
			s.mu.Unlock()
			return nil, nil
		},
	}
	ln, err := quic.ListenAddr(addr, tcfg, &quic.Config{MaxIdleTimeout: endpointTimeout})
	if err != nil {
		return nil, fmt.Errorf("loopback: listen udp %s: %w", addr, err)
	}
	s.ln = ln
	s.addr = ln.Addr().(*net.UDPAddr).AddrPort()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			qc, err := ln.Accept(s.ctx)
			if err != nil {
				return // closed
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.handle(qc)
			}()
		}
	}()
	return s, nil
}

// Addr is the UDP address the endpoint listens on.
func (s *QUICServer) Addr() netip.AddrPort { return s.addr }

// Contacts returns a copy of what the endpoint saw, one entry per QUIC
// handshake started, in arrival order.
func (s *QUICServer) Contacts() []Contact {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.contacts)
}

// Close stops the endpoint, closes its connections and waits until none
// of its goroutines is left.
func (s *QUICServer) Close() error {
	s.cancel()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

// contact changes the latest contact from addr, under the lock.
func (s *QUICServer) contact(remote net.Addr, f func(*Contact)) {
	ua, _ := remote.(*net.UDPAddr)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.contacts) - 1; i >= 0; i-- {
		if ua != nil && s.contacts[i].Remote.Port() == uint16(ua.Port) {
			f(&s.contacts[i])
			return
		}
	}
}

func (s *QUICServer) handle(qc *quic.Conn) {
	defer qc.CloseWithError(0, "")
	// The connection ends with the endpoint or with this function.
	stop := context.AfterFunc(s.ctx, func() { qc.CloseWithError(0, "endpoint closed") })
	defer stop()
	fail := func(err error) { s.contact(qc.RemoteAddr(), func(c *Contact) { c.Err = err.Error() }) }
	s.contact(qc.RemoteAddr(), func(c *Contact) {
		c.TLSDone, c.Negotiated = true, qc.ConnectionState().TLS.NegotiatedProtocol
	})
	ctx, cancel := context.WithTimeout(s.ctx, endpointTimeout)
	defer cancel()
	st, err := qc.AcceptStream(ctx)
	if err != nil {
		fail(err)
		return
	}
	st.SetDeadline(time.Now().Add(endpointTimeout))
	sp := xmppstream.NewSplitter(st, 0)
	streams := 0
	for {
		tok, err := sp.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				// The client's input ended (its FIN): the stream ends.
				s.n.Add(1)
				st.Write([]byte("</stream:stream>"))
				st.Close()
			} else {
				fail(err)
			}
			return
		}
		var out []byte
		switch tok.Kind {
		case xmppstream.TokenOpen:
			streams++
			if streams == 1 {
				s.contact(qc.RemoteAddr(), func(c *Contact) { c.To, c.From = tok.Header.To, tok.Header.From })
			}
			from := s.cfg.Domain
			if from == "" {
				from = tok.Header.To
			}
			var b bytes.Buffer
			xmppstream.WriteServerOpen(&b, from, "quic-"+strconv.Itoa(streams), s.cfg.Kind)
			xmppstream.WriteFeatures(&b, EchoFeatures(streams))
			out = b.Bytes()
		case xmppstream.TokenElement:
			out = tok.Raw
			if isCloseMe(tok.Name) {
				out = []byte("</stream:stream>")
			}
		case xmppstream.TokenClose:
			s.n.Add(1)
			st.Write([]byte("</stream:stream>"))
			st.Close()
			io.Copy(io.Discard, st) // until the client's FIN
			return
		}
		if len(out) > 0 {
			if _, err := st.Write(out); err != nil {
				return
			}
		}
		if tok.Kind == xmppstream.TokenElement && isCloseMe(tok.Name) {
			st.Close()
			io.Copy(io.Discard, st)
			return
		}
	}
}

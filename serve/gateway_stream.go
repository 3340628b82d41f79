package serve

// This file relays XMPP streams (c2s, s2s, and WebSocket connections once
// upgraded) between a client and an upstream, byte for byte after TLS
// termination (G1), with the idle timeout of their kind and the stream
// error a client gets when there is no upstream to relay to.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/xmppstream"
)

// closeGrace is how long one direction of a relay may still run after the
// other ended cleanly: the peer's </stream:stream> answer and TLS
// close_notify, before both connections are closed.
const closeGrace = 2 * time.Second

// stream relays a c2s or s2s connection to the upstream of its SNI's
// domain (or the default one), once the client has spoken (G1, G4).
func (g *gateway) stream(gc *gwConn, tc streamConn, kind hacx.Kind, first []byte) {
	route := "c2s"
	if kind == hacx.Server {
		route = "s2s"
	}
	st := g.s.Handler.state.Load()
	sni := tc.ConnectionState().ServerName
	site := st.streamSite(kind, sni)
	domain := sni
	if site != nil {
		domain = site.name
	}
	gc.setRoute(route, domain)
	if first == nil {
		var ok bool
		if first, ok = g.firstBytes(gc, tc); !ok {
			return
		}
	}
	if site == nil {
		gc.end(OutcomeNoUpstream, fmt.Errorf("no %s upstream for %q", route, sni))
		refuseStream(tc, kind, first, domain, "host-unknown", "this gateway forwards no "+route+" streams for that domain", &st.gw)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), st.gw.ConnectTimeout)
	up, addr, err := site.up.dialStream(ctx, kind, gc)
	cancel()
	gc.setUpstream(addr)
	if err != nil {
		// G1: a clean stream error, not silence or a hang.
		gc.end(OutcomeUpstreamFailed, err)
		refuseStream(tc, kind, first, domain, "remote-connection-failed", "the XMPP server behind this gateway cannot be reached", &st.gw)
		return
	}
	if _, err := up.Write(first); err != nil {
		gc.end(OutcomeUpstreamFailed, err)
		up.Close()
		refuseStream(tc, kind, first, domain, "remote-connection-failed", "the XMPP server behind this gateway closed the connection", &st.gw)
		return
	}
	idle := st.gw.C2SIdleTimeout
	if kind == hacx.Server {
		idle = st.gw.S2SIdleTimeout
	}
	relay(gc, tc, up, idle)
}

// streamSite is the site whose upstream takes a stream of kind for the
// SNI name: that domain's, or the first configured domain's with such an
// upstream when the SNI names none of ours (or there is none, A5). nil
// when no domain has one.
func (st *state) streamSite(kind hacx.Kind, sni string) *site {
	if st == nil {
		return nil
	}
	if s := st.sites[hostKey(sni)]; s != nil && s.up != nil {
		if kind == hacx.Client && s.up.c2s != nil || kind == hacx.Server && s.up.s2s != nil {
			return s
		}
		if sni != "" {
			return nil // a domain of ours that takes no such stream
		}
	}
	if kind == hacx.Server {
		return st.defaultS2S
	}
	return st.defaultC2S
}

// refuseStream answers a client whose stream cannot be relayed with a
// stream error (RFC 6120 section 4.9): the server's stream header first,
// since the client's came before it (section 4.9.1.2), then the error and
// the end of the stream. first is what the client sent so far.
func refuseStream(tc streamConn, kind hacx.Kind, first []byte, domain, condition, text string, gw *Gateway) {
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(gw.FirstByteTimeout))
	from := domain
	if h, err := xmppstream.ReadClientOpen(io.MultiReader(bytes.NewReader(first), tc), kind); err == nil && h.To != "" {
		from = h.To
	}
	var b bytes.Buffer
	xmppstream.WriteServerOpen(&b, from, streamID(), kind)
	xmppstream.WriteStreamError(&b, condition, text)
	tc.Write(b.Bytes())
}

// streamID returns a new random stream ID.
func streamID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// relay copies bytes both ways between the client and the upstream until
// both directions ended, one ended with an error, or nothing moved for
// idle; then it closes both.
func relay(gc *gwConn, client, up net.Conn, idle time.Duration) {
	stop := gc.watchIdle(idle, func() {
		gc.end(OutcomeIdle, nil)
		client.Close()
		up.Close()
	})
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- copyHalf(client, up) }() // upstream to client
	err := copyHalf(up, client)                  // client to upstream
	if err == nil {
		// The client ended its side: let the upstream answer and end its
		// own, for closeGrace at most.
		up.SetReadDeadline(time.Now().Add(closeGrace))
	} else {
		up.Close()
		client.Close()
	}
	err2 := <-errc
	if err2 != nil && err == nil && !isTimeout(err2) {
		err = err2
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		gc.end(OutcomeError, err)
	}
	up.Close()
	client.Close()
}

// copyBufs holds relay buffers: XMPP stanzas are small, and an idle
// connection should not pin large buffers.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// copyHalf copies src to dst until src ends. A clean end (EOF) is passed
// on as a half close of dst and returns nil, so that the other direction
// can finish.
func copyHalf(dst, src net.Conn) error {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err != nil {
			if isEOF(err) {
				closeWrite(dst)
				return nil
			}
			return err
		}
	}
}

// closeWrite half-closes c when it can: TLS close_notify, TCP FIN.
func closeWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// proxyHeader returns a PROXY protocol v2 header (the HAProxy PROXY
// protocol specification, section 2.2) saying that the connection from
// client reached the gateway at local, so that the upstream logs and
// limits the client's address rather than the gateway's (G3).
func proxyHeader(client, local netip.AddrPort) []byte {
	src, dst := client.Addr().Unmap(), local.Addr().Unmap()
	fam := byte(0x11) // TCP over IPv4
	if !src.Is4() || !dst.Is4() {
		fam = 0x21 // TCP over IPv6; an IPv4 side is written mapped
		src, dst = netip.AddrFrom16(src.As16()), netip.AddrFrom16(dst.As16())
	}
	h := []byte("\r\n\r\n\x00\r\nQUIT\n")
	h = append(h, 0x21, fam) // version 2, command PROXY
	addrs := append(src.AsSlice(), dst.AsSlice()...)
	addrs = binary.BigEndian.AppendUint16(addrs, client.Port())
	addrs = binary.BigEndian.AppendUint16(addrs, local.Port())
	h = binary.BigEndian.AppendUint16(h, uint16(len(addrs)))
	return append(h, addrs...)
}

// localAddrPort is the address a connection reached us at.
func localAddrPort(c net.Conn) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(c.LocalAddr().String())
	return ap
}

// dialStream connects to the c2s or s2s upstream: TCP, the PROXY header
// when configured, and TLS verified for the domain on a tls:// upstream.
// ctx bounds all of it.
func (u *upstream) dialStream(ctx context.Context, kind hacx.Kind, gc *gwConn) (net.Conn, string, error) {
	t := u.c2s
	if kind == hacx.Server {
		t = u.s2s
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, t.addr, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if u.proxyProtocol {
		if _, err := c.Write(proxyHeader(gc.info.Client, localAddrPort(gc.Conn))); err != nil {
			c.Close()
			return nil, t.addr, err
		}
	}
	if t.tls {
		tc := tls.Client(c, &tls.Config{ServerName: u.domain, RootCAs: u.roots, MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, t.addr, fmt.Errorf("tls to %s: %w", t.addr, err)
		}
		c = tc
	}
	c.SetDeadline(time.Time{})
	return c, t.addr, nil
}

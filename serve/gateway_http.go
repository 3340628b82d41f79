package serve

// This file is the HTTP side of the gateway (G1): the well-known files as
// Handler serves them, and the WebSocket (RFC 7395) and BOSH (XEP-0206)
// paths of a domain with an HTTP upstream, forwarded to it with the
// client's address in X-Forwarded-For (G3). An upstream that cannot be
// reached gets the client a stream error in its own framing: a WebSocket
// <stream:error/>, a BOSH terminate body.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"hacx.dev/hacx/xmppstream"
)

// discoveryWriteTimeout bounds writing one answer that is not a BOSH or
// WebSocket exchange (the well-known files are small).
const discoveryWriteTimeout = 30 * time.Second

// upstream is a domain's Upstream, compiled.
type upstream struct {
	domain           string
	c2s, s2s         *streamTarget
	http             *url.URL
	wsPath, boshPath string
	proxyProtocol    bool
	roots            *x509.CertPool
	gw               *Gateway // the state's settings, with defaults
	proxyOnce        sync.Once
	proxy            *httputil.ReverseProxy
	transport        *http.Transport
}

// newUpstream compiles u, which check accepted.
func newUpstream(domain string, u *Upstream, gw *Gateway) *upstream {
	c := &upstream{domain: domain, proxyProtocol: u.ProxyProtocol, roots: u.RootCAs, gw: gw}
	if u.C2S != "" {
		t, _ := parseStreamTarget(u.C2S)
		c.c2s = &t
	}
	if u.S2S != "" {
		t, _ := parseStreamTarget(u.S2S)
		c.s2s = &t
	}
	if u.HTTP != "" {
		c.http, _ = parseHTTPUpstream(u.HTTP)
	}
	c.wsPath, c.boshPath = u.paths()
	return c
}

// reverseProxy is the proxy for BOSH and other plain requests, made on
// first use so that rendering a configuration (hacx gen) builds none.
func (u *upstream) reverseProxy() *httputil.ReverseProxy {
	u.proxyOnce.Do(func() {
		u.transport = &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: u.gw.ConnectTimeout}).DialContext,
			TLSClientConfig:       &tls.Config{RootCAs: u.roots, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:   u.gw.ConnectTimeout,
			ResponseHeaderTimeout: u.gw.BOSHTimeout,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
		}
		u.proxy = &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(u.http)
				pr.Out.Host = pr.In.Host // the server picks its virtual host by it
				pr.SetXForwarded()
				pr.Out.Header.Set("X-Forwarded-Proto", "https") // TLS ended here, whatever r.TLS says
			},
			Transport:    u.transport,
			ErrorHandler: boshUpstreamFailed,
			ErrorLog:     nil,
		}
	})
	return u.proxy
}

// boshUpstreamFailed answers a BOSH request the upstream did not: with a
// terminate body whose condition says the server is unreachable (XEP-0124
// section 17.2, G1), which BOSH clients report, rather than a 502 that
// they retry.
func boshUpstreamFailed(w http.ResponseWriter, r *http.Request, err error) {
	if gc, _ := r.Context().Value(gwConnKey{}).(*gwConn); gc != nil {
		gc.end(OutcomeUpstreamFailed, err)
	}
	if r.Context().Err() != nil {
		return // the client is gone
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(xmppstream.BOSHTerminate("remote-connection-failed"))
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	gc, _ := r.Context().Value(gwConnKey{}).(*gwConn)
	rc := http.NewResponseController(w)
	st := g.s.Handler.state.Load()
	if st != nil {
		if s := st.sites[hostKey(r.Host)]; s != nil && s.up != nil && s.up.http != nil {
			switch r.URL.Path {
			case s.up.wsPath:
				g.websocket(w, r, rc, gc, s.up)
				return
			case s.up.boshPath:
				g.bosh(w, r, rc, gc, s.up)
				return
			}
		}
	}
	gw := g.settings()
	rc.SetReadDeadline(time.Now().Add(gw.FirstByteTimeout))
	rc.SetWriteDeadline(time.Now().Add(discoveryWriteTimeout))
	g.s.Handler.ServeHTTP(w, r)
}

// bosh forwards one BOSH request. Its body is read first, within the
// first-byte timeout, so that the long wait for the answer has no read
// deadline running (net/http would cancel the request when it passed).
func (g *gateway) bosh(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, gc *gwConn, u *upstream) {
	if gc != nil {
		gc.setRoute("bosh", u.domain)
		gc.setUpstream(u.http.Host)
	}
	rc.SetReadDeadline(time.Now().Add(u.gw.FirstByteTimeout))
	body, err := io.ReadAll(io.LimitReader(r.Body, xmppstream.MaxBOSHBody+1))
	if err != nil {
		http.Error(w, "cannot read the request body", http.StatusBadRequest)
		return
	}
	if len(body) > xmppstream.MaxBOSHBody {
		http.Error(w, "BOSH body too large", http.StatusRequestEntityTooLarge)
		return
	}
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Now().Add(u.gw.BOSHTimeout + discoveryWriteTimeout))
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	u.reverseProxy().ServeHTTP(w, r)
}

// websocket forwards a WebSocket upgrade and then relays the connection
// byte for byte, with the WebSocket idle timeout (G4). Its own code rather
// than httputil.ReverseProxy's: the relay after the upgrade needs the
// idle timeout and byte counts of every other relay.
func (g *gateway) websocket(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, gc *gwConn, u *upstream) {
	if gc != nil {
		gc.setUpstream(u.http.Host)
	}
	if !headerHas(r.Header, "Connection", "upgrade") || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		// A plain request to the WebSocket path: the server answers it.
		if gc != nil {
			gc.setRoute("http", u.domain)
		}
		rc.SetWriteDeadline(time.Now().Add(discoveryWriteTimeout))
		u.reverseProxy().ServeHTTP(w, r)
		return
	}
	if gc != nil {
		gc.setRoute("websocket", u.domain)
	}
	if r.ProtoMajor != 1 {
		http.Error(w, "WebSocket needs HTTP/1.1 (RFC 8441 is not supported)", http.StatusHTTPVersionNotSupported)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), u.gw.ConnectTimeout)
	defer cancel()
	up, err := u.dialHTTP(ctx)
	if err != nil {
		g.websocketFailed(w, r, gc, u, err)
		return
	}
	out := upgradeRequest(r, u.http)
	dl, _ := ctx.Deadline()
	up.SetDeadline(dl)
	upr := bufio.NewReader(up)
	var resp *http.Response
	if err = out.Write(up); err == nil {
		resp, err = http.ReadResponse(upr, out)
	}
	if err != nil {
		up.Close()
		g.websocketFailed(w, r, gc, u, err)
		return
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer up.Close()
		defer resp.Body.Close()
		copyHeader(w.Header(), resp.Header)
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, io.LimitReader(resp.Body, 1<<20))
		return
	}
	client, brw, err := rc.Hijack()
	if err != nil {
		up.Close()
		return
	}
	// The 101 is written by hand: Response.Write would add a
	// Connection: close to an answer without a length.
	var head bytes.Buffer
	fmt.Fprintf(&head, "HTTP/1.1 101 %s\r\n", http.StatusText(http.StatusSwitchingProtocols))
	resp.Header.Write(&head)
	head.WriteString("\r\n")
	// Whatever either side sent early, already buffered, goes first.
	if n := upr.Buffered(); n > 0 {
		b, _ := upr.Peek(n)
		head.Write(b)
	}
	client.SetDeadline(time.Time{})
	up.SetDeadline(time.Time{})
	if _, err := client.Write(head.Bytes()); err != nil {
		client.Close()
		up.Close()
		return
	}
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		if _, err := up.Write(b); err != nil {
			client.Close()
			up.Close()
			return
		}
	}
	relay(gc, client, up, u.gw.WebSocketIdleTimeout)
}

// websocketFailed answers a WebSocket client whose upstream cannot be
// reached with an RFC 7395 stream error (G1): the upgrade, the client's
// <open/> answered, <stream:error><remote-connection-failed/>, <close/>.
func (g *gateway) websocketFailed(w http.ResponseWriter, r *http.Request, gc *gwConn, u *upstream, cause error) {
	if gc != nil {
		gc.end(OutcomeUpstreamFailed, cause)
	}
	// Only an error goes out, so any origin may read it.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{xmppstream.WSSubprotocol}, InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), u.gw.FirstByteTimeout)
	defer cancel()
	from := u.domain
	if _, msg, err := c.Read(ctx); err == nil {
		if h, err := xmppstream.CheckWSClientOpen(msg); err == nil && h.To != "" {
			from = h.To
		}
	}
	for _, m := range [][]byte{
		xmppstream.WSServerOpen(from, streamID()),
		xmppstream.WSStreamError("remote-connection-failed", "the XMPP server behind this gateway cannot be reached"),
		xmppstream.WSClose(),
	} {
		if c.Write(ctx, websocket.MessageText, m) != nil {
			return
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
}

// dialHTTP connects to the HTTP upstream for a WebSocket, TLS included
// for https://.
func (u *upstream) dialHTTP(ctx context.Context) (net.Conn, error) {
	addr := u.http.Host
	if u.http.Port() == "" {
		port := "80"
		if u.http.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.http.Hostname(), port)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil || u.http.Scheme != "https" {
		return c, err
	}
	tc := tls.Client(c, &tls.Config{ServerName: u.http.Hostname(), RootCAs: u.roots, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}})
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}

// hopHeaders are the hop-by-hop headers (RFC 9110 section 7.6.1) not
// forwarded, other than the Connection and Upgrade of the upgrade itself.
var hopHeaders = []string{"Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding"}

// upgradeRequest is the WebSocket upgrade request sent upstream: the
// client's, to the upstream's address, with its Host kept and the
// client's address added to X-Forwarded-For (G3).
func upgradeRequest(r *http.Request, base *url.URL) *http.Request {
	out := r.Clone(context.Background())
	out.URL = &url.URL{Scheme: base.Scheme, Host: base.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	out.RequestURI = ""
	out.Host = r.Host
	out.Body = nil
	out.ContentLength = 0
	for _, tok := range r.Header.Values("Connection") {
		for _, h := range strings.Split(tok, ",") {
			if h = strings.TrimSpace(h); !strings.EqualFold(h, "upgrade") {
				out.Header.Del(h)
			}
		}
	}
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	out.Header.Set("Connection", "Upgrade")
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := out.Header.Values("X-Forwarded-For"); len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		out.Header.Set("X-Forwarded-For", ip)
	}
	out.Header.Set("X-Forwarded-Host", r.Host)
	out.Header.Set("X-Forwarded-Proto", "https")
	return out
}

func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		dst[k] = append(dst[k][:0], vs...)
	}
}

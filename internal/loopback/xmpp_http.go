package loopback

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/coder/websocket"

	"hacx.dev/hacx"
	"hacx.dev/hacx/xmppstream"
)

// httpEndpoint is an endpoint serving HTTP/1.1 over TLS (or plaintext
// when cert is nil) with a handler that records one Contact per request.
type httpEndpoint struct {
	*endpoint
	srv *http.Server

	hmu    sync.Mutex
	hellos map[string]*tls.ClientHelloInfo // by client address, for the ALPN offer
}

// startHTTP serves h on addr. h gets the index of the request's contact,
// already filled with Host, Path, SNI and ALPN; it runs counted in the
// endpoint's wait group, so Close waits for it (hijacked connections
// included).
func startHTTP(addr string, cert *tls.Certificate, h func(w http.ResponseWriter, r *http.Request, i int)) (*httpEndpoint, error) {
	return startHTTPECH(addr, cert, nil, h)
}

// startHTTPECH is startHTTP whose TLS also accepts Encrypted Client Hello
// with keys (E4).
func startHTTPECH(addr string, cert *tls.Certificate, keys []tls.EncryptedClientHelloKey, h func(w http.ResponseWriter, r *http.Request, i int)) (*httpEndpoint, error) {
	e, err := listenLoopback(addr)
	if err != nil {
		return nil, err
	}
	he := &httpEndpoint{endpoint: e, hellos: map[string]*tls.ClientHelloInfo{}}
	he.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			e.mu.Lock()
			if e.closed {
				e.mu.Unlock()
				http.Error(w, "closing", http.StatusServiceUnavailable)
				return
			}
			e.wg.Add(1)
			e.mu.Unlock()
			defer e.wg.Done()
			h(w, r, he.contact(r))
		}),
		// No h2: WebSocket upgrades need HTTP/1.1 (RFC 6455), and one
		// protocol keeps the recorded ALPN simple to reason about.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		BaseContext:  func(net.Listener) context.Context { return e.ctx },
		ErrorLog:     discardLog,
	}
	ln := e.ln
	if cert != nil {
		cfg := &tls.Config{
			GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
				he.hmu.Lock()
				he.hellos[hello.Conn.RemoteAddr().String()] = hello
				he.hmu.Unlock()
				return &tls.Config{Certificates: []tls.Certificate{*cert}, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}, nil
			},
		}
		ln = tls.NewListener(e.ln, withECH(cfg, keys))
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		he.srv.Serve(ln)
	}()
	return he, nil
}

// contact records a new request.
func (he *httpEndpoint) contact(r *http.Request) int {
	ra, _ := net.ResolveTCPAddr("tcp", r.RemoteAddr)
	var remote net.Addr
	if ra != nil {
		remote = ra
	}
	i := he.newContact(remote)
	he.hmu.Lock()
	hello := he.hellos[r.RemoteAddr]
	he.hmu.Unlock()
	he.update(i, func(c *Contact) {
		c.Host, c.Path = r.Host, r.URL.Path
		if v := r.Header.Values("Sec-WebSocket-Protocol"); len(v) > 0 {
			for _, s := range v {
				for p := range strings.SplitSeq(s, ",") {
					c.Subprotocols = append(c.Subprotocols, strings.TrimSpace(p))
				}
			}
		}
		if r.TLS != nil {
			c.TLSDone, c.SNI, c.Negotiated, c.ECHAccepted = true, r.TLS.ServerName, r.TLS.NegotiatedProtocol, r.TLS.ECHAccepted
		}
		if hello != nil && hello.SupportedProtos != nil {
			c.ALPN = slices.Clone(hello.SupportedProtos)
		}
	})
	return i
}

// Close stops the server, ends hijacked WebSocket connections and waits
// for every handler.
func (he *httpEndpoint) Close() error {
	err := he.srv.Close()
	if cerr := he.endpoint.Close(); err == nil {
		err = cerr
	}
	return err
}

// HTTPConfig configures the WebSocket and BOSH endpoints. Its zero value
// is a good client-to-server endpoint at any path, for whatever domain the
// client asks.
type HTTPConfig struct {
	// Domain is the from the server answers with; empty means the domain
	// the client asked for. Another domain makes a wrong-domain endpoint.
	Domain string
	// Kind selects the features sent (client or server).
	Kind hacx.Kind
	// Path, when set, is the only path served; others get 404.
	Path string
	// OmitSubprotocol makes the WebSocket endpoint accept the upgrade
	// without echoing subprotocol "xmpp", which RFC 7395 forbids (C3).
	OmitSubprotocol bool
	// StreamError, when set, answers the opening with this stream error
	// condition (WebSocket) or terminate condition (BOSH).
	StreamError string
	// ECHKeys, when set, make the endpoint accept Encrypted Client Hello
	// with these keys (E4), as XMPPConfig.ECHKeys.
	ECHKeys []tls.EncryptedClientHelloKey
}

// WebSocketServer is a loopback XMPP-over-WebSocket endpoint (RFC 7395)
// over TLS: it upgrades with subprotocol xmpp, reads the client's <open/>,
// answers <open/> and features, and answers <close/> with <close/>.
type WebSocketServer struct {
	*httpEndpoint
	cfg HTTPConfig
}

// StartWebSocket starts a WebSocket endpoint on addr (loopback "ip:port")
// presenting cert.
func StartWebSocket(addr string, cert *tls.Certificate, cfg HTTPConfig) (*WebSocketServer, error) {
	if cert == nil {
		return nil, errors.New("loopback: StartWebSocket needs a certificate")
	}
	s := &WebSocketServer{cfg: cfg}
	he, err := startHTTPECH(addr, cert, cfg.ECHKeys, s.handle)
	if err != nil {
		return nil, err
	}
	s.httpEndpoint = he
	return s, nil
}

func (s *WebSocketServer) handle(w http.ResponseWriter, r *http.Request, i int) {
	fail := func(err error) { s.update(i, func(c *Contact) { c.Err = err.Error() }) }
	if s.cfg.Path != "" && r.URL.Path != s.cfg.Path {
		http.NotFound(w, r)
		return
	}
	opts := &websocket.AcceptOptions{}
	if !s.cfg.OmitSubprotocol {
		opts.Subprotocols = []string{xmppstream.WSSubprotocol}
	}
	ws, err := websocket.Accept(w, r, opts)
	if err != nil {
		fail(err)
		return
	}
	defer ws.CloseNow()
	ws.SetReadLimit(xmppstream.MaxMessageBytes)
	ctx, cancel := context.WithTimeout(s.ctx, endpointTimeout)
	defer cancel()
	_, msg, err := ws.Read(ctx)
	if err != nil {
		fail(err)
		return
	}
	hdr, err := xmppstream.CheckWSClientOpen(msg)
	if err != nil {
		fail(err)
		return
	}
	s.update(i, func(c *Contact) { c.To = hdr.To })
	from := s.cfg.Domain
	if from == "" {
		from = hdr.To
	}
	if err := ws.Write(ctx, websocket.MessageText, xmppstream.WSServerOpen(from, "hacxtest-ws-1")); err != nil {
		fail(err)
		return
	}
	if s.cfg.StreamError != "" {
		ws.Write(ctx, websocket.MessageText, xmppstream.WSStreamError(s.cfg.StreamError, "hacxtest endpoint configured to refuse"))
		ws.Write(ctx, websocket.MessageText, xmppstream.WSClose())
		return
	}
	if err := ws.Write(ctx, websocket.MessageText, WSFeatures(Features(s.cfg.Kind))); err != nil {
		fail(err)
		return
	}
	for {
		_, msg, err := ws.Read(ctx)
		if err != nil {
			return // the client went away, or Close
		}
		if bytes.HasPrefix(bytes.TrimSpace(msg), []byte("<close")) {
			ws.Write(ctx, websocket.MessageText, xmppstream.WSClose())
			ws.Close(websocket.StatusNormalClosure, "")
			return
		}
	}
}

// BOSHServer is a loopback XMPP-over-BOSH connection manager (XEP-0124,
// XEP-0206) over TLS: it answers a session creation request with a
// session and features, and a terminate request with terminate.
type BOSHServer struct {
	*httpEndpoint
	cfg HTTPConfig
}

// StartBOSH starts a BOSH endpoint on addr (loopback "ip:port")
// presenting cert.
func StartBOSH(addr string, cert *tls.Certificate, cfg HTTPConfig) (*BOSHServer, error) {
	if cert == nil {
		return nil, errors.New("loopback: StartBOSH needs a certificate")
	}
	s := &BOSHServer{cfg: cfg}
	he, err := startHTTPECH(addr, cert, cfg.ECHKeys, s.handle)
	if err != nil {
		return nil, err
	}
	s.httpEndpoint = he
	return s, nil
}

func (s *BOSHServer) handle(w http.ResponseWriter, r *http.Request, i int) {
	fail := func(err error) { s.update(i, func(c *Contact) { c.Err = err.Error() }) }
	if s.cfg.Path != "" && r.URL.Path != s.cfg.Path {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "BOSH takes POST", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, xmppstream.MaxMessageBytes+1))
	if err != nil {
		fail(err)
		return
	}
	w.Header().Set("Content-Type", xmppstream.BOSHContentType)
	req, err := ParseBOSHRequest(body)
	if err != nil {
		if bytes.Contains(body, []byte("terminate")) { // the client ending its session
			w.Write(xmppstream.BOSHTerminate(""))
			return
		}
		fail(err)
		w.WriteHeader(http.StatusBadRequest)
		w.Write(xmppstream.BOSHTerminate("bad-request"))
		return
	}
	s.update(i, func(c *Contact) { c.To = req.To })
	if s.cfg.StreamError != "" {
		w.Write(xmppstream.BOSHTerminate(s.cfg.StreamError))
		return
	}
	from := s.cfg.Domain
	if from == "" {
		from = req.To
	}
	sid := make([]byte, 8)
	rand.Read(sid)
	wait := xmppstream.BOSHWait
	if req.Wait > 0 && req.Wait < wait {
		wait = req.Wait
	}
	sess := &xmppstream.BOSHSession{
		SID:    hex.EncodeToString(sid),
		Header: xmppstream.Header{From: from, ID: "hacxtest-bosh-1", Version: "1.0", Lang: "en"},
		Wait:   wait, Hold: 1, Requests: 2, Polling: 5, Inactivity: 60,
		Ver:      xmppstream.BOSHVersion,
		Features: WSFeatures(Features(s.cfg.Kind)),
	}
	w.Write(BOSHSessionBody(sess))
}

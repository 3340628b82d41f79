package loopback

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"hacx.dev/hacx"
	"hacx.dev/hacx/xmppstream"
)

// This file holds echo endpoints: XMPP servers over direct TLS, WebSocket
// and BOSH that carry a whole stream after the opening, so a relay (the
// proxy) can be tested end to end without a real server. They echo every
// element the client sends, answer each stream header (a restart) with a
// new header and features naming the stream's number, answer the
// client's close with their own, and close the stream themselves when
// asked to with <close-me xmlns='urn:hacx:test:echo'/>.

// NSEcho is the namespace of the echo endpoints' own elements: the
// <echo stream='N'/> feature and the <close-me/> request.
const NSEcho = "urn:hacx:test:echo"

// EchoFeatures is the inner XML of the echo endpoints' features for the
// n-th stream of a connection (1 for the first, 2 after one restart...):
// SASL mechanisms, one with channel binding (-PLUS), which a proxy must
// hide, and <echo stream='n'/>.
func EchoFeatures(n int) []byte {
	return []byte("<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1-PLUS</mechanism><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms><echo xmlns='" + NSEcho + "' stream='" + strconv.Itoa(n) + "'/>")
}

// EchoConfig configures an echo endpoint. Its zero value is a
// client-to-server echo for whatever domain the client asks.
type EchoConfig struct {
	// Domain is the from the endpoint answers with; empty means the
	// domain the client asked for.
	Domain string
	// Kind selects jabber:client (zero) or jabber:server streams.
	Kind hacx.Kind
	// BOSHWait is the BOSH session's wait in seconds (0 means 60);
	// BOSHHold its hold (0 means 1; negative means 0, a polling session,
	// with BOSHPolling seconds between empty requests).
	BOSHWait, BOSHHold, BOSHPolling int
	// BOSHLateFeatures sends the first features in the response after the
	// session creation response instead of inside it (XEP-0206 allows
	// both).
	BOSHLateFeatures bool
	// BOSHMaxBody is the largest request body the connection manager
	// takes; a larger one ends the session with bad-request, as real
	// managers refuse oversized bodies. 0 means xmppstream.MaxBOSHBody.
	BOSHMaxBody int
	// BOSHMinPoll is the shortest gap the manager of a polling session
	// (BOSHHold < 0) allows between two empty requests whose first got an
	// empty answer; closer ones end the session with policy-violation
	// (XEP-0124 section 12). 0 means BOSHPolling seconds; managers that
	// advertise no polling interval still refuse being polled back to
	// back, which a positive BOSHMinPoll with BOSHPolling 0 models.
	// The gap runs from the manager's empty answer to the next empty
	// request, so a client must time its polls from the answers: one
	// timing them from its requests polls too often whenever answers
	// take time (see BOSHPollDelay).
	BOSHMinPoll time.Duration
	// BOSHPollDelay is how long the manager of a polling session takes
	// to answer an empty request: a slow manager.
	BOSHPollDelay time.Duration
	// WSHangOnClose makes the WebSocket endpoint answer the client's
	// <close/> and then neither read nor close until it is itself closed:
	// a server that never completes the WebSocket close handshake.
	WSHangOnClose bool
}

func (cfg EchoConfig) from(to string) string {
	if cfg.Domain != "" {
		return cfg.Domain
	}
	return to
}

// echoEnds counts the streams a client of an echo endpoint ended.
type echoEnds struct{ n atomic.Int64 }

// Ends is the number of streams the client ended: </stream:stream> or
// the end of its input over direct TLS, <close/> over WebSocket, a
// terminate request over BOSH.
func (e *echoEnds) Ends() int { return int(e.n.Load()) }

// isCloseMe reports whether an element asks the echo endpoint to close.
func isCloseMe(name xml.Name) bool { return name == xml.Name{Space: NSEcho, Local: "close-me"} }

// EchoXMPPServer is a direct-TLS echo endpoint (XEP-0368 style).
type EchoXMPPServer struct {
	*endpoint
	echoEnds
	cfg  EchoConfig
	cert *tls.Certificate
}

// StartEchoXMPP starts a direct-TLS echo endpoint on addr (loopback
// "ip:port") presenting cert.
func StartEchoXMPP(addr string, cert *tls.Certificate, cfg EchoConfig) (*EchoXMPPServer, error) {
	if cert == nil {
		return nil, errors.New("loopback: StartEchoXMPP needs a certificate")
	}
	e, err := listenLoopback(addr)
	if err != nil {
		return nil, err
	}
	s := &EchoXMPPServer{endpoint: e, cfg: cfg, cert: cert}
	e.serve(s.handle)
	return s, nil
}

func (s *EchoXMPPServer) handle(c net.Conn) {
	i := s.newContact(c.RemoteAddr())
	c.SetDeadline(time.Now().Add(endpointTimeout))
	tc := tls.Server(c, s.tlsConfig(s.cert, "", nil, func(*tls.ClientHelloInfo) int { return i }))
	fail := func(err error) { s.update(i, func(ct *Contact) { ct.Err = err.Error() }) }
	if err := tc.HandshakeContext(s.ctx); err != nil {
		fail(err)
		return
	}
	s.update(i, func(ct *Contact) { ct.TLSDone = true })
	sp := xmppstream.NewSplitter(tc, 0)
	streams := 0
	for {
		tok, err := sp.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				// The client's input ended (a half-close, close_notify):
				// the stream ends with it, and the echo says so.
				s.n.Add(1)
				tc.Write([]byte("</stream:stream>"))
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
				s.update(i, func(ct *Contact) { ct.To = tok.Header.To })
			}
			var b bytes.Buffer
			xmppstream.WriteServerOpen(&b, s.cfg.from(tok.Header.To), "echo-"+strconv.Itoa(streams), s.cfg.Kind)
			xmppstream.WriteFeatures(&b, EchoFeatures(streams))
			out = b.Bytes()
		case xmppstream.TokenElement:
			out = tok.Raw
			if isCloseMe(tok.Name) {
				out = []byte("</stream:stream>")
			}
		case xmppstream.TokenClose:
			s.n.Add(1)
			tc.Write([]byte("</stream:stream>"))
			return
		}
		if len(out) > 0 {
			if _, err := tc.Write(out); err != nil {
				return
			}
		}
		if tok.Kind == xmppstream.TokenElement && isCloseMe(tok.Name) {
			tc.CloseWrite()
			io.Copy(io.Discard, tc) // until the client's own close
			return
		}
	}
}

// EchoWebSocketServer is an RFC 7395 echo endpoint over TLS.
type EchoWebSocketServer struct {
	*httpEndpoint
	echoEnds
	cfg EchoConfig
}

// StartEchoWebSocket starts a WebSocket echo endpoint on addr (loopback
// "ip:port") presenting cert, at any path.
func StartEchoWebSocket(addr string, cert *tls.Certificate, cfg EchoConfig) (*EchoWebSocketServer, error) {
	if cert == nil {
		return nil, errors.New("loopback: StartEchoWebSocket needs a certificate")
	}
	s := &EchoWebSocketServer{cfg: cfg}
	he, err := startHTTP(addr, cert, s.handle)
	if err != nil {
		return nil, err
	}
	s.httpEndpoint = he
	return s, nil
}

func (s *EchoWebSocketServer) handle(w http.ResponseWriter, r *http.Request, i int) {
	fail := func(err error) { s.update(i, func(c *Contact) { c.Err = err.Error() }) }
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{xmppstream.WSSubprotocol}})
	if err != nil {
		fail(err)
		return
	}
	defer ws.CloseNow()
	ws.SetReadLimit(xmppstream.DefaultMaxElement + 4096)
	ctx, cancel := context.WithTimeout(s.ctx, endpointTimeout)
	defer cancel()
	streams := 0
	for {
		_, msg, err := ws.Read(ctx)
		if err != nil {
			return
		}
		tok, err := xmppstream.ParseWSMessage(msg)
		if err != nil {
			fail(err)
			ws.Write(ctx, websocket.MessageText, xmppstream.WSStreamError("not-well-formed", err.Error()))
			ws.Write(ctx, websocket.MessageText, xmppstream.WSClose())
			return
		}
		switch tok.Kind {
		case xmppstream.TokenOpen:
			streams++
			if streams == 1 {
				s.update(i, func(c *Contact) { c.To = tok.Header.To })
			}
			ws.Write(ctx, websocket.MessageText, xmppstream.WSServerOpen(s.cfg.from(tok.Header.To), "echo-ws-"+strconv.Itoa(streams)))
			ws.Write(ctx, websocket.MessageText, WSFeatures(EchoFeatures(streams)))
		case xmppstream.TokenClose:
			s.n.Add(1)
			ws.Write(ctx, websocket.MessageText, xmppstream.WSClose())
			if s.cfg.WSHangOnClose {
				<-ctx.Done()
				return
			}
			// RFC 7395 section 3.6: the WebSocket ends with its own close
			// handshake; a peer that just drops the connection (1006) is
			// recorded.
			if err := ws.Close(websocket.StatusNormalClosure, ""); err != nil {
				fail(fmt.Errorf("loopback: WebSocket close handshake: %w", err))
			}
			return
		case xmppstream.TokenElement:
			if isCloseMe(tok.Name) {
				ws.Write(ctx, websocket.MessageText, xmppstream.WSClose())
				continue // wait for the client's <close/>
			}
			if err := ws.Write(ctx, websocket.MessageText, msg); err != nil {
				return
			}
		}
	}
}

// EchoBOSHServer is a XEP-0124/XEP-0206 echo connection manager over TLS.
// It holds requests as a real manager does: an empty request waits until
// there is something to say, a newer request arrives, or wait passes.
type EchoBOSHServer struct {
	*httpEndpoint
	echoEnds
	cfg EchoConfig

	mu       sync.Mutex
	sessions map[string]*echoSession
	polls    atomic.Int64
}

// Polls is the number of empty requests of polling sessions the manager
// answered empty: a test waits for several to know the polling interval
// was put to the test.
func (s *EchoBOSHServer) Polls() int { return int(s.polls.Load()) }

type echoSession struct {
	from    string
	streams int
	queue   [][]byte
	closing bool   // the session ends with the next response
	end     string // set once ended: the terminate condition ("terminate" for a plain end)
	nextRID uint64 // the rid to process next
	newest  uint64 // highest rid processed
	changed chan struct{}

	requests  int       // the session's requests attribute
	pending   int       // requests received and not yet answered
	lastEmpty time.Time // when the last empty request of a polling session got its empty answer
	emptyAns  bool      // whether the last empty request got an empty answer
}

// terminate ends the session with condition; s.mu is held.
func (e *echoSession) terminate(condition string) {
	if e.end == "" {
		e.end = condition
	}
	e.wake()
}

// StartEchoBOSH starts a BOSH echo endpoint on addr (loopback "ip:port")
// presenting cert, at any path.
func StartEchoBOSH(addr string, cert *tls.Certificate, cfg EchoConfig) (*EchoBOSHServer, error) {
	if cert == nil {
		return nil, errors.New("loopback: StartEchoBOSH needs a certificate")
	}
	s := &EchoBOSHServer{cfg: cfg, sessions: map[string]*echoSession{}}
	he, err := startHTTP(addr, cert, s.handle)
	if err != nil {
		return nil, err
	}
	s.httpEndpoint = he
	return s, nil
}

// Sessions is the number of BOSH sessions still open (created and not
// terminated).
func (s *EchoBOSHServer) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, sess := range s.sessions {
		if sess.end == "" {
			n++
		}
	}
	return n
}

// boshAttrs reads the attributes of a request's <body/>.
func boshAttrs(body []byte) (map[string]string, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	for {
		t, err := d.Token()
		if err != nil {
			return nil, err
		}
		if se, ok := t.(xml.StartElement); ok {
			m := map[string]string{}
			for _, a := range se.Attr {
				key := a.Name.Local
				if a.Name.Space == xmppstream.NSXBOSH {
					key = "xmpp:" + key
				}
				m[key] = a.Value
			}
			return m, nil
		}
	}
}

func (s *EchoBOSHServer) handle(w http.ResponseWriter, r *http.Request, i int) {
	fail := func(err error) { s.update(i, func(c *Contact) { c.Err = err.Error() }) }
	maxBody := s.cfg.BOSHMaxBody
	if maxBody <= 0 {
		maxBody = xmppstream.MaxBOSHBody
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(maxBody)+1))
	if err != nil {
		fail(err)
		return
	}
	w.Header().Set("Content-Type", xmppstream.BOSHContentType)
	if len(body) > maxBody {
		// The session is named in the body, which is cut: end them all
		// (tests run one session per manager).
		fail(fmt.Errorf("loopback: a request body larger than %d bytes", maxBody))
		s.mu.Lock()
		for _, sess := range s.sessions {
			sess.terminate("bad-request")
		}
		s.mu.Unlock()
		w.Write(echoBody(nil, "bad-request"))
		return
	}
	attrs, err := boshAttrs(body)
	if err != nil {
		fail(err)
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	if attrs["sid"] == "" {
		s.create(w, body, i)
		return
	}
	s.mu.Lock()
	sess := s.sessions[attrs["sid"]]
	s.mu.Unlock()
	if sess == nil {
		http.Error(w, "no such session", http.StatusNotFound)
		return
	}
	children, _, err := xmppstream.BOSHChildren(body)
	if err != nil {
		fail(err)
		w.Write(xmppstream.BOSHTerminate("bad-request"))
		return
	}
	rid, _ := strconv.ParseUint(attrs["rid"], 10, 64)
	empty := len(children) == 0 && attrs["xmpp:restart"] != "true" && attrs["type"] != "terminate"
	s.mu.Lock()
	switch {
	case sess.end != "":
	case rid >= sess.nextRID+uint64(sess.requests):
		// XEP-0124 section 14.3: a rid beyond the window.
		fail(fmt.Errorf("loopback: rid %d outside the window (next %d, requests %d)", rid, sess.nextRID, sess.requests))
		sess.terminate("item-not-found")
	case sess.pending >= sess.requests && !empty && attrs["type"] != "terminate":
		// XEP-0124 section 11: more simultaneous requests than allowed.
		fail(fmt.Errorf("loopback: %d requests at once, %d allowed", sess.pending+1, sess.requests))
		sess.terminate("policy-violation")
	case empty && s.cfg.BOSHHold < 0:
		// XEP-0124 section 12: a polling session polled too often.
		gap := s.cfg.BOSHMinPoll
		if gap <= 0 {
			gap = time.Duration(s.cfg.BOSHPolling) * time.Second
		}
		// No slack: the gap is measured from the answer, which the
		// client has received before it may count the interval.
		if sess.emptyAns && time.Since(sess.lastEmpty) < gap {
			fail(fmt.Errorf("loopback: an empty request %v after the empty answer to the last, at least %v required", time.Since(sess.lastEmpty), gap))
			sess.terminate("policy-violation")
		}
		sess.emptyAns = false
	}
	sess.pending++
	defer func() {
		s.mu.Lock()
		sess.pending--
		s.mu.Unlock()
	}()
	// Requests are processed in rid order, as XEP-0124 section 14.2
	// requires of a manager: one that overtook an earlier one waits.
	for rid > sess.nextRID && sess.end == "" {
		ch := sess.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-r.Context().Done():
			return
		}
		s.mu.Lock()
	}
	if rid == sess.nextRID {
		sess.nextRID++
	}
	if sess.end != "" { // a request after the session ended
		s.mu.Unlock()
		w.Write(echoBody(nil, sess.end))
		return
	}
	if rid > sess.newest {
		sess.newest = rid
	}
	if attrs["xmpp:restart"] == "true" {
		sess.streams++
		sess.queue = append(sess.queue, WSFeatures(EchoFeatures(sess.streams)))
	}
	for _, ch := range children {
		if n, err := elementName(ch); err == nil && isCloseMe(n) {
			sess.closing = true
			continue
		}
		sess.queue = append(sess.queue, ch)
	}
	if attrs["type"] == "terminate" {
		sess.closing = true
		s.n.Add(1)
	}
	sess.wake()
	s.mu.Unlock()

	wait := time.Duration(s.wait()) * time.Second
	if s.cfg.BOSHHold < 0 {
		wait = 0 // polling session: answer at once
		if empty && s.cfg.BOSHPollDelay > 0 {
			t := time.NewTimer(s.cfg.BOSHPollDelay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if len(sess.queue) > 0 || sess.closing || sess.end != "" || sess.newest > rid || wait == 0 {
			out := sess.queue
			sess.queue = nil
			if sess.closing {
				sess.end = "terminate"
				sess.wake()
			}
			end := sess.end
			if empty && len(out) == 0 && rid == sess.newest {
				sess.emptyAns = true
				sess.lastEmpty = time.Now()
				if s.cfg.BOSHHold < 0 {
					s.polls.Add(1)
				}
			}
			s.mu.Unlock()
			w.Write(echoBody(out, end))
			return
		}
		ch := sess.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			wait = 0
		case <-r.Context().Done():
			return
		}
	}
}

func (s *EchoBOSHServer) wait() int {
	if s.cfg.BOSHWait > 0 {
		return s.cfg.BOSHWait
	}
	return xmppstream.BOSHWait
}

// wake tells every held request that the session changed; s.mu is held.
func (e *echoSession) wake() {
	close(e.changed)
	e.changed = make(chan struct{})
}

func (s *EchoBOSHServer) create(w http.ResponseWriter, body []byte, i int) {
	req, err := ParseBOSHRequest(body)
	if err != nil {
		s.update(i, func(c *Contact) { c.Err = err.Error() })
		w.WriteHeader(http.StatusBadRequest)
		w.Write(xmppstream.BOSHTerminate("bad-request"))
		return
	}
	s.update(i, func(c *Contact) { c.To = req.To })
	sid := make([]byte, 8)
	rand.Read(sid)
	sess := &echoSession{from: s.cfg.from(req.To), streams: 1, changed: make(chan struct{}), newest: req.RID, nextRID: req.RID + 1}
	hold, polling := 1, 0
	if s.cfg.BOSHHold < 0 {
		hold, polling = 0, s.cfg.BOSHPolling
	} else if s.cfg.BOSHHold > 0 {
		hold = s.cfg.BOSHHold
	}
	resp := &xmppstream.BOSHSession{
		SID:    hex.EncodeToString(sid),
		Header: xmppstream.Header{From: sess.from, ID: "echo-bosh-1", Version: "1.0", Lang: "en"},
		Wait:   s.wait(), Hold: hold, Requests: hold + 1, Polling: polling, Inactivity: 60,
		Ver: xmppstream.BOSHVersion,
	}
	if s.cfg.BOSHLateFeatures {
		sess.queue = append(sess.queue, WSFeatures(EchoFeatures(1)))
	} else {
		resp.Features = WSFeatures(EchoFeatures(1))
	}
	sess.requests = resp.Requests
	s.mu.Lock()
	s.sessions[resp.SID] = sess
	s.mu.Unlock()
	w.Write(BOSHSessionBody(resp))
}

func echoBody(children [][]byte, end string) []byte {
	var b bytes.Buffer
	b.WriteString("<body xmlns='" + xmppstream.NSHTTPBind + "' xmlns:stream='" + xmppstream.NSStream + "'")
	if end != "" {
		b.WriteString(" type='terminate'")
		if end != "terminate" {
			b.WriteString(" condition='" + end + "'")
		}
	}
	if len(children) == 0 {
		b.WriteString("/>")
		return b.Bytes()
	}
	b.WriteByte('>')
	for _, c := range children {
		b.Write(c)
	}
	b.WriteString("</body>")
	return b.Bytes()
}

// elementName is the resolved name of the element in b.
func elementName(b []byte) (xml.Name, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		t, err := d.Token()
		if err != nil {
			return xml.Name{}, fmt.Errorf("loopback: %w", err)
		}
		if se, ok := t.(xml.StartElement); ok {
			return se.Name, nil
		}
	}
}

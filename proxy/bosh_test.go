package proxy_test

import (
	"bytes"
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/proxy"
	"hacx.dev/hacx/xmppstream"
)

// ejabberdBOSH is a BOSH connection manager that orders requests as
// ejabberd 23.01 does (ejabberd_bosh.erl), with an echo for its XMPP side.
// Requests are processed by rid: one that arrives early waits; but
// processing an empty request holds it without looking for the early one
// behind it, which then waits until the server has something to say, and
// an echo server never has (XEP-0124 section 14.2 wants it processed). A
// request sent again while an early copy waits ends the session (ejabberd
// crashes on the duplicate). When the session ends, every request still
// held is answered type='terminate' condition='other-request'. Answers
// are kept for requests sent again (XEP-0124 section 14.3).
type ejabberdBOSH struct {
	wait time.Duration
	// lag delays empty requests on their way into the session, as a
	// network can: a request posted just after one overtakes it.
	lag time.Duration
	srv *httptest.Server

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced on every change
	prev      uint64        // the latest rid processed
	receivers map[uint64]*fakeWaiter
	responses map[uint64][]byte
	out       [][]byte // the XMPP side's elements waiting for a request
	ended     bool
	early     int // requests that reached the session before their predecessor
	bounced   int // held requests answered other-request as the session ended
	attempts  map[uint64]int
	loseNext  string // "request" or "answer": lose it for the next data request's first attempt
	lostRID   uint64
}

type fakeWaiter struct {
	answer chan []byte // buffered: answered at most once
	req    fakeRequest
}

type fakeRequest struct {
	rid                uint64
	children           [][]byte
	terminate, restart bool
}

func (q fakeRequest) empty() bool { return len(q.children) == 0 && !q.terminate && !q.restart }

// startEjabberdBOSH serves the manager on loopback with the bed's
// certificate and returns it with its route.
func startEjabberdBOSH(t *testing.T, b *bed, wait, lag time.Duration) (*ejabberdBOSH, hacx.Route) {
	t.Helper()
	m := &ejabberdBOSH{wait: wait, lag: lag, changed: make(chan struct{}),
		receivers: map[uint64]*fakeWaiter{}, responses: map[uint64][]byte{}, attempts: map[uint64]int{}}
	m.srv = httptest.NewUnstartedServer(m)
	m.srv.TLS = &tls.Config{Certificates: []tls.Certificate{*b.cert}}
	m.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // connections the relay abandons
	m.srv.StartTLS()
	t.Cleanup(m.srv.Close)
	addr := netip.MustParseAddrPort(m.srv.Listener.Addr().String())
	return m, hacx.Route{Method: hacx.MethodBOSH, Addr: addr, SNI: domain, HasSNI: true, Source: hacx.SourceStatic, Index: 1,
		URL: fmt.Sprintf("https://%s:%d/bosh", domain, addr.Port())}
}

func (m *ejabberdBOSH) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	attrs := fakeBodyAttrs(body)
	rid, _ := strconv.ParseUint(attrs["rid"], 10, 64)
	w.Header().Set("Content-Type", xmppstream.BOSHContentType)
	if attrs["sid"] == "" {
		m.mu.Lock()
		m.prev = rid
		m.mu.Unlock()
		w.Write(loopback.BOSHSessionBody(&xmppstream.BOSHSession{
			SID: "fake-sid", Header: xmppstream.Header{From: domain, ID: "fake-1", Version: "1.0", Lang: "en"},
			Wait: int(m.wait / time.Second), Hold: 1, Requests: 2, Polling: 2, Inactivity: 30, MaxPause: 120, Ver: "1.11",
			Features: loopback.WSFeatures(loopback.EchoFeatures(1)),
		}))
		return
	}
	children, term, _ := xmppstream.BOSHChildren(body)
	q := fakeRequest{rid: rid, children: children, terminate: term != "", restart: attrs["restart"] == "true"}
	if q.empty() && m.lag > 0 {
		// In transit (a model of the network, not a wait for the test).
		select {
		case <-time.After(m.lag):
		case <-r.Context().Done():
			return
		}
	}
	m.mu.Lock()
	m.attempts[rid]++
	lose := ""
	if !q.empty() && m.loseNext != "" && m.attempts[rid] == 1 {
		lose, m.loseNext, m.lostRID = m.loseNext, "", rid
	}
	if lose == "request" {
		m.mu.Unlock()
		<-r.Context().Done() // never seen: the client gives up on it
		return
	}
	ch := make(chan []byte, 1)
	m.active(q, ch)
	m.wake()
	m.mu.Unlock()
	select {
	case b := <-ch:
		if lose == "answer" {
			panic(http.ErrAbortHandler) // the connection breaks before the answer
		}
		w.Write(b)
	case <-r.Context().Done():
	}
}

// fakeBodyAttrs reads sid, rid, type and xmpp:restart (as "restart").
func fakeBodyAttrs(body []byte) map[string]string {
	m := map[string]string{}
	d := xml.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := d.Token()
		if err != nil {
			return m
		}
		if se, ok := tok.(xml.StartElement); ok {
			for _, a := range se.Attr {
				m[a.Name.Local] = a.Value
			}
			return m
		}
	}
}

// active is ejabberd's active1: what a request does to the session. m.mu
// is held.
func (m *ejabberdBOSH) active(q fakeRequest, ch chan []byte) {
	switch {
	case m.ended:
		ch <- fakeTerminate("item-not-found")
	case q.rid > m.prev+2:
		m.end(ch, q.rid, fakeTerminate("item-not-found"))
	case q.rid > m.prev+1:
		if m.receivers[q.rid] != nil {
			m.end(ch, q.rid, fakeTerminate("internal-server-error"))
			return
		}
		m.early++
		m.receivers[q.rid] = &fakeWaiter{ch, q}
	case q.rid <= m.prev:
		if b, ok := m.responses[q.rid]; ok {
			ch <- b
			return
		}
		m.dropHolding(q.rid)
		m.receivers[q.rid] = &fakeWaiter{ch, q}
	case q.terminate:
		m.end(ch, q.rid, fakeTerminate(""))
	default:
		m.dropHolding(m.prev)
		m.prev = q.rid
		if len(m.out) > 0 {
			out := m.out
			m.out = nil
			m.replyNext(ch, q.rid, out)
		} else {
			if m.receivers[q.rid] != nil {
				m.end(ch, q.rid, fakeTerminate("internal-server-error"))
				return
			}
			m.receivers[q.rid] = &fakeWaiter{ch, q}
			rid := q.rid
			time.AfterFunc(m.wait, func() {
				m.mu.Lock()
				defer m.mu.Unlock()
				if !m.ended && rid == m.prev {
					m.dropHolding(rid)
					m.wake()
				}
			})
		}
		// The XMPP side answers after the request is held, as
		// ejabberd's c2s process does.
		switch {
		case q.restart:
			m.sendXML([][]byte{loopback.WSFeatures(loopback.EchoFeatures(2))})
		case len(q.children) > 0:
			m.sendXML(q.children)
		}
	}
}

// sendXML is the XMPP side writing: the held request carries it, and the
// request that arrived early behind that one is processed.
func (m *ejabberdBOSH) sendXML(els [][]byte) {
	m.out = append(m.out, els...)
	if w := m.receivers[m.prev]; w != nil {
		delete(m.receivers, m.prev)
		out := m.out
		m.out = nil
		m.replyNext(w.answer, m.prev, out)
	}
}

// replyNext answers rid and processes the request waiting right behind
// it, if any (ejabberd's reply/4).
func (m *ejabberdBOSH) replyNext(ch chan []byte, rid uint64, els [][]byte) {
	m.reply(ch, rid, fakeBody(els))
	var smallest uint64
	for r := range m.receivers {
		if smallest == 0 || r < smallest {
			smallest = r
		}
	}
	if smallest == rid+1 {
		w := m.receivers[smallest]
		delete(m.receivers, smallest)
		m.active(w.req, w.answer)
	}
}

// dropHolding answers the request held for rid, empty.
func (m *ejabberdBOSH) dropHolding(rid uint64) {
	if w := m.receivers[rid]; w != nil {
		delete(m.receivers, rid)
		m.reply(w.answer, rid, fakeBody(nil))
	}
}

func (m *ejabberdBOSH) reply(ch chan []byte, rid uint64, b []byte) {
	ch <- b
	m.responses[rid] = b
	delete(m.responses, rid-2) // ejabberd keeps as many as requests
}

// end answers rid with b and every other request with other-request.
func (m *ejabberdBOSH) end(ch chan []byte, rid uint64, b []byte) {
	m.reply(ch, rid, b)
	m.ended = true
	for r, w := range m.receivers {
		delete(m.receivers, r)
		w.answer <- fakeTerminate("other-request")
		m.bounced++
	}
}

func (m *ejabberdBOSH) wake() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// waitFor waits until cond (called with m.mu held) holds.
func (m *ejabberdBOSH) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		m.mu.Lock()
		ok, ch := cond(), m.changed
		m.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("the manager never saw %s", what)
		}
	}
}

// holdsEmpty reports whether the manager holds an empty request; m.mu is
// held.
func (m *ejabberdBOSH) holdsEmpty() bool {
	w := m.receivers[m.prev]
	return w != nil && w.req.empty()
}

func (m *ejabberdBOSH) counts() (early, bounced int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.early, m.bounced
}

func fakeBody(els [][]byte) []byte {
	if len(els) == 0 {
		return []byte("<body xmlns='" + xmppstream.NSHTTPBind + "'/>")
	}
	return append(append([]byte("<body xmlns='"+xmppstream.NSHTTPBind+"' xmlns:stream='"+xmppstream.NSStream+"'>"), bytes.Join(els, nil)...), "</body>"...)
}

func fakeTerminate(condition string) []byte {
	if condition == "" {
		return []byte("<body type='terminate' xmlns='" + xmppstream.NSHTTPBind + "'/>")
	}
	return xmppstream.BOSHTerminate(condition)
}

// ping sends an iq the echo answers and checks the answer is it.
func ping(t *testing.T, cl *client, id string) {
	t.Helper()
	cl.send("<iq type='get' id='" + id + "'><ping xmlns='urn:xmpp:ping'/></iq>")
	if tok := cl.expect(xmppstream.TokenElement, "iq"); !contains(tok.Raw, "id='"+id+"'") {
		t.Fatalf("echo of %s: %s", id, tok.Raw)
	}
}

// TestRelay_BOSHNoRequestOvertaken: a client that answers each element
// of the server at once, as in a login, through a manager that stalls a
// session whose request overtakes an empty one still on its way. The
// relay must not post an empty request right before the client's next
// element, nor the element right behind an empty request, so that no
// request reaches the manager early and every answer comes.
func TestRelay_BOSHNoRequestOvertaken(t *testing.T) {
	b := newBed(t)
	m, route := startEjabberdBOSH(t, b, 60*time.Second, 30*time.Millisecond)
	_, addr := b.startProxy(t, []hacx.Route{route}, nil)
	cl := openThrough(t, addr)
	for i := range 4 {
		ping(t, cl, fmt.Sprintf("a%d", i))
	}
	// The restart after SASL, then the next steps at once.
	cl.open(domain, hacx.Client)
	cl.expect(xmppstream.TokenOpen, "")
	if f := cl.expect(xmppstream.TokenElement, "features"); !contains(f.Raw, "stream='2'") {
		t.Fatalf("restart features %s", f.Raw)
	}
	for i := range 6 {
		ping(t, cl, fmt.Sprintf("b%d", i))
	}
	if early, _ := m.counts(); early != 0 {
		t.Errorf("%d requests reached the manager before the one ahead of them", early)
	}
	cl.send("</stream:stream>")
	cl.expect(xmppstream.TokenClose, "")
}

// TestRelay_BOSHTerminateCrossingHeldRequest: the client ends its stream
// while the manager holds an empty request; the manager answers that
// request type='terminate' condition='other-request' as the session
// goes, which is the normal end of the session: the client gets
// </stream:stream> and no stream error, and the log says closed.
func TestRelay_BOSHTerminateCrossingHeldRequest(t *testing.T) {
	b := newBed(t)
	m, route := startEjabberdBOSH(t, b, 60*time.Second, 0)
	var logBuf testbed.SyncBuffer
	srv, addr := b.startProxy(t, []hacx.Route{route}, func(s *proxy.Server) {
		s.Logger = slog.New(slog.NewTextHandler(&logBuf, nil))
	})
	cl := openThrough(t, addr)
	ping(t, cl, "p1")
	m.waitFor(t, "an empty request held", m.holdsEmpty)
	cl.send("</stream:stream>")
	if tok, err := cl.next(); err != nil || tok.Kind != xmppstream.TokenClose {
		t.Fatalf("after the client's close: %v %s %q", err, tok.Kind, tok.Raw)
	}
	if tok, err := cl.next(); err != io.EOF {
		t.Errorf("after </stream:stream>: %v %q", err, tok.Raw)
	}
	if _, bounced := m.counts(); bounced != 1 {
		t.Errorf("%d held requests answered other-request, want 1: the test did not cross the terminate", bounced)
	}
	waitNoConns(t, srv)
	if line := waitLog(t, &logBuf, "outcome="); !strings.Contains(line, "outcome=closed") {
		t.Errorf("log line: %s", line)
	}
}

// TestRelay_BOSHLostRequestSentAgain: a request the manager never got
// (the older request it holds stays unanswered past the stall time), or
// whose answer the connection lost, is sent again with its rid (XEP-0124
// section 14.3); the session goes on and the client sees each answer
// once.
func TestRelay_BOSHLostRequestSentAgain(t *testing.T) {
	b := newBed(t)
	for _, loss := range []string{"request", "answer"} {
		t.Run(loss, func(t *testing.T) {
			m, route := startEjabberdBOSH(t, b, 2*time.Second, 0)
			_, addr := b.startProxy(t, []hacx.Route{route}, nil)
			cl := openThrough(t, addr)
			ping(t, cl, "p1")
			m.waitFor(t, "an empty request held", m.holdsEmpty)
			m.mu.Lock()
			m.loseNext = loss
			m.mu.Unlock()
			ping(t, cl, "p2")
			ping(t, cl, "p3")
			m.mu.Lock()
			lost, n := m.lostRID, m.attempts[m.lostRID]
			m.mu.Unlock()
			if lost == 0 || n != 2 {
				t.Errorf("the request whose %s was lost (rid %d) came %d times, want 2", loss, lost, n)
			}
			cl.send("</stream:stream>")
			cl.expect(xmppstream.TokenClose, "")
		})
	}
}

package proxy

import (
	"context"
	"time"

	"hacx.dev/hacx/xmppstream"
)

// boshSlack is added to the session's wait for the deadline of one
// request: the connection manager answers a held request within wait.
const boshSlack = 30 * time.Second

// boshBatch bounds the client elements put into one request: far below
// what connection managers accept (xmppstream.MaxBOSHBody here, often
// less elsewhere), so that a client writing fast gets several requests
// instead of one the manager refuses. A single element larger than this
// still goes alone.
const boshBatch = 64 << 10

// boshQueued bounds the bytes of client elements waiting for a request
// slot: past it the scheduler stops taking elements, the client's side
// blocks and TCP pushes back on the client.
const boshQueued = 2 * boshBatch

// boshMinPoll spaces the empty requests of a polling session (hold 0) that
// names no polling interval: without it such a session would be polled
// back to back.
const boshMinPoll = time.Second

// boshItem is what the client's side hands to the BOSH scheduler, in
// stream order.
type boshItem struct {
	elem    []byte // a namespace-complete element
	restart bool   // the client restarted the stream (after SASL)
	close   bool   // the client ended the stream (or went away)
}

// boshResult is the answer to one request, by its position.
type boshResult struct {
	seq       int
	body      []byte
	err       error
	terminate bool // the request was our terminate
	empty     bool // the request carried nothing: a poll or the held request
}

// relayBOSH translates between the client's byte stream and XEP-0124
// requests. One request is kept waiting at the connection manager for
// the server's data; the client's elements go out at once in a further
// request, within the session's requests limit; empty requests of a
// polling session (hold 0) are spaced by its polling interval.
// Responses reach the client in request order.
func (c *conn) relayBOSH(sp *xmppstream.Splitter, pending *xmppstream.Token) {
	sess := c.up.BOSH.Session
	in := make(chan boshItem)
	schedDone := make(chan struct{})
	put := func(it boshItem) bool {
		select {
		case in <- it:
			return true
		case <-schedDone:
			return false
		}
	}
	toServer := func() {
		for {
			var tok xmppstream.Token
			var err error
			if pending != nil {
				tok, pending = *pending, nil
			} else {
				tok, err = sp.Next()
			}
			if err != nil {
				c.srv.log().Debug("proxy: client side ended", "domain", c.domain, "err", err)
				c.clientReadFailed(err)
				put(boshItem{close: true})
				return
			}
			c.touch()
			switch tok.Kind {
			case xmppstream.TokenOpen:
				// BOSH restarts have no header of their own (XEP-0206):
				// the client gets the session's.
				h := &xmppstream.Header{From: sess.Header.From, ID: sess.Header.ID, Lang: sess.Header.Lang}
				c.writeClient(xmppstream.HeaderFromOpen(h, c.kind))
				if !put(boshItem{restart: true}) {
					return
				}
			case xmppstream.TokenElement:
				if !put(boshItem{elem: sp.Complete(tok)}) {
					return
				}
			case xmppstream.TokenClose:
				put(boshItem{close: true})
				return
			}
		}
	}
	toClient := func() {
		defer close(schedDone)
		c.boshSchedule(in)
	}
	c.runBoth(toServer, toClient)
}

// boshSchedule sends requests and delivers responses until the session
// ends.
func (c *conn) boshSchedule(in <-chan boshItem) {
	s := c.up.BOSH
	sess := s.Session
	maxReq := sess.Requests
	if maxReq <= 0 {
		maxReq = sess.Hold + 1 // XEP-0124 section 7.1
	}
	maxReq = min(maxReq, 2) // one waiting, one carrying data: all a relay needs
	poll := time.Duration(sess.Polling) * time.Second
	if sess.Hold == 0 && poll < boshMinPoll {
		poll = boshMinPoll
	}
	wait := time.Duration(sess.Wait) * time.Second
	results := make(chan boshResult, maxReq)

	var (
		items               []boshItem
		queued              int // bytes of the elements in items
		inflight, seq, next int
		got                 = map[int]boshResult{}
		lastEmpty           time.Time
		pollC               <-chan time.Time
		terminateSent       bool
	)
	post := func(body []byte, term, empty bool) {
		n := seq
		seq++
		inflight++
		c.toServer.Add(int64(len(body)))
		c.srv.Metrics.addBytes(int64(len(body)), 0)
		c.bg.Add(1)
		go func() {
			defer c.bg.Done()
			ctx, cancel := context.WithTimeout(c.ctx, wait+boshSlack)
			defer cancel()
			resp, err := s.Post(ctx, body)
			results <- boshResult{seq: n, body: resp, err: err, terminate: term, empty: empty}
		}()
	}
	for {
	send:
		for inflight < maxReq && !terminateSent {
			switch {
			case len(items) > 0 && items[0].close:
				post(xmppstream.BOSHWrapTerminate(sess.SID, s.NextRID()), true, false)
				terminateSent = true
			case len(items) > 0 && items[0].restart:
				items = items[1:]
				post(xmppstream.BOSHRestart(sess.SID, s.NextRID(), c.domain), false, false)
			case len(items) > 0:
				var elems [][]byte
				size := 0
				for len(items) > 0 && items[0].elem != nil && (len(elems) == 0 || size+len(items[0].elem) <= boshBatch) {
					size += len(items[0].elem)
					elems = append(elems, items[0].elem)
					items = items[1:]
				}
				queued -= size
				post(xmppstream.BOSHWrap(sess.SID, s.NextRID(), elems...), false, false)
			case inflight == 0:
				if sess.Hold == 0 {
					// A polling session: no empty request sooner than
					// the polling interval (XEP-0124 section 12) after
					// the answer to the last one: the manager counts
					// from what it sees, and a count from our request
					// would come short by its answer's delay.
					if left := poll - time.Since(lastEmpty); left > 0 {
						if pollC == nil {
							pollC = time.After(left)
						}
						break send
					}
				}
				post(xmppstream.BOSHWrap(sess.SID, s.NextRID()), false, true)
			default:
				break send
			}
		}
		inC := in
		if queued >= boshQueued {
			inC = nil // back-pressure: the client waits until requests carry the queue away
		}
		select {
		case it, ok := <-inC:
			if !ok {
				in = nil
				continue
			}
			items = append(items, it)
			queued += len(it.elem)
			if it.close {
				in = nil // the client's side is done
			}
		case r := <-results:
			inflight--
			if r.empty {
				// Empty requests go out only with nothing in flight, so
				// this is the answer to the latest one.
				lastEmpty = time.Now()
			}
			got[r.seq] = r
			for {
				r, ok := got[next]
				if !ok {
					break
				}
				delete(got, next)
				next++
				if r.err != nil && r.empty && terminateSent {
					// An empty request that crossed our terminate: the
					// manager may refuse it once the session is gone,
					// and nothing of the client's was in it. A failed
					// request with data goes on to boshDeliver: the
					// client hears that its elements may be lost.
					c.srv.log().Debug("proxy: BOSH empty request failed after the terminate", "domain", c.domain, "err", r.err)
					continue
				}
				if c.boshDeliver(r) {
					return
				}
			}
		case <-pollC:
			pollC = nil
		case <-c.ctx.Done():
			return
		}
	}
}

// boshDeliver writes a response's children to the client; it reports
// whether the session ended.
func (c *conn) boshDeliver(r boshResult) (end bool) {
	if r.err != nil {
		c.srv.log().Debug("proxy: BOSH request failed", "domain", c.domain, "err", r.err, "terminate", r.terminate)
		if r.terminate {
			c.writeClient([]byte("</stream:stream>"))
		} else {
			c.upstreamFailed(r.err)
		}
		return true
	}
	children, term, err := xmppstream.BOSHChildren(r.body)
	if len(children) > 0 || term != "" || r.terminate {
		// The empty answer to a held request comes every wait seconds
		// and is no sign of life: only data or the end counts for the
		// idle timeout.
		c.touch()
	}
	if err != nil {
		c.failClient("undefined-condition", "the upstream BOSH connection manager sent a body that is not XMPP: "+err.Error())
		return true
	}
	sawError := false
	for _, ch := range children {
		if bytesHasPrefixName(ch, "error") {
			sawError = true
		}
		if c.writeClient(ch) != nil {
			return true
		}
	}
	if term == "" && !r.terminate {
		return false
	}
	c.srv.log().Debug("proxy: BOSH session ended", "domain", c.domain, "condition", term, "requested", r.terminate)
	switch {
	case r.terminate || term == "terminate" || sawError || term == "remote-stream-error":
		c.writeClient([]byte("</stream:stream>"))
	default:
		c.failClient(streamCondition(term), "the upstream BOSH connection manager ended the session: "+term)
	}
	closeWrite(c.client())
	return true
}

// streamCondition maps a BOSH terminate condition (XEP-0124 section 17.2)
// to the RFC 6120 stream error a plain client understands.
func streamCondition(bosh string) string {
	switch bosh {
	case "host-gone", "host-unknown", "improper-addressing", "internal-server-error",
		"policy-violation", "remote-connection-failed", "system-shutdown", "undefined-condition":
		return bosh
	case "bad-request":
		return "bad-format"
	case "other-request":
		return "conflict"
	}
	return "undefined-condition"
}

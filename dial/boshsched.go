package dial

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"hacx.dev/hacx/xmppstream"
)

// This file paces a BOSH session's requests (XEP-0124): when to post,
// what goes in each request, what to send again, and in which order the
// answers reach the caller.

// boshBatch bounds the client elements put into one request: far below
// what connection managers accept (xmppstream.MaxBOSHBody here, often
// less elsewhere), so that a caller writing fast gets several requests
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

// boshCoalesce is how long the relay waits, after handing the client an
// answer that carried data, before it posts an empty request. A client
// usually answers at once (the next SASL step, a bind after the features),
// and its element then goes out in that request instead of right behind
// an empty one, where it could overtake it (see boshSpacing). Strophe, the
// mature browser client, paces its requests on a 100 ms idle loop to the
// same effect. The cost is that server data arriving meanwhile waits for
// the next request, at most this long.
const boshCoalesce = 100 * time.Millisecond

// boshSpacing is the least time between an empty request still unanswered
// and the next request. Two requests posted back to back on two
// connections can reach the manager in the wrong order; XEP-0124 section
// 14.2 requires the manager to process them by rid anyway, but ejabberd
// (23.01) then holds the empty one and never processes the later one, and
// the session stalls.
const boshSpacing = 100 * time.Millisecond

// boshResends bounds how often one request is sent again with its rid
// (XEP-0124 section 14.3) before the session counts as lost.
const boshResends = 2

// boshTimeout is how long a request may stay unanswered before it is
// presumed lost and sent again: the manager answers a held request
// within wait, so this is wait and a margin for the network (a tenth of
// wait, as Strophe allows, and at least 2 s).
func boshTimeout(wait time.Duration) time.Duration {
	return wait + max(wait/10, 2*time.Second)
}

// boshStall is how long the older of two requests may stay unanswered
// after the newer went out, in a session that holds one request: the
// manager must answer the held one as soon as the next arrives (XEP-0124
// section 8), so a longer silence means that answer, or the request, was
// lost. A tenth of wait, as Strophe's secondary timeout, and at least 1 s.
func boshStall(wait time.Duration) time.Duration {
	return max(wait/10, time.Second)
}

// boshItem is what the caller's side hands to the scheduler, in stream
// order.
type boshItem struct {
	elem    []byte // a namespace-complete element
	restart bool   // the caller restarted the stream (after SASL)
	close   bool   // the caller ended the stream (or went away)
}

// boshRequest is a request in flight.
type boshRequest struct {
	seq     int // position in the session's requests, from 0
	body    []byte
	term    bool      // our terminate
	empty   bool      // carries nothing: a poll or the held request
	sent    time.Time // when the latest attempt went out
	due     time.Time // when it is presumed lost and sent again
	attempt int       // attempts so far
	cancel  context.CancelFunc
}

// boshResult is the answer to one attempt of one request.
type boshResult struct {
	seq       int
	attempt   int
	body      []byte
	err       error
	terminate bool // the request was our terminate
	empty     bool // the request carried nothing: a poll or the held request
}

// schedule sends requests and delivers responses until the session ends.
// One request is kept waiting at the connection manager for the server's
// data; the caller's elements go out at once in a further request, within
// the session's requests limit; empty requests of a polling session (hold
// 0) are spaced by its polling interval. The empty request waits
// boshCoalesce after an answer with data, and no request follows an
// unanswered empty one within boshSpacing, so that requests reach the
// manager in rid order. A request lost on the way or left unanswered is
// sent again with its rid. Responses are delivered in request order.
// fetchNow posts the first empty request at once: the session creation
// response did not carry the features, which the caller waits for.
func (s *boshStream) schedule(fetchNow bool) {
	defer s.finish(net.ErrClosed) // unless the session ended first
	in := s.in
	bs := s.t.s
	sess := bs.sess
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
	timeout, stall := boshTimeout(wait), boshStall(wait)
	// A manager that holds one request at most answers the older of two
	// as soon as the newer arrives; one that holds more may keep both.
	ordered := sess.Hold <= 1
	results := make(chan boshResult)
	stopped := make(chan struct{}) // attempts still running drop their results
	defer close(stopped)

	var (
		items         []boshItem
		queued        int            // bytes of the elements in items
		flight        []*boshRequest // in seq order
		seq, next     int
		got           = map[int]boshResult{}
		lastEmpty     time.Time // when the answer to the latest empty request came
		quietUntil    time.Time // no empty request before: the client may be about to write
		terminateSent bool
	)
	defer func() {
		for _, r := range flight {
			r.cancel()
		}
	}()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	if !fetchNow {
		// The caller has the first features: its first element is on
		// its way.
		quietUntil = time.Now().Add(boshCoalesce)
	}

	// send posts r's body, again when r was sent before (XEP-0124 section
	// 14.3: same rid, same body); an earlier attempt is abandoned.
	send := func(r *boshRequest) {
		if r.cancel != nil {
			r.cancel()
		}
		r.attempt++
		r.sent = time.Now()
		r.due = r.sent.Add(timeout)
		if ordered && r != flight[len(flight)-1] {
			r.due = r.sent.Add(stall) // a newer one is out: the manager owes this answer now
		}
		ctx, cancel := context.WithCancel(s.ctx)
		r.cancel = cancel
		res := boshResult{seq: r.seq, attempt: r.attempt, terminate: r.term, empty: r.empty}
		body := r.body
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			res.body, res.err = bs.post(ctx, body)
			select {
			case results <- res:
			case <-stopped:
			}
		}()
	}
	post := func(body []byte, term, empty bool) {
		r := &boshRequest{seq: seq, body: body, term: term, empty: empty}
		seq++
		if ordered {
			for _, o := range flight {
				if d := time.Now().Add(stall); d.Before(o.due) {
					o.due = d
				}
			}
		}
		flight = append(flight, r)
		send(r)
	}
	// finish takes r out of flight with its final result and delivers
	// every result now in request order; it reports whether the session
	// ended.
	finish := func(r *boshRequest, res boshResult) bool {
		r.cancel()
		now := time.Now()
		for i, o := range flight {
			if o == r {
				flight = append(flight[:i], flight[i+1:]...)
				break
			}
		}
		for _, o := range flight {
			if o.seq > r.seq {
				o.due = now.Add(timeout) // held by the manager from now on
			}
		}
		if r.empty {
			// Empty requests go out only with nothing in flight, so
			// this is the answer to the latest one.
			lastEmpty = now
		}
		got[res.seq] = res
		for {
			res, ok := got[next]
			if !ok {
				return false
			}
			delete(got, next)
			next++
			if res.err != nil && res.empty && terminateSent {
				// An empty request that crossed our terminate: the
				// manager may refuse it once the session is gone,
				// and nothing of the client's was in it. A failed
				// request with data goes on to boshDeliver: the
				// client hears that its elements may be lost.
				s.t.log.Debug("dial: BOSH empty request failed after the terminate", "domain", s.c.Domain, "err", res.err)
				continue
			}
			end, data := s.deliverResult(res, terminateSent)
			if end {
				return true
			}
			if data {
				quietUntil = time.Now().Add(boshCoalesce)
			}
		}
	}

	for {
		now := time.Now()
		// An empty request still unanswered, posted less than
		// boshSpacing ago, may not have reached the manager yet.
		var spaceUntil time.Time
		for _, r := range flight {
			if t := r.sent.Add(boshSpacing); r.empty && t.After(spaceUntil) {
				spaceUntil = t
			}
		}
		var wake time.Time // when something waits for time to pass
	send:
		for len(flight) < maxReq && !terminateSent {
			switch {
			case len(items) > 0 && now.Before(spaceUntil):
				wake = spaceUntil
				break send
			case len(items) > 0 && items[0].close:
				post(xmppstream.BOSHWrapTerminate(sess.SID, bs.nextRID()), true, false)
				terminateSent = true
			case len(items) > 0 && items[0].restart:
				items = items[1:]
				post(xmppstream.BOSHRestart(sess.SID, bs.nextRID(), s.c.Domain), false, false)
			case len(items) > 0:
				var elems [][]byte
				size := 0
				for len(items) > 0 && items[0].elem != nil && (len(elems) == 0 || size+len(items[0].elem) <= boshBatch) {
					size += len(items[0].elem)
					elems = append(elems, items[0].elem)
					items = items[1:]
				}
				queued -= size
				post(xmppstream.BOSHWrap(sess.SID, bs.nextRID(), elems...), false, false)
			case len(flight) == 0:
				if sess.Hold == 0 {
					// A polling session: no empty request sooner than
					// the polling interval (XEP-0124 section 12) after
					// the answer to the last one: the manager counts
					// from what it sees, and a count from our request
					// would come short by its answer's delay.
					if t := lastEmpty.Add(poll); now.Before(t) {
						wake = t
						break send
					}
				}
				if now.Before(quietUntil) {
					wake = quietUntil
					break send
				}
				post(xmppstream.BOSHWrap(sess.SID, bs.nextRID()), false, true)
				spaceUntil = now.Add(boshSpacing)
			default:
				break send
			}
		}
		for _, r := range flight {
			if wake.IsZero() || r.due.Before(wake) {
				wake = r.due
			}
		}
		var timerC <-chan time.Time
		if !wake.IsZero() {
			timer.Reset(time.Until(wake))
			timerC = timer.C
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
		case res := <-results:
			var r *boshRequest
			for _, o := range flight {
				if o.seq == res.seq {
					r = o
				}
			}
			if r == nil || res.attempt != r.attempt {
				continue // an attempt that a later one replaced
			}
			if res.err != nil && r.attempt <= boshResends && !terminateSent && s.ctx.Err() == nil && lostOnTheWay(res.err) {
				s.t.log.Debug("dial: BOSH request lost, sending it again", "domain", s.c.Domain, "attempt", r.attempt, "err", res.err)
				send(r)
				continue
			}
			if finish(r, res) {
				return
			}
		case <-timerC:
			now := time.Now()
			for i, r := range flight {
				if now.Before(r.due) {
					continue
				}
				if r.attempt > boshResends || terminateSent {
					err := fmt.Errorf("bosh: no answer to a request sent %d times, the last %s ago", r.attempt, now.Sub(r.sent).Round(time.Millisecond))
					if finish(r, boshResult{seq: r.seq, attempt: r.attempt, err: err, terminate: r.term, empty: r.empty}) {
						return
					}
					break // flight changed; the loop comes back here
				}
				// r, or its answer, was lost; or, when a newer
				// request is out, that one was, and the manager
				// holds r until it comes: send both again, oldest
				// first. A manager that has them answers from what
				// it kept (XEP-0124 section 14.3).
				s.t.log.Debug("dial: BOSH request unanswered, sending it again", "domain", s.c.Domain, "attempt", r.attempt, "after", now.Sub(r.sent).Round(time.Millisecond), "with_newer", len(flight)-i-1)
				for _, o := range flight[i:] {
					if o.attempt <= boshResends {
						send(o)
					}
				}
				break
			}
		case <-s.ctx.Done():
			return
		}
	}
}

// lostOnTheWay reports whether err says that a request or its answer was
// lost in transit (a broken or refused connection), which XEP-0124
// section 14.3 cures by sending the request again, rather than an answer
// the manager gave.
func lostOnTheWay(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// deliverResult hands a response's children to the read side; it
// reports whether the session ended and whether the response carried
// data. closing says our terminate is out: an answer ending the session
// then crossed it.
func (s *boshStream) deliverResult(r boshResult, closing bool) (end, data bool) {
	if r.err != nil {
		s.t.log.Debug("dial: BOSH request failed", "domain", s.c.Domain, "err", r.err, "terminate", r.terminate)
		if r.terminate {
			s.deliver([]byte("</stream:stream>"), false)
			s.finish(io.EOF)
		} else {
			// The caller hears that its elements may be lost.
			s.finish(fmt.Errorf("dial: %w", r.err))
		}
		return true, false
	}
	children, term, err := xmppstream.BOSHChildren(r.body)
	if err != nil {
		s.finish(errNotXMPPBody(err))
		return true, false
	}
	sawError := false
	for _, ch := range children {
		if localName(ch) == "error" {
			sawError = true
		}
		if !s.deliver(ch, true) {
			return true, true
		}
	}
	data = len(children) > 0
	if term == "" && !r.terminate {
		return false, data
	}
	s.t.log.Debug("dial: BOSH session ended", "domain", s.c.Domain, "condition", term, "requested", r.terminate, "closing", closing)
	switch {
	case r.terminate || term == "terminate" || sawError || term == "remote-stream-error":
		s.deliver([]byte("</stream:stream>"), false)
	case closing:
		// A request that crossed our terminate, ended by the manager
		// as the session went: ejabberd answers the held one with
		// condition='other-request'. The session ended as the caller
		// asked; no stream error.
		s.deliver([]byte("</stream:stream>"), false)
	default:
		var b bytes.Buffer
		xmppstream.WriteStreamError(&b, streamCondition(term), "the BOSH connection manager ended the session: "+term) //nolint:errcheck // bytes.Buffer never fails
		s.deliver(b.Bytes(), false)
	}
	s.finish(io.EOF)
	return true, data
}

// localName is the local name of the element b starts with.
func localName(b []byte) string {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) < 2 || b[0] != '<' {
		return ""
	}
	end := bytes.IndexAny(b, " \t\r\n/>")
	if end < 0 {
		return ""
	}
	name := b[1:end]
	if i := bytes.IndexByte(name, ':'); i >= 0 {
		name = name[i+1:]
	}
	return string(name)
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

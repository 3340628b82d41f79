package dial

import (
	"context"
	"crypto/tls"
	"sync/atomic"
	"time"

	"hacx.dev/hacx"
)

// attempt is the shared state of one route being tried: the racer reads
// how far it got when it has to report a loser that is still running.
type attempt struct {
	route    hacx.Route
	index    int // position in the routes given to the racer
	start    time.Time
	phase    atomic.Int32
	verified atomic.Value // Verification
	dane     atomic.Value // DANEResult
	tls      atomic.Pointer[tls.ConnectionState]
	plain    atomic.Pointer[[]byte] // STARTTLS: the plaintext features (S1)
	quic     atomic.Pointer[string] // QUIC: the version the handshake settled on (Q1)
	ech      atomic.Value           // ECHResult once a handshake decided it (E4)
	echOuter atomic.Value           // string: the outer ClientHello's public name
	// echRetry is the server's retry ECHConfigList once a handshake was
	// rejected with one; only the attempt's own goroutine touches it.
	// echRetried says so to the racer's goroutine.
	echRetry   []byte
	echRetried atomic.Bool
	// connected and secured are nanoseconds from start to TCP connected
	// and to TLS verified, 0 until then.
	connected, secured atomic.Int64
	// onConnect, if set, is told once TCP is connected: the racer adapts
	// the delay before the next attempt to the round trip (RFC 8305).
	onConnect func(*attempt)
}

// mark records now in *at, once: BOSH's later connections on the same
// route must not move the first one's times.
func (a *attempt) mark(at *atomic.Int64) {
	if at.CompareAndSwap(0, max(int64(time.Since(a.start)), 1)) && at == &a.connected && a.onConnect != nil {
		a.onConnect(a)
	}
}

// fill copies what the attempt learnt into its log entry.
func (a *attempt) fill(at *Attempt) {
	at.Phase, at.Verified = a.getPhase(), a.how()
	at.DANE, _ = a.dane.Load().(DANEResult)
	at.TLS = a.tls.Load()
	if p := a.plain.Load(); p != nil {
		at.PlainFeatures = *p
	}
	if v := a.quic.Load(); v != nil {
		at.QUICVersion = *v
	}
	at.Connect, at.Handshake = time.Duration(a.connected.Load()), time.Duration(a.secured.Load())
	at.ECH, _ = a.ech.Load().(ECHResult)
	if a.route.ECH == nil {
		at.ECH = ECHNone
	}
	at.ECHOuter, _ = a.echOuter.Load().(string)
	at.ECHRetried = a.echRetried.Load()
}

func (a *attempt) setPhase(p Phase) { a.phase.Store(int32(p)) }
func (a *attempt) getPhase() Phase  { return Phase(a.phase.Load()) }
func (a *attempt) how() Verification {
	s, _ := a.verified.Load().(Verification)
	return s
}

type outcome struct {
	a    *attempt
	conn *Conn
	err  error
	end  time.Time
}

// race runs the attempts of rules C3 and C5: route i+1 starts when route
// i has run for the adaptive stagger or has failed, whichever comes first; the first
// verified stream wins and every other attempt is cancelled, its
// connection closed in the background. With all set, it does not stop at
// a success and returns every working connection.
//
// Attempts are reported in start order, which is route order.
func (d *Dialer) race(parent context.Context, domain string, kind hacx.Kind, routes []PlannedRoute, all bool) ([]*Conn, []Attempt, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()

	begin := time.Now()
	lo, hi := d.staggerRange()
	// delay is the adaptive attempt delay for a round trip of rtt (0:
	// unknown): twice it, within [lo, hi].
	delay := func(rtt time.Duration) time.Duration {
		if rtt <= 0 {
			return hi
		}
		return min(max(2*rtt, lo), hi)
	}
	results := make(chan outcome, len(routes)) // buffered: an attempt never blocks on the racer
	connected := make(chan *attempt, len(routes))
	var next time.Time // when the next attempt starts unless something happens first
	var (
		started []*attempt
		log     []Attempt
		wins    []*Conn
		running int
		timer   = time.NewTimer(time.Hour)
		timerC  <-chan time.Time
		stopped bool
	)
	timer.Stop()
	defer timer.Stop()

	launch := func() {
		p := routes[len(started)]
		a := &attempt{route: p.Route, index: len(started), start: time.Now()}
		a.onConnect = func(a *attempt) { connected <- a } // buffered: one send per attempt
		started = append(started, a)
		log = append(log, Attempt{Route: a.route, Start: a.start.Sub(begin), Note: p.Note})
		running++
		d.log().Debug("dial: attempt", "domain", domain, "route", a.route.String())
		go func() {
			c, err := d.try(ctx, a, domain, kind)
			results <- outcome{a: a, conn: c, err: err, end: time.Now()}
		}()
		timerC = nil
		if len(started) < len(routes) && hi > 0 {
			wait := delay(p.RTT)
			next = a.start.Add(wait)
			timer.Reset(wait)
			timerC = timer.C
		}
	}
	record := func(o outcome) {
		at := &log[o.a.index]
		o.a.fill(at)
		at.Duration, at.Err = o.end.Sub(o.a.start), o.err
		if o.err == nil {
			cs := o.conn.TLS // the completed handshake's state
			at.Phase, at.Header, at.TLS = PhaseDone, o.conn.Header, &cs
			d.log().Info("dial: route works", "domain", domain, "route", o.a.route.String(), "duration", at.Duration, "verified", at.Verified)
		} else {
			d.log().Info("dial: route failed", "domain", domain, "route", o.a.route.String(), "phase", at.Phase, "duration", at.Duration, "err", o.err)
		}
	}

	launch()
	for running > 0 {
		select {
		case o := <-results:
			running--
			record(o)
			if o.err == nil {
				if !all {
					cancel()
					d.abandon(started, log, results, running)
					o.conn.Attempts = log
					return []*Conn{o.conn}, log, nil
				}
				wins = append(wins, o.conn)
			}
			// A finished attempt starts the next at once (C5).
			if !stopped && len(started) < len(routes) {
				timer.Stop()
				launch()
			}
		case a := <-connected:
			// The latest attempt's TCP connect measured the round trip:
			// a stall shows after a few of them, not after a fixed
			// quarter second (RFC 8305 section 5).
			if timerC != nil && a == started[len(started)-1] {
				if at := a.start.Add(delay(time.Duration(a.connected.Load()))); at.Before(next) {
					next = at
					timer.Reset(time.Until(at))
				}
			}
		case <-timerC:
			timerC = nil
			if !stopped {
				launch()
			}
		case <-parent.Done():
			// The caller gave up: start nothing more; the running attempts
			// see the same context and report shortly.
			stopped, timerC = true, nil
			parent = context.Background() // a nil Done channel: stop selecting on it
		}
	}
	switch {
	case stopped:
		for _, c := range wins {
			c.Close()
		}
		return nil, log, &Error{Domain: domain, Kind: kind, Attempts: log, Err: context.Cause(ctx)}
	case len(wins) > 0:
		return wins, log, nil
	}
	return nil, log, &Error{Domain: domain, Kind: kind, Attempts: log}
}

// abandon marks the attempts still running when another won as lost (C5)
// and closes whatever they produce without making the winner wait.
func (d *Dialer) abandon(started []*attempt, log []Attempt, results <-chan outcome, running int) {
	now := time.Now()
	for i, a := range started {
		if log[i].Err == nil && log[i].Phase == PhaseNone {
			a.fill(&log[i])
			log[i].Duration, log[i].Err = now.Sub(a.start), ErrLostRace
			if log[i].Phase == PhaseNone {
				// Launched, but its goroutine had not begun to connect
				// (a loaded machine): its first phase is the connect.
				log[i].Phase = PhaseTCP
			}
		}
	}
	if running == 0 {
		return
	}
	go func() {
		for range running {
			if o := <-results; o.conn != nil {
				o.conn.Close()
			}
		}
	}()
}

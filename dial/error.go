package dial

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/xmppstream"
)

// Phase is how far an attempt got. Phases are ordered: an attempt that
// failed in PhaseVerify completed TCP and the TLS handshake.
type Phase int

const (
	// PhaseNone: the attempt had not started (never reported for a started attempt).
	PhaseNone Phase = iota
	// PhaseTCP: connecting TCP to the route's ip:port (A8).
	PhaseTCP
	// PhaseStartTLS: the plaintext stream before TLS on a STARTTLS route:
	// header, features offering <starttls/>, <proceed/> (S1).
	PhaseStartTLS
	// PhaseTLS: the TLS handshake with the route's exact SNI and ALPN (A5, A6).
	PhaseTLS
	// PhaseVerify: accepting the peer's certificate by pins, DANE or WebPKI (A9, A10, X4).
	PhaseVerify
	// PhaseStream: proving it is the XMPP service for the domain: stream
	// header, WebSocket <open/> or BOSH session (C4), HTTP included.
	PhaseStream
	// PhaseDone: a verified stream; the attempt won or would have.
	PhaseDone
)

var phaseNames = [...]string{"none", "tcp", "starttls", "tls", "verify", "stream", "done"}

func (p Phase) String() string {
	if p >= 0 && int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// MarshalText writes the phase name, for --json output.
func (p Phase) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// Sentinel causes an attempt can fail with, for errors.Is.
var (
	// ErrNoRoutes: discovery (or the caller) produced no route at all.
	ErrNoRoutes = errors.New("dial: no routes")
	// ErrLostRace: another route produced a verified stream first and this
	// attempt was cancelled (C5).
	ErrLostRace = errors.New("dial: cancelled, another route won")
	// ErrUnsupportedMethod: the route's method is not one this package speaks (C1).
	ErrUnsupportedMethod = errors.New("dial: unsupported method")
	// ErrNoSubprotocol: the WebSocket server did not echo subprotocol "xmpp"
	// (RFC 7395 section 3.1, C3).
	ErrNoSubprotocol = errors.New("dial: websocket server did not select subprotocol xmpp")
	// ErrNoName: no name to verify the peer against (empty domain).
	ErrNoName = errors.New("dial: no name to verify the certificate against")
)

// Attempt is one route tried: what check and demo print. Err is nil only
// for the winning attempt (and, with DialAll, every working route).
type Attempt struct {
	Route hacx.Route
	// Phase is the last phase reached: where it failed, or PhaseDone.
	Phase Phase
	// Start is when the attempt started, relative to the start of the dial.
	Start time.Duration
	// Duration is how long the attempt ran until it succeeded, failed or
	// was cancelled.
	Duration time.Duration
	// Err is why it failed; nil on success. It is never a *RouteError
	// itself: use (Attempt).RouteError to get one.
	Err error
	// Verified says how the certificate was accepted, once PhaseVerify
	// was passed.
	Verified Verification
	// DANE is what the DANE check (X4) found, "" when it was not
	// consulted (pinned route, DANE off, or the attempt ended before the
	// certificate).
	DANE DANEResult
	// TLS is the attempt's TLS state once the server's certificate was
	// seen (version, cipher, negotiated ALPN, the peer's chain), also
	// when the certificate was then refused; nil before that.
	TLS *tls.ConnectionState
	// Connect and Handshake are the times from the attempt's start until
	// TCP was connected and until TLS with certificate checks completed;
	// 0 when the attempt did not get there.
	Connect, Handshake time.Duration
	// Header is the server's stream header, <open/> or BOSH session
	// attributes of a working route (its From is the domain, C4); nil
	// otherwise.
	Header *xmppstream.Header
	// Note says why the route was tried at this point of the order when
	// memory moved it (PlannedRoute.Note), "" otherwise.
	Note string
	// ECH is what became of Encrypted Client Hello (E4): ECHNone for a
	// route that publishes none, ECHAccepted or ECHRejected once a
	// handshake decided, "" when the attempt ended before that.
	ECH ECHResult
	// ECHOuter is the public name the outer ClientHello carried, the only
	// name an observer saw; "" without ECH.
	ECHOuter string
	// ECHRetried is set when the server rejected the published
	// configuration and the attempt went on with the retry configuration
	// the server sent (E4: used once).
	ECHRetried bool
	// PlainFeatures are the <stream:features/> a STARTTLS route's server
	// offered before TLS, as received: untrusted (S1), for reports only;
	// nil for other methods or when none were read.
	PlainFeatures []byte
	// QUICVersion is the QUIC version a quic route's handshake settled on
	// ("v1", Q1); "" for other methods or before the handshake completed.
	QUICVersion string
}

// DANEResult is what the DANE check of an attempt found (Attempt.DANE,
// X4).
type DANEResult string

// What a DANE check finds.
const (
	DANEMatch    DANEResult = "match"    // a secure TLSA record matched: the certificate was accepted by DANE
	DANEMismatch DANEResult = "mismatch" // secure, usable TLSA records, none matched: the route was refused
	DANENone     DANEResult = "none"     // no secure, usable TLSA record: WebPKI decided
	DANEInsecure DANEResult = "insecure" // TLSA records without DNSSEC validation: ignored, WebPKI decided
	DANEError    DANEResult = "error"    // the lookup failed: WebPKI decided
	DANEBogus    DANEResult = "bogus"    // the validating resolver found the TLSA answer bogus: the route was refused
)

// OK reports whether the attempt produced a verified stream.
func (a Attempt) OK() bool { return a.Err == nil && a.Phase == PhaseDone }

// RouteError returns the attempt's failure as a *RouteError, or nil on
// success.
func (a Attempt) RouteError() *RouteError {
	if a.Err == nil {
		return nil
	}
	return &RouteError{Route: a.Route, Phase: a.Phase, Duration: a.Duration, Err: a.Err}
}

// RouteError is the failure of one route, shaped like *net.OpError: which
// route, how far it got, how long it took, and the cause.
type RouteError struct {
	Route    hacx.Route
	Phase    Phase
	Duration time.Duration
	Err      error
}

func (e *RouteError) Error() string {
	return fmt.Sprintf("%s: %s: %v (%s)", e.Route, e.Phase, e.Err, e.Duration.Round(time.Millisecond))
}

func (e *RouteError) Unwrap() error { return e.Err }

// Error is returned when no route produced a verified stream (C3): it lists
// every route tried with its own reason, one line per route. errors.Is and
// errors.As see each route's *RouteError and its cause.
type Error struct {
	Domain   string
	Kind     hacx.Kind
	Attempts []Attempt
	// Err is set when the dial as a whole stopped for a reason of its own:
	// ErrNoRoutes, a discovery error, or the caller's context.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dial %s (%s): ", e.Domain, e.Kind)
	switch {
	case e.Err != nil && len(e.Attempts) == 0:
		b.WriteString(e.Err.Error())
		return b.String()
	case e.Err != nil:
		fmt.Fprintf(&b, "%v after %d attempt(s):", e.Err, len(e.Attempts))
	case len(e.Attempts) == 1:
		b.WriteString("the only route failed:")
	default:
		fmt.Fprintf(&b, "all %d routes failed:", len(e.Attempts))
	}
	for _, a := range e.Attempts {
		b.WriteString("\n\t")
		if re := a.RouteError(); re != nil {
			b.WriteString(re.Error())
		} else {
			fmt.Fprintf(&b, "%s: %s: ok", a.Route, a.Phase)
		}
	}
	return b.String()
}

// Unwrap returns the dial's own cause (if any) followed by every route's
// *RouteError.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	for _, a := range e.Attempts {
		if re := a.RouteError(); re != nil {
			errs = append(errs, re)
		}
	}
	return errs
}

// TimeoutError is a phase of one attempt that ran out of its own time
// limit (ConnectTimeout, HandshakeTimeout or StreamTimeout): a dead or
// blackholed route. It names what was waited for and which limit expired,
// so a report says "tls handshake: no answer within 5s (handshake
// timeout)" rather than "context deadline exceeded".
//
// errors.Is reports it as both context.DeadlineExceeded and
// os.ErrDeadlineExceeded, whichever the operation itself produced, and it
// has the Timeout method that net.Error callers look for.
type TimeoutError struct {
	// Op is what was waited for: "tcp connect", "tls handshake",
	// "xmpp stream header", "websocket upgrade", "bosh session"...
	Op string
	// Limit is the timeout that expired, Name the Dialer setting it comes
	// from: "connect timeout", "handshake timeout" or "stream timeout".
	Limit time.Duration
	Name  string
	// Err is what the interrupted operation returned.
	Err error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s: no answer within %s (%s)", e.Op, e.Limit, e.Name)
}

func (e *TimeoutError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, context.DeadlineExceeded) and
// errors.Is(err, os.ErrDeadlineExceeded) true whatever the operation's own
// error was: a context deadline (connect, handshake, HTTP) or a past
// I/O deadline (stream reads).
func (e *TimeoutError) Is(target error) bool {
	return target == context.DeadlineExceeded || target == os.ErrDeadlineExceeded
}

// Timeout reports true, as net.Error asks.
func (e *TimeoutError) Timeout() bool { return true }

// streamErr is the error of a step of the XMPP proof (op) that failed with
// err under pctx, the attempt's context bounded by the stream timeout: a
// *TimeoutError when that limit expired, the cancellation's cause (with
// err) when pctx ended otherwise, else err itself.
func streamErr(ctx, pctx context.Context, err error, op string, limit time.Duration) error {
	if te := timedOut(ctx, pctx, err, op, "stream timeout", limit); te != nil {
		return te
	}
	if pctx.Err() != nil {
		return fmt.Errorf("%w (%v)", context.Cause(pctx), err)
	}
	return err
}

// timedOut returns err as a *TimeoutError when the phase's own context
// (pctx, derived from the attempt's ctx with limit) expired while the
// attempt as a whole was still wanted, else nil. A cancelled attempt (lost
// race, caller gave up) keeps its own error.
func timedOut(ctx, pctx context.Context, err error, op, name string, limit time.Duration) *TimeoutError {
	if err == nil || ctx.Err() != nil || !errors.Is(pctx.Err(), context.DeadlineExceeded) {
		return nil
	}
	return &TimeoutError{Op: op, Limit: limit, Name: name, Err: err}
}

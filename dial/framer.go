package dial

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"hacx.dev/hacx/xmppstream"
)

// This file is the write side that WebSocket and BOSH share: the caller
// writes an RFC 6120 byte stream, and these transports carry whole
// elements (RFC 7395 section 3.3, XEP-0206), so the stream is cut into
// top-level elements here, once, by xmppstream's Splitter.

// elementSink is what a message-framed transport does with the caller's
// stream, one top-level unit at a time.
type elementSink interface {
	// restart carries a stream header after the first (a restart after
	// SASL, RFC 6120 section 4.3.3).
	restart(h *xmppstream.Header) error
	// element carries one namespace-complete element.
	element(b []byte) error
	// end carries the end of the caller's stream.
	end() error
	// keepalive carries a whitespace keepalive, if the transport has one.
	keepalive()
}

// errStreamEnded is what a Write after the caller's </stream:stream> (or
// CloseWrite) gets for anything but whitespace.
var errStreamEnded = errors.New("dial: stream conn: write after the end of the stream")

// framer checks and absorbs the caller's first header as on TLS, then
// cuts what follows into top-level elements for its sink. The header's
// own bytes go through the Splitter too, so that it knows the namespaces
// the elements inherit; the TokenOpen they make is the absorbed header,
// not a restart.
type framer struct {
	mu   sync.Mutex // one writer at a time: the Splitter is not concurrent
	sink elementSink
	open *opening // receives the caller header's from
	max  int      // largest element

	wrote   bool // the caller has written: the stream is no longer the dialer's
	abs     headerAbsorber
	in      feed
	sp      *xmppstream.Splitter // nil until the header is absorbed
	skipped bool                 // the absorbed header's TokenOpen was skipped
	ended   bool                 // the end of the stream went to the sink
	err     error                // sticky
}

// write feeds p and hands every unit it completes to the sink. It
// returns once p is used up: an element left unfinished waits in the
// Splitter for the next write.
func (f *framer) write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wrote = true
	if f.err != nil {
		return 0, f.err
	}
	if f.ended {
		if len(bytes.Trim(p, " \t\r\n")) > 0 {
			return 0, errStreamEnded
		}
		return len(p), nil
	}
	data := p
	if f.sp == nil {
		rest, done, err := f.abs.write(p)
		if err != nil {
			f.err = fmt.Errorf("dial: stream conn: %w", err)
			return 0, f.err
		}
		if !done {
			return len(p), nil
		}
		f.open.from.Store(&f.abs.hdr.From)
		f.sp = xmppstream.NewSplitter(&f.in, f.max)
		data = append(f.abs.raw, rest...)
	}
	f.in.b = data
	defer func() { f.in.b = nil }()
	for {
		tok, err := f.sp.Next()
		switch {
		case errors.Is(err, errNeedInput):
			return len(p), nil
		case err == io.EOF && f.ended:
			// What follows </stream:stream> in the same write.
			if len(bytes.Trim(f.sp.Buffered(), " \t\r\n")) > 0 || len(bytes.Trim(f.in.b, " \t\r\n")) > 0 {
				return len(p), errStreamEnded
			}
			return len(p), nil
		case err != nil:
			f.err = fmt.Errorf("dial: stream conn: %w", err)
			return 0, f.err
		}
		if err := f.unit(tok); err != nil {
			f.err = err
			return 0, err
		}
	}
}

// unit hands one token to the sink.
func (f *framer) unit(tok xmppstream.Token) error {
	switch tok.Kind {
	case xmppstream.TokenOpen:
		if !f.skipped {
			f.skipped = true // the absorbed header: the server has the dialer's
			return nil
		}
		return f.sink.restart(tok.Header)
	case xmppstream.TokenElement:
		return f.sink.element(f.sp.Complete(tok))
	case xmppstream.TokenClose:
		f.ended = true
		return f.sink.end()
	case xmppstream.TokenSpace:
		if f.skipped {
			f.sink.keepalive()
		}
	}
	return nil
}

// closeWrite ends the caller's stream unless it has ended. Bytes of an
// unfinished element are dropped: they never reached the server.
func (f *framer) closeWrite() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.endLocked()
}

func (f *framer) endLocked() error {
	if f.ended {
		return nil
	}
	f.ended = true
	return f.sink.end()
}

// tryEnd is closeWrite for Close: it does nothing while a write is under
// way (which may be blocked on a peer that does not read), and reports
// whether the end went out now.
func (f *framer) tryEnd() bool {
	if !f.mu.TryLock() {
		return false
	}
	defer f.mu.Unlock()
	if f.ended {
		return false
	}
	f.endLocked()
	return true
}

// feed hands the Splitter the bytes of one write; once they are used up
// it says so with errNeedInput, which the Splitter returns without ending
// (a read error is not sticky), keeping an unfinished element for the
// next write.
type feed struct{ b []byte }

var errNeedInput = errors.New("dial: waiting for the caller's next write")

func (f *feed) Read(p []byte) (int, error) {
	n := copy(p, f.b)
	f.b = f.b[n:]
	if len(f.b) == 0 {
		return n, errNeedInput
	}
	return n, nil
}

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
)

// clearLine returns to the start of a terminal line and erases it.
const clearLine = "\r\x1b[K"

// progress is a slog.Handler that turns the dialer's records (package
// dial logs "dial: attempt" when a route starts and "dial: route works"
// or "dial: route failed" when it ends) into one live line on a terminal:
// "2 of 4 routes started, 0 work, 1 failed; trying 2. tls 127.0.0.1:5223…".
// check installs it only when stderr is a terminal.
type progress struct {
	w     io.Writer
	total int

	mu                     sync.Mutex
	started, works, failed int
}

func newProgress(w io.Writer, total int) *progress { return &progress{w: w, total: total} }

func (p *progress) Enabled(context.Context, slog.Level) bool { return true }

func (p *progress) Handle(_ context.Context, r slog.Record) error {
	var route string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "route" {
			route = a.Value.String()
			return false
		}
		return true
	})
	p.mu.Lock()
	defer p.mu.Unlock()
	switch r.Message {
	case "dial: attempt":
		p.started++
	case "dial: route works":
		p.works++
	case "dial: route failed":
		p.failed++
	default:
		return nil
	}
	line := fmt.Sprintf("%s%d of %d routes started, %d work, %d failed", clearLine, p.started, p.total, p.works, p.failed)
	if r.Message == "dial: attempt" && route != "" {
		line += fmt.Sprintf("; trying %d. %s…", p.started, route)
	}
	_, err := io.WriteString(p.w, line)
	return err
}

// WithAttrs and WithGroup return p itself: the dialer adds no attributes
// the line uses.
func (p *progress) WithAttrs([]slog.Attr) slog.Handler { return p }

func (p *progress) WithGroup(string) slog.Handler { return p }

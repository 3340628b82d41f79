package testbed

import (
	"context"
	"errors"
)

// Programs get their ports from a pick that closes the socket it found
// free before the program binds it. With go test ./... running packages
// at once, another process can take a port in between: the program then
// exits during start-up (unbound, Pebble), or keeps running without the
// port (Prosody) while the other process answers there. Start-up notices
// both and starts again on new ports.

// errPortTaken marks a start-up failure that new ports may cure.
var errPortTaken = errors.New("a port was taken or the program exited during start-up")

// startAttempts bounds the start-ups on new ports.
const startAttempts = 3

// Port picks; tests replace them to hand out a port they hold.
var (
	pickPorts      = freePorts
	pickUDPTCPPort = freeUDPTCPPort
)

// retryPorts calls start, which picks its own ports, until it succeeds,
// fails for another reason than errPortTaken, ctx ends, or startAttempts
// are used up, and returns what the last call returned. start cleans up
// after a failed attempt.
func retryPorts[T any](ctx context.Context, start func() (T, error)) (T, error) {
	var v T
	var err error
	for range startAttempts {
		if v, err = start(); err == nil || !errors.Is(err, errPortTaken) || ctx.Err() != nil {
			return v, err
		}
	}
	return v, err
}

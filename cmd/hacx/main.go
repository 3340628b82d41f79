// Command hacx discovers, checks, publishes and lints XMPP Connections
// across HTTPS (HACX) documents. Run "hacx help" for the commands.
//
// Every subcommand follows the same conventions: results on stdout,
// diagnostics on stderr, --json for a stable machine-readable schema, and
// these exit codes:
//
//	0  success
//	1  failure
//	2  bad usage or invalid input
//	3  nothing published
//	4  partly working
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr})
	stop()
	os.Exit(code)
}

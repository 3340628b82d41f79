package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Exit codes, the same for every subcommand.
const (
	exitOK      = 0
	exitFail    = 1
	exitUsage   = 2 // bad usage or invalid input
	exitNothing = 3 // nothing published
	exitPartial = 4 // partly working
)

// stdio is where a command reads and writes; tests substitute buffers.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// isTerminal reports whether w is a terminal that may get colour and
// progress output: never when NO_COLOR is set or TERM is dumb.
func isTerminal(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// command is one subcommand. run parses its own flags with newFlags and
// returns nil, an *exitError carrying a specific code, a usage error, or
// any other error (reported on stderr, exit 1).
type command struct {
	name  string
	args  string // synopsis after the name, e.g. "[flags] FILE|-"
	short string // one line for "hacx help"
	long  string // paragraphs for "hacx help CMD" and "hacx CMD -h"
	run   func(ctx context.Context, sio *stdio, args []string) error

	// hidden keeps the command out of "hacx help" (tools for packaging).
	hidden bool

	// pkg names the hacx package whose errors the command reports when it
	// is not the command's own name (gen reports serve's configuration
	// errors): its "pkg: " prefix is dropped from diagnostics like the
	// command's own.
	pkg string
}

var commands = map[string]*command{}

// register adds a command; each command's file calls it from init.
func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("hacx: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// exitError ends a command with a given exit code; msg, when set, is
// printed on stderr, each line prefixed like every diagnostic (diagnose).
type exitError struct {
	code int
	msg  string
	err  error // the cause, for errors.Is/As; may be nil
}

func (e *exitError) Error() string { return e.msg }
func (e *exitError) Unwrap() error { return e.err }

// exitWith ends a command with code and no further message.
func exitWith(code int) error { return &exitError{code: code} }

// exitErr ends a command with code, reporting err.
func exitErr(code int, err error) error { return &exitError{code: code, msg: err.Error(), err: err} }

// diagnose writes msg on w as c's diagnostic: every line starts with
// exactly one "hacx CMD: ". Errors from the package a command is named
// after (or its pkg) already start with that name ("serve: ...",
// "demo: "), and messages built elsewhere may carry the full prefix: both
// are dropped rather than doubled, so the prefix is added here and nowhere
// else.
func diagnose(w io.Writer, c *command, msg string) {
	full := "hacx " + c.name + ": "
	for line := range strings.Lines(strings.TrimRight(msg, "\n")) {
		line = strings.TrimSuffix(line, "\n")
		line = strings.TrimPrefix(line, full)
		line = strings.TrimPrefix(line, c.name+": ")
		if c.pkg != "" {
			line = strings.TrimPrefix(line, c.pkg+": ")
		}
		fmt.Fprintf(w, "%s%s\n", full, line)
	}
}

// diagf is diagnose with a format, for notes and warnings that do not end
// the command.
func diagf(sio *stdio, c *command, format string, a ...any) {
	diagnose(sio.err, c, fmt.Sprintf(format, a...))
}

// usageError is bad usage: the message and a usage hint go to stderr, exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// newFlags returns the flag set for c, writing its help to stderr.
func newFlags(c *command, sio *stdio) *flag.FlagSet {
	fs := flag.NewFlagSet("hacx "+c.name, flag.ContinueOnError)
	fs.SetOutput(sio.err)
	fs.Usage = func() {
		fmt.Fprintf(sio.err, "usage: hacx %s %s\n\n", c.name, c.args)
		if c.long != "" {
			fmt.Fprintf(sio.err, "%s\n\n", strings.TrimSpace(c.long))
		}
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(sio.err, "flags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args allowing flags after positional arguments
// ("hacx lint doc.xml --json"), until a "--" which ends flag parsing.
// It returns the positional arguments; -h gives errHelp.
//
// A bad flag is reported once, by the caller, as a usage error with a hint
// to run -h, not followed by the whole help: flag's own message and usage
// dump are silenced while parsing.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	defer func() { fs.SetOutput(out); fs.Usage = usage }()
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(out)
				usage()
				return nil, errHelp
			}
			return nil, &usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag stops at the first non-flag, or after consuming "--".
		if consumedDashDash(args, rest) {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func consumedDashDash(args, rest []string) bool {
	i := len(args) - len(rest) - 1
	return i >= 0 && args[i] == "--"
}

// errHelp means -h was given: help is printed, exit 0.
var errHelp = errors.New("help requested")

// run dispatches args to a command and maps its result to an exit code.
func run(ctx context.Context, args []string, sio *stdio) int {
	if len(args) == 0 {
		printHelp(sio.err)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help":
		name = "help"
	case "-version", "--version":
		name = "version"
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(sio.err, "hacx: unknown command %q\nRun 'hacx help' for the list of commands.\n", name)
		return exitUsage
	}
	return exitCode(c, sio, c.run(ctx, sio, rest))
}

func exitCode(c *command, sio *stdio, err error) int {
	var ee *exitError
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errHelp):
		return exitOK
	case errors.As(err, &ue):
		diagnose(sio.err, c, ue.msg)
		fmt.Fprintf(sio.err, "Run 'hacx %s -h' for usage.\n", c.name)
		return exitUsage
	case errors.As(err, &ee):
		if ee.msg != "" {
			diagnose(sio.err, c, ee.msg)
		}
		return ee.code
	default:
		diagnose(sio.err, c, err.Error())
		return exitFail
	}
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "hacx reaches and publishes XMPP services through XMPP Connections across HTTPS (HACX).")
	fmt.Fprintln(w, "\nusage: hacx COMMAND [flags] [args]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n, c := range commands {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].short)
	}
	fmt.Fprintln(w, "\nRun 'hacx help COMMAND' or 'hacx COMMAND -h' for a command's flags.")
	fmt.Fprintln(w, "Exit codes: 0 success, 1 failure, 2 bad usage or invalid input, 3 nothing published, 4 partly working.")
}

func init() {
	register(&command{
		name: "help", args: "[COMMAND]", short: "show help for hacx or a command",
		long: `Help lists the commands, or prints a command's help (the same text as
'hacx COMMAND -h') on stdout.`,
		run: func(ctx context.Context, sio *stdio, args []string) error {
			fs := newFlags(commands["help"], sio)
			pos, err := parseFlags(fs, args)
			if err != nil {
				return err
			}
			switch {
			case len(pos) == 0:
				printHelp(sio.out)
				return nil
			case len(pos) > 1:
				return usagef("want at most one COMMAND, got %d arguments", len(pos))
			}
			c, ok := commands[pos[0]]
			if !ok {
				return usagef("unknown command %q", pos[0])
			}
			// A command's help is its -h output; asked for, it belongs on stdout.
			return c.run(ctx, &stdio{in: sio.in, out: sio.out, err: sio.out}, []string{"-h"})
		},
	})
}

// writeJSON writes v as the indented --json document every command prints,
// with <, > and & left as they are (documents and messages quote XML).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

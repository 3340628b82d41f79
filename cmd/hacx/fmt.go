package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"

	"hacx.dev/hacx"
	"hacx.dev/hacx/internal/atomicfile"
)

func init() {
	register(&command{
		name:  "fmt",
		args:  "[-w] [--check] [--force] FILE|- ...",
		short: "rewrite HACX documents in canonical form",
		long: `Fmt rewrites each HACX document canonically: XML declaration, one record per
line with attributes in a fixed order, pins as child elements, unknown
(future) elements kept verbatim. Without -w the result goes to stdout.

Fmt refuses (exit 2) a document that does not parse or whose rewrite would
lose something (a dropped record, an ignored attribute), and lists why on
stderr; --force rewrites anyway. --check writes nothing and exits 1 when a
file is not already canonical.`,
		run: runFmt,
	})
}

func runFmt(_ context.Context, sio *stdio, args []string) error {
	c := commands["fmt"]
	fs := newFlags(c, sio)
	write := fs.Bool("w", false, "write the result back to the file instead of stdout")
	check := fs.Bool("check", false, "only report files that are not canonical (exit 1)")
	force := fs.Bool("force", false, "rewrite even if content would be lost")
	files, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("no file given (use - for standard input)")
	}
	if *write && *check {
		return usagef("-w and --check exclude each other")
	}
	for _, name := range files {
		if *write && name == "-" {
			return usagef("-w cannot rewrite standard input")
		}
	}
	var bad, unformatted bool
	for _, name := range files {
		data, err := readInput(sio, name)
		if err != nil {
			diagf(sio, c, "%v", err)
			bad = true
			continue
		}
		out, err := canonical(data, *force)
		if err != nil {
			for _, p := range problemsOf(err) {
				fmt.Fprintln(sio.err, formatProblem(name, p, false))
			}
			bad = true
			continue
		}
		switch {
		case *check:
			if !bytes.Equal(data, out) {
				fmt.Fprintln(sio.out, name)
				unformatted = true
			}
		case *write:
			if !bytes.Equal(data, out) {
				mode := os.FileMode(0o644)
				if fi, err := os.Stat(name); err == nil {
					mode = fi.Mode().Perm()
				}
				if err := atomicfile.Write(name, out, mode); err != nil {
					return err
				}
			}
		default:
			sio.out.Write(out)
		}
	}
	switch {
	case bad:
		return exitWith(exitUsage)
	case unformatted:
		return exitWith(exitFail)
	}
	return nil
}

// lossError lists the problems that stop a rewrite.
type lossError []hacx.Problem

func (e lossError) Error() string { return fmt.Sprintf("%d problems", len(e)) }

// problemsOf is hacx.ProblemsOf that also unpacks a lossError.
func problemsOf(err error) []hacx.Problem {
	var le lossError
	if errors.As(err, &le) {
		return le
	}
	return hacx.ProblemsOf(err)
}

func canonical(data []byte, force bool) ([]byte, error) {
	doc, err := hacx.Parse(data)
	if err != nil {
		return nil, err
	}
	var lost lossError
	for _, p := range doc.Warnings {
		if p.Lost {
			p.Msg += " (would be lost; --force to rewrite anyway)"
			lost = append(lost, p)
		}
	}
	if len(lost) > 0 && !force {
		return nil, lost
	}
	return hacx.Marshal(doc)
}

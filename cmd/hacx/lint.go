package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"hacx.dev/hacx"
)

func init() {
	register(&command{
		name:  "lint",
		args:  "[--json] [--strict] FILE|- ...",
		short: "check HACX documents against the rules",
		long: `Lint parses each HACX document (a file, or - for standard input) strictly and
reports every problem as

    FILE:LINE:COL: SEVERITY: MESSAGE [RULE]

An error drops a record or makes the whole document unusable; a warning is
something a client ignores or a publisher should change. RULE refers to the
project's protocol rules (H = fetching, E = document, A = attributes).

Exit status: 0 clean (warnings allowed), 1 warnings only and --strict,
2 errors in any document or an unreadable file.

--json writes one object to stdout:

    {"files": [{"file": "x.xml", "records": 5, "ttl": 3600,
                "problems": [{"line": 4, "col": 3, "severity": "error",
                              "rule": "A7", "record": 2, "method": "websocket",
                              "message": "...", "lost": true}]}],
     "errors": 1, "warnings": 0}

"records" and "ttl" are absent when the document does not parse; "error"
(absent otherwise) says why a file could not be read, and such a file
counts as one of the "errors"; "record"
and "method" are absent for document-level problems; "lost" is true when
'hacx fmt' would not keep the reported content.`,
		run: runLint,
	})
}

type lintProblem struct {
	Line     int           `json:"line,omitempty"`
	Col      int           `json:"col,omitempty"`
	Severity hacx.Severity `json:"severity"`
	Rule     string        `json:"rule,omitempty"`
	Record   int           `json:"record,omitempty"`
	Method   string        `json:"method,omitempty"`
	Message  string        `json:"message"`
	Lost     bool          `json:"lost,omitempty"`
}

type lintFile struct {
	File     string        `json:"file"`
	Records  *int          `json:"records,omitempty"`
	TTL      *uint32       `json:"ttl,omitempty"`
	Error    string        `json:"error,omitempty"`
	Problems []lintProblem `json:"problems"`
}

type lintReport struct {
	Files    []lintFile `json:"files"`
	Errors   int        `json:"errors"`
	Warnings int        `json:"warnings"`
}

func runLint(_ context.Context, sio *stdio, args []string) error {
	c := commands["lint"]
	fs := newFlags(c, sio)
	asJSON := fs.Bool("json", false, "write the report as JSON")
	strict := fs.Bool("strict", false, "exit 1 when there are warnings")
	files, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("no file given (use - for standard input)")
	}
	color := !*asJSON && isTerminal(sio.out)
	rep := lintReport{Files: []lintFile{}}
	for _, name := range files {
		data, err := readInput(sio, name)
		if err != nil {
			diagf(sio, c, "%v", err)
			// Counted, so that "errors": 0 always means every file
			// was read and is usable.
			rep.Errors++
			rep.Files = append(rep.Files, lintFile{File: name, Error: err.Error(), Problems: []lintProblem{}})
			continue
		}
		lf := lintFile{File: name, Problems: []lintProblem{}}
		doc, err := hacx.Parse(data)
		if err == nil {
			n := len(doc.Records)
			lf.Records, lf.TTL = &n, &doc.TTL
		}
		for _, p := range hacx.LintDocument(doc, err) {
			if p.Severity == hacx.Error {
				rep.Errors++
			} else {
				rep.Warnings++
			}
			lf.Problems = append(lf.Problems, lintProblem{p.Line, p.Col, p.Severity, p.Rule, p.Record, p.Method, p.Msg, p.Lost})
			if !*asJSON {
				fmt.Fprintln(sio.out, formatProblem(name, p, color))
			}
		}
		rep.Files = append(rep.Files, lf)
	}
	if *asJSON {
		if err := writeJSON(sio.out, rep); err != nil {
			return err
		}
	}
	switch {
	case rep.Errors > 0:
		return exitWith(exitUsage)
	case *strict && rep.Warnings > 0:
		return exitWith(exitFail)
	}
	return nil
}

// formatProblem renders FILE:LINE:COL: SEVERITY: MESSAGE [RULE], the shape
// editors and CI annotators understand.
func formatProblem(file string, p hacx.Problem, color bool) string {
	loc := file
	if p.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", file, p.Line, p.Col)
	}
	sev := p.Severity.String()
	if color {
		code := "33" // yellow
		if p.Severity == hacx.Error {
			code = "31" // red
		}
		sev = "\x1b[" + code + "m" + sev + "\x1b[0m"
	}
	q := p
	q.Line = 0 // the location is already printed
	return fmt.Sprintf("%s: %s: %s", loc, sev, q.String())
}

// readInput reads a named file, or standard input for "-", refusing more
// than a document may hold so a wrong file never fills memory.
func readInput(sio *stdio, name string) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		r = sio.in
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, hacx.MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return data, nil
}

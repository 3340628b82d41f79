// Command testreport turns "go test -json" output into the log test.sh
// shows: package results and the output of failing tests as they come,
// then a summary naming every skipped test with its reason. A skipped
// integration test is otherwise visible only in "go test -v" output,
// and a run that passes while skipping half of them looks like one that
// ran them all.
//
//	go test -json ./... 2>&1 | go run ./internal/testreport -log go-test.log -module hacx.dev/hacx -hint 'to run them all: ...'
//
// It exits 1 when a test, a package or a build failed, 0 otherwise; the
// whole verbose output goes to the -log file, and the summary also to the
// -summary file.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	logPath := flag.String("log", "", "write every line of test output (as go test -v prints it) to this file")
	module := flag.String("module", "", "module path shown as . in package names")
	hint := flag.String("hint", "", "printed after the skipped tests: how to run them")
	summaryPath := flag.String("summary", "", "also write the summary to this file (to show it again at the end of a longer log)")
	flag.Parse()
	os.Exit(run(os.Stdin, os.Stdout, *logPath, *summaryPath, *module, *hint))
}

// run reports on in and returns the exit code: 2 when the input or the
// log cannot be read or written, 1 when anything failed.
func run(in io.Reader, out io.Writer, logPath, summaryPath, module, hint string) int {
	r := &Report{Module: module, Out: out}
	var log *bufio.Writer
	if logPath != "" {
		f, err := os.Create(logPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
			return 2
		}
		defer f.Close()
		log = bufio.NewWriter(f)
		r.Log = log
	}
	if err := feed(r, in); err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		return 2
	}
	if log != nil {
		if err := log.Flush(); err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
			return 2
		}
		fmt.Fprintf(out, "full log: %s\n", logPath)
	}
	r.Summary(out, hint)
	if summaryPath != "" {
		var b strings.Builder
		r.Summary(&b, hint)
		if err := os.WriteFile(summaryPath, []byte(b.String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
			return 2
		}
	}
	if !r.OK() {
		return 1
	}
	return 0
}

// feed gives every line of in to r; lines of any length (a test may print
// a long one) are read whole.
func feed(r *Report, in io.Reader) error {
	br := bufio.NewReaderSize(in, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			r.Line(line)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

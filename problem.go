package hacx

import (
	"fmt"
	"strings"
)

// Severity grades a Problem.
type Severity int

const (
	// Warning: the document or record is usable, but something is ignored
	// or not as recommended.
	Warning Severity = iota
	// Error: a record is dropped (E2) or the whole document is unusable.
	Error
)

func (s Severity) String() string {
	if s == Error {
		return "error"
	}
	return "warning"
}

// MarshalText lets encoders write "error"/"warning".
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads "error" or "warning".
func (s *Severity) UnmarshalText(b []byte) error {
	switch string(b) {
	case "error":
		*s = Error
	case "warning":
		*s = Warning
	default:
		return fmt.Errorf("hacx: unknown severity %q", b)
	}
	return nil
}

// Problem is one finding about a document, located by line and column
// (1-based; 0 when unknown) and tied to the rule it breaks.
type Problem struct {
	Line, Col int
	Severity  Severity
	Rule      string // rule ID such as "A7"; empty for general XML errors
	Record    int    // 1-based record index among the <hacx> children; 0 for the document
	Method    string // element name of that record, if any
	Msg       string
	// Lost is set when the thing reported is not kept in the Document (a
	// dropped record, an ignored attribute), so rewriting the document
	// with Marshal would lose it.
	Lost bool
}

func (p Problem) Error() string { return p.String() }

// String renders "line:col: record 3 (websocket): msg [A7]".
func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "%d:%d: ", p.Line, p.Col)
	}
	if p.Record > 0 {
		fmt.Fprintf(&b, "record %d (%s): ", p.Record, p.Method)
	}
	b.WriteString(p.Msg)
	if p.Rule != "" {
		fmt.Fprintf(&b, " [%s]", p.Rule)
	}
	return b.String()
}

// SyntaxError is returned by Parse when the input is not a well-formed,
// safe HACX document at all (E3, H6). It says where and what.
type SyntaxError struct {
	Line, Col int
	Rule      string
	Msg       string
}

func (e *SyntaxError) Error() string {
	s := fmt.Sprintf("hacx: line %d:%d: %s", e.Line, e.Col, e.Msg)
	if e.Rule != "" {
		s += " [" + e.Rule + "]"
	}
	return s
}

// Problem converts the error into an Error-severity Problem.
func (e *SyntaxError) Problem() Problem {
	return Problem{Line: e.Line, Col: e.Col, Severity: Error, Rule: e.Rule, Msg: e.Msg}
}

package safexml

import "fmt"

// SyntaxError is the error of Next: input that is not well-formed XML, or
// that the policy of this package refuses (H6). It says where and what, in
// the words and at the positions encoding/xml's strict Decoder uses.
type SyntaxError struct {
	// Offset is where in the input the problem was found.
	Offset int
	// Line is 1-based; Col counts bytes from 1. Col is 0 when the problem
	// was found on the newline that ends Line (a byte looked at and put
	// back), as encoding/xml reports it.
	Line, Col int
	// Rule is the project rule the input breaks: "H6" for what is refused
	// as unsafe (a declaration, a processing instruction, an entity other
	// than the predefined ones, nesting too deep), "E3" for what is not
	// well-formed, "" for an XML version other than 1.0 or an encoding
	// other than UTF-8.
	Rule string
	// Msg says what; it does not repeat the position.
	Msg string
}

func (e *SyntaxError) Error() string {
	s := fmt.Sprintf("xml: line %d:%d: %s", e.Line, e.Col, e.Msg)
	if e.Rule != "" {
		s += " [" + e.Rule + "]"
	}
	return s
}

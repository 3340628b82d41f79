package hacx

import "io"

// MaxSize is the largest document Parse accepts (H6).
const MaxSize = 64 << 10

// Parse reads a HACX document. A document that is not well-formed, unsafe
// (DOCTYPE, entity declarations, processing instructions, too deep, over
// MaxSize) or not rooted at <hacx> gives a *SyntaxError. Invalid records are
// dropped and reported in Document.Warnings (E2), so a nil error means the
// document is usable, possibly with no records.
func Parse(data []byte) (*Document, error) {
	panic("not yet")
}

// ParseReader is Parse on at most MaxSize bytes read from r; a longer input
// is an error, never silently truncated.
func ParseReader(r io.Reader) (*Document, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

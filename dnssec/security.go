package dnssec

// Security is how far an answer was proven (RFC 4033 section 5, rule D1).
type Security uint8

// The outcomes of validation, from best to worst; the zero value is
// Indeterminate, so an answer nobody validated never reads as secure.
const (
	// Indeterminate: nothing could be proven either way (no DNSSEC data
	// for the trust anchor from the upstream server, or no anchor).
	Indeterminate Security = iota
	// Insecure: proven to come from an unsigned zone.
	Insecure
	// Secure: a chain of valid signatures from a trust anchor.
	Secure
	// Bogus: the chain should hold and does not.
	Bogus
)

func (s Security) String() string {
	switch s {
	case Insecure:
		return "insecure"
	case Secure:
		return "secure"
	case Bogus:
		return "bogus"
	}
	return "indeterminate"
}

// rank orders the outcomes by how much they weaken an answer made of
// several parts (a CNAME chain): the weakest part decides.
func (s Security) rank() int {
	switch s {
	case Secure:
		return 0
	case Insecure:
		return 1
	case Indeterminate:
		return 2
	}
	return 3
}

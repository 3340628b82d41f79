package hacx

// Marshal writes d in canonical form: an XML declaration, <hacx ttl=...>,
// one record per line in document order with attributes in a fixed order,
// pins as child elements, then extensions verbatim. Parse(Marshal(d))
// yields the same TTL, Records and Extensions.
func Marshal(d *Document) ([]byte, error) {
	panic("not yet")
}

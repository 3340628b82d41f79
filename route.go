package hacx

import (
	"fmt"
	"net/netip"
)

// Source says where a route was discovered.
type Source string

// Discovery sources, in the order of trust the project gives them.
const (
	SourceHACX      Source = "hacx"       // a HACX document (H1)
	SourceHostMeta2 Source = "host-meta2" // Host Meta 2 host-meta.json (X3)
	SourceHostMeta  Source = "host-meta"  // XEP-0156 host-meta / host-meta.json (X2)
	SourceSRV       Source = "srv"        // XEP-0368 / RFC 6120 SRV records (X1)
	SourceStatic    Source = "static"     // given by the caller
)

// Route is one connection candidate, whatever source produced it: the one
// type discovery hands to dialing.
type Route struct {
	Method Method
	Addr   netip.AddrPort // where the TCP connection goes (A8)

	// SNI and HasSNI, ALPN, URL and Pins mean what they mean in Record.
	SNI    string
	HasSNI bool
	ALPN   []byte
	URL    string
	Pins   []Pin

	Priority uint16
	Weight   uint16

	Source Source
	// Host is the DNS name the address was resolved from (an SRV target, a
	// URL host), if any: DANE TLSA records are looked up under it (X4).
	Host string
	// Index is the 1-based position of the record in its source document
	// (or SRV answer), for messages such as "record 3 (websocket)".
	Index int
}

// Route converts a record into a route from source src at position index.
func (r Record) Route(src Source, index int) Route {
	return Route{
		Method: r.Method, Addr: r.Addr(),
		SNI: r.SNI, HasSNI: r.HasSNI, ALPN: r.ALPN, URL: r.URL, Pins: r.Pins,
		Priority: r.Priority, Weight: r.Weight,
		Source: src, Index: index,
	}
}

// Routes converts every record of d, in document order.
func (d *Document) Routes(src Source) []Route {
	rs := make([]Route, len(d.Records))
	for i, r := range d.Records {
		rs[i] = r.Route(src, i+1)
	}
	return rs
}

// String names the route as messages do: "hacx record 3 (websocket 192.0.2.1:443)".
func (r Route) String() string {
	s := fmt.Sprintf("%s %s", r.Method, r.Addr)
	if r.URL != "" {
		s += " " + r.URL
	}
	if r.Index > 0 {
		return fmt.Sprintf("%s record %d (%s)", r.Source, r.Index, s)
	}
	return fmt.Sprintf("%s (%s)", r.Source, s)
}

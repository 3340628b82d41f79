package hacx

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// Source says where a route was discovered.
type Source string

// Discovery sources, in the order of trust the project gives them.
const (
	SourceHACX      Source = "hacx"       // a HACX document (H1)
	SourceHostMeta2 Source = "host-meta2" // Host Meta 2 host-meta.json (X3)
	SourceHostMeta  Source = "host-meta"  // XEP-0156 host-meta / host-meta.json (X2)
	SourceSRV       Source = "srv"        // XEP-0368 / RFC 6120 SRV records (X1)
	SourceFallback  Source = "fallback"   // the domain itself when nothing is published (F1)
	SourceStatic    Source = "static"     // given by the caller
)

// Route is one connection candidate, whatever source produced it: the one
// type discovery hands to dialing.
type Route struct {
	Method Method
	// Addr is where the TCP connection goes (A8). A route by name has no
	// address, only Addr's port: the connection goes to Host on that port
	// through a proxy that resolves it (the F1 fallback over socks5h, T1).
	Addr netip.AddrPort

	// SNI and HasSNI, ALPN, URL and Pins mean what they mean in Record.
	SNI    string
	HasSNI bool
	ALPN   []byte
	URL    string
	Pins   []Pin
	// ECH is the ECHConfigList to encrypt the ClientHello with, nil for
	// none (E4): a route that has one is dialed with it or not at all.
	ECH []byte

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

// Dest is the "host:port" to connect to: Addr, or Host and Addr's port
// for a route by name.
func (r Route) Dest() string {
	if !r.Addr.Addr().IsValid() && r.Host != "" {
		return net.JoinHostPort(r.Host, strconv.Itoa(int(r.Addr.Port())))
	}
	return r.Addr.String()
}

// Route converts a record into a route from source src at position index.
func (r Record) Route(src Source, index int) Route {
	return Route{
		Method: r.Method, Addr: r.Addr(),
		SNI: r.SNI, HasSNI: r.HasSNI, ALPN: r.ALPN, URL: r.URL, Pins: r.Pins, ECH: r.ECH,
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
	s := fmt.Sprintf("%s %s", r.Method, r.Dest())
	if r.URL != "" {
		s += " " + r.URL
	}
	if r.Index > 0 {
		return fmt.Sprintf("%s record %d (%s)", r.Source, r.Index, s)
	}
	return fmt.Sprintf("%s (%s)", r.Source, s)
}

// RouteReport is the form a report shows a Route in (Route.Report), the
// one hacx lookup and hacx check share in their JSON. Its members
// are stable. The rule for absence is one for all: numbers and booleans
// are always present, strings are left out when empty, pins is always an
// array.
//
//   - sni is left out when the route sends no SNI (A5); a route that
//     sends one never has it empty (A5 makes sni="" invalid).
//   - alpn is left out when the route sends no ALPN (A6); a protocol ID
//     that is not printable ASCII is written "base64:" + its base64.
//   - pins holds one string per acceptable key (A9), its digests as
//     "hash=base64", several separated by a space; [] when unpinned.
//   - index is the 1-based position of the record in its source, 0 for a
//     route given by the caller; host is the DNS name the address came
//     from (X4), left out when none.
//   - ech is the route's ECHConfigList in base64 (E4), left out when none.
type RouteReport struct {
	Source   Source   `json:"source"`
	Index    int      `json:"index"`
	Method   Method   `json:"method"`
	IP       string   `json:"ip"`
	Port     uint16   `json:"port"`
	Host     string   `json:"host,omitempty"`
	SNI      string   `json:"sni,omitempty"`
	ALPN     string   `json:"alpn,omitempty"`
	URL      string   `json:"url,omitempty"`
	Pins     []string `json:"pins"`
	Priority uint16   `json:"priority"`
	Weight   uint16   `json:"weight"`
	ECH      string   `json:"ech,omitempty"`
}

// Report is r in its JSON form.
func (r Route) Report() RouteReport {
	rr := RouteReport{Source: r.Source, Index: r.Index, Method: r.Method,
		Port: r.Addr.Port(), Host: r.Host, URL: r.URL, Pins: make([]string, 0, len(r.Pins)),
		Priority: r.Priority, Weight: r.Weight}
	if r.Addr.IsValid() {
		rr.IP = r.Addr.Addr().String()
	}
	if r.HasSNI {
		rr.SNI = r.SNI
	}
	if r.ALPN != nil {
		rr.ALPN = alpnText(r.ALPN)
	}
	for _, p := range r.Pins {
		rr.Pins = append(rr.Pins, p.String())
	}
	if r.ECH != nil {
		rr.ECH = base64.StdEncoding.EncodeToString(r.ECH)
	}
	return rr
}

// alpnText shows a protocol ID as text when it is printable ASCII, else
// as "base64:" and the base64 a document would carry (A6): an ID is
// bytes, and a report must not carry raw control bytes.
func alpnText(b []byte) string {
	if !printableASCII(string(b)) {
		return "base64:" + base64.StdEncoding.EncodeToString(b)
	}
	return string(b)
}

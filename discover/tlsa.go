package discover

import (
	"context"
	"errors"

	"github.com/miekg/dns"
)

// LookupTLSA queries the TLSA records at _port._tcp.host (X4) with the
// DNSSEC OK bit set. secure is true only when the answer carries the AD bit
// and came from a resolver trusted to validate: one on loopback or one set
// explicitly in DNSServer. A name without TLSA records gives no records and
// no error.
func (r *Resolver) LookupTLSA(ctx context.Context, host string, port uint16) (recs []*dns.TLSA, secure bool, err error) {
	return nil, false, errors.New("discover: not yet")
}

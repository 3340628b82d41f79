package dnssec

import (
	"errors"
	"fmt"

	"github.com/miekg/dns"
)

// RcodeError is an answer with an rcode other than NOERROR and NXDOMAIN.
type RcodeError struct {
	Name  string
	Type  uint16
	Rcode int
	// EDE is the server's extended DNS error (RFC 8914), "" if none.
	EDE string
}

func (e *RcodeError) Error() string {
	s := fmt.Sprintf("%s %s: %s", e.Name, dns.TypeToString[e.Type], dns.RcodeToString[e.Rcode])
	if e.EDE != "" {
		s += ", extended error " + e.EDE
	}
	return s
}

// QueryError is a query of the chain of trust that got no answer.
type QueryError struct {
	Name string
	Type uint16
	Err  error
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("%s %s: %v", e.Name, dns.TypeToString[e.Type], e.Err)
}

func (e *QueryError) Unwrap() error { return e.Err }

// query asks name/qtype with DO and CD set (RFC 4035 sections 3.2.1 and
// 3.2.2): the upstream returns signatures, and does not withhold what it
// finds bogus, so that this validator reaches its own verdict with a
// reason.
func (l *lookup) query(name string, qtype uint16) (*dns.Msg, error) {
	k := answerKey{name, qtype}
	if m, ok := l.asked[k]; ok {
		return m, nil
	}
	if l.queries++; l.queries > maxQueries {
		return nil, &QueryError{Name: name, Type: qtype, Err: errBudget}
	}
	m := newQuery(name, qtype, true)
	resp, err := l.v.Exchanger.Exchange(l.ctx, m)
	if err != nil {
		return nil, &QueryError{Name: name, Type: qtype, Err: err}
	}
	if len(resp.Question) != 1 || !equalNames(resp.Question[0].Name, name) || resp.Question[0].Qtype != qtype {
		return nil, &QueryError{Name: name, Type: qtype, Err: errors.New("answer to another question")}
	}
	if resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError {
		return nil, &RcodeError{Name: name, Type: qtype, Rcode: resp.Rcode, EDE: ExtendedError(resp)}
	}
	l.asked[k] = resp
	return resp, nil
}

// newQuery is a recursive query for name/qtype with EDNS0 and DO (a
// 1232-byte UDP size, the DNS flag day 2020 value that avoids IP
// fragmentation); cd sets the CD bit.
func newQuery(name string, qtype uint16, cd bool) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	m.CheckingDisabled = cd
	m.SetEdns0(1232, true)
	return m
}

// NewQuery is the query hacx sends for name/qtype: recursion desired,
// EDNS0 with the DO bit; cd sets the CD bit (a validating client does).
func NewQuery(name string, qtype uint16, cd bool) *dns.Msg { return newQuery(name, qtype, cd) }

// ExtendedError formats the first RFC 8914 extended DNS error of resp,
// or "" when there is none.
func ExtendedError(resp *dns.Msg) string {
	opt := resp.IsEdns0()
	if opt == nil {
		return ""
	}
	for _, o := range opt.Option {
		if e, ok := o.(*dns.EDNS0_EDE); ok {
			s := fmt.Sprint(e.InfoCode)
			if name, ok := dns.ExtendedErrorCodeToString[e.InfoCode]; ok {
				s += " (" + name + ")"
			}
			if e.ExtraText != "" {
				s += ": " + e.ExtraText
			}
			return s
		}
	}
	return ""
}

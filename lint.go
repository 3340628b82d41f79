package hacx

import (
	"errors"
	"sort"
)

// Lint reports every problem of a document: the fatal one if it does not
// parse, otherwise what Parse dropped or ignored plus advice a publisher
// should follow (both address families, a sensible ttl). Problems are
// sorted by position.
func Lint(data []byte) []Problem { return LintDocument(Parse(data)) }

// LintDocument is Lint on what Parse returned, for a caller that also
// needs the Document and should not parse the data twice.
func LintDocument(doc *Document, err error) []Problem {
	if err != nil {
		return ProblemsOf(err)
	}
	probs := append([]Problem(nil), doc.Warnings...)
	if !HasErrors(probs) {
		// Advice on a broken document would mostly echo its errors (a
		// dropped IPv4 record leaves "only IPv6 listed").
		probs = append(probs, advise(doc)...)
	}
	sort.SliceStable(probs, func(i, j int) bool {
		if probs[i].Line != probs[j].Line {
			return probs[i].Line < probs[j].Line
		}
		return probs[i].Col < probs[j].Col
	})
	return probs
}

// ProblemsOf turns an error from Parse or Marshal into Problems, so that
// tools report it like any other finding: a *SyntaxError keeps its
// position and rule, any other error becomes one Error with its text. A
// nil error has no problems.
func ProblemsOf(err error) []Problem {
	if err == nil {
		return nil
	}
	var se *SyntaxError
	if errors.As(err, &se) {
		return []Problem{se.Problem()}
	}
	return []Problem{{Severity: Error, Msg: err.Error()}}
}

// advise gives the publisher-side recommendations that do not make the
// document invalid.
func advise(doc *Document) []Problem {
	var out []Problem
	if len(doc.Records) == 0 {
		out = append(out, Problem{Severity: Warning, Rule: "E2", Msg: "the document lists no usable record: clients cannot connect through it"})
		return out
	}
	var v4, v6, draft bool
	for _, r := range doc.Records {
		v4 = v4 || r.IP.Unmap().Is4()
		v6 = v6 || r.IP.Is6() && !r.IP.Is4In6()
		draft = draft || r.Method != MethodQUIC
	}
	if !draft {
		out = append(out, Problem{Severity: Warning, Rule: "E1", Msg: "every record is <quic>, a hacx extension (Q1): clients that know only the draft find no way in; add <tls>, <websocket> or <bosh>"})
	}
	switch {
	case v4 && !v6:
		out = append(out, Problem{Severity: Warning, Rule: "A1", Msg: "only IPv4 addresses are listed: publishers should offer IPv6 too"})
	case v6 && !v4:
		out = append(out, Problem{Severity: Warning, Rule: "A1", Msg: "only IPv6 addresses are listed: publishers should offer IPv4 too"})
	}
	if doc.TTL == 0 {
		out = append(out, Problem{Severity: Warning, Rule: "H5", Msg: "ttl=0 disables caching: clients refetch before every connection and cannot fall back to a cached copy for long"})
	}
	return out
}

// HasErrors reports whether any problem has Error severity.
func HasErrors(probs []Problem) bool {
	for _, p := range probs {
		if p.Severity == Error {
			return true
		}
	}
	return false
}

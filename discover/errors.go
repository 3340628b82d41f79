package discover

import (
	"fmt"
	"net/http"
)

// FetchError reports a failed HTTPS fetch of a discovery document: which
// URL, at which step, and why (H3, H4, H6).
type FetchError struct {
	URL string
	// Op is the step that failed: "request", "redirect", "status",
	// "body", "parse".
	Op string
	// StatusCode is the HTTP status for Op "status", else 0.
	StatusCode int
	Err        error
}

func (e *FetchError) Error() string {
	switch {
	case e.Op == "status":
		return fmt.Sprintf("discover: GET %s: status %d %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	case e.Op == "redirect" && e.Err != nil:
		// The RedirectError already says "redirect from ... to ...".
		return fmt.Sprintf("discover: GET %s: %v", e.URL, e.Err)
	case e.Err != nil:
		return fmt.Sprintf("discover: GET %s: %s: %v", e.URL, e.Op, e.Err)
	}
	return fmt.Sprintf("discover: GET %s: %s failed", e.URL, e.Op)
}

func (e *FetchError) Unwrap() error { return e.Err }

// RedirectError is a redirect the Resolver refused (H3).
type RedirectError struct {
	From, To string
	// Reason is "not https", "loop" or "more than 10 redirects".
	Reason string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("redirect from %s to %s refused: %s (H3)", e.From, e.To, e.Reason)
}

// TLSError is a bootstrap TLS connection that failed verification (H2):
// WebPKI, DANE (X4) or HPKP (X6).
type TLSError struct {
	Host string
	// Check is "webpki", "dane" or "hpkp".
	Check string
	Err   error
}

func (e *TLSError) Error() string {
	return fmt.Sprintf("TLS to %s: %s verification failed: %v", e.Host, e.Check, e.Err)
}

func (e *TLSError) Unwrap() error { return e.Err }

// DNSError is a failed DNS query (not a definite "no such name").
type DNSError struct {
	Name, Type, Server string
	Rcode              string // set when the server answered with an error rcode
	// EDE is the server's extended DNS error (RFC 8914), e.g. "6 (DNSSEC
	// Bogus): ...", when it sent one; unbound does with "ede: yes".
	EDE string
	Err error
}

func (e *DNSError) Error() string {
	if e.Rcode != "" && e.EDE != "" {
		return fmt.Sprintf("discover: DNS %s %s at %s: %s, extended error %s", e.Type, e.Name, e.Server, e.Rcode, e.EDE)
	}
	if e.Rcode != "" {
		return fmt.Sprintf("discover: DNS %s %s at %s: %s", e.Type, e.Name, e.Server, e.Rcode)
	}
	return fmt.Sprintf("discover: DNS %s %s at %s: %v", e.Type, e.Name, e.Server, e.Err)
}

func (e *DNSError) Unwrap() error { return e.Err }

// LookupError is returned by Lookup when no route was found and at least
// one source failed. Sources repeats Result.Sources.
type LookupError struct {
	Domain  string
	Sources []SourceResult
}

func (e *LookupError) Error() string {
	s := "discover: " + e.Domain + ": no routes"
	for _, sr := range e.Sources {
		if sr.Err != nil {
			s += "; " + string(sr.Source) + ": " + sr.Err.Error()
		}
	}
	return s
}

// Unwrap returns the errors of the failed sources.
func (e *LookupError) Unwrap() []error {
	var errs []error
	for _, sr := range e.Sources {
		if sr.Err != nil {
			errs = append(errs, sr.Err)
		}
	}
	return errs
}

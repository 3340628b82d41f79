package audit

import (
	"cmp"
	"crypto/x509"
	"net/http"
	"slices"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/discover"
)

// Finding is one thing a careful operator would change. Its JSON form is
// part of the --json schema of "hacx check" and must stay stable.
type Finding struct {
	// Check names the kind of finding, stable for scripts and metric
	// labels: one of the Check* constants.
	Check string `json:"check"`
	// Rule is the ID in docs/RULES.md the finding concerns.
	Rule string `json:"rule"`
	// Severity is SeverityError (some clients fail now or soon) or
	// SeverityWarning (advice).
	Severity string `json:"severity"`
	// Subject is what the finding is about: a route ("hacx record 2 (tls
	// 192.0.2.1:5223)"), a URL, a certificate, a source.
	Subject string `json:"subject"`
	Message string `json:"message"`
	Fix     string `json:"fix"`
}

// Severities.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
)

// Checks, the values of Finding.Check.
const (
	CheckSourcesDisagree = "sources-disagree" // P6
	CheckCertExpiry      = "cert-expiry"      // P7
	CheckCertName        = "cert-name"        // A10
	CheckPinNoMatch      = "pin-no-match"     // A9
	CheckPinNoBackup     = "pin-no-backup"    // P2
	CheckHSTS            = "hsts-missing"     // X5
	CheckDocumentCORS    = "cors-document"    // P3
	CheckAddressFamily   = "address-family"   // A1
	CheckTTL             = "ttl-range"        // H5
	CheckALPN            = "alpn-ignored"     // A6
	CheckWebCORS         = "cors-web"         // P8
)

// Thresholds of the checks.
const (
	// ExpiryWarning: a certificate that expires sooner is a finding (P7).
	// Automated renewal (ACME clients renew at 30 days left) never gets
	// this close; a certificate that does has a renewal that failed.
	ExpiryWarning = 14 * 24 * time.Hour
	// MinTTL and MaxTTL bound a sane document ttl (H5): below five
	// minutes every connection refetches the document, above a week a
	// change of routes takes that long to reach clients.
	MinTTL = 5 * 60
	MaxTTL = 7 * 24 * 60 * 60
)

// Report is the outcome of an audit.
type Report struct {
	Findings []Finding `json:"findings"`
	// Notes say what could not be checked and why; never nil.
	Notes []string `json:"notes"`
}

// Facts are what the checks look at. An Auditor gathers them; tests
// build them by hand.
type Facts struct {
	Domain string
	Kind   hacx.Kind
	// Now is the time certificates are judged at.
	Now time.Time
	// Result is a lookup that consulted every source
	// (discover.FallbackAlways).
	Result *discover.Result
	// SRV are the SRV routes looked up apart when Host Meta 2 made the
	// lookup skip them (X3); nil otherwise.
	SRV []hacx.Route
	// Attempts are attempts on the routes of Result and SRV, in any order;
	// a route without one was not tried.
	Attempts []dial.Attempt
	// Document is the well-known document fetched with a foreign Origin;
	// nil when it was not fetched.
	Document *HTTPFacts
	// Web are the WebSocket and BOSH routes asked as a web client of
	// another origin would ask (P8).
	Web []WebFacts
	// Notes say what could not be gathered.
	Notes []string
}

// HTTPFacts is one HTTPS response the audit asked for.
type HTTPFacts struct {
	// URL is the URL that answered, after redirects.
	URL    string
	Status int
	Header http.Header
	// Chain is the certificate chain the server presented.
	Chain []*x509.Certificate
	// Err is set when no response came.
	Err error
}

// WebFacts is what a web client of another origin gets from a WebSocket
// or BOSH route (P8).
type WebFacts struct {
	Route hacx.Route
	// Origin is the Origin header sent.
	Origin string
	// Status is the HTTP status of the upgrade (WebSocket) or of the CORS
	// preflight (BOSH).
	Status int
	// AllowOrigin is the Access-Control-Allow-Origin of a BOSH preflight.
	AllowOrigin string
	// Err is set when the request could not be made at all.
	Err error
}

// Findings runs every check on f, in a fixed order: by check, then
// subject.
func Findings(f *Facts) []Finding {
	var out []Finding
	for _, c := range []func(*Facts) []Finding{
		sourceFindings, certFindings, pinFindings, documentFindings,
		familyFindings, ttlFindings, alpnFindings, webFindings,
	} {
		fs := c(f)
		slices.SortStableFunc(fs, func(a, b Finding) int { return cmp.Compare(a.Subject, b.Subject) })
		out = append(out, fs...)
	}
	if out == nil {
		out = []Finding{}
	}
	return out
}

package audit

import (
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"net/url"
	"strings"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
)

// served is one leaf certificate and where it was presented.
type served struct {
	leaf   *x509.Certificate
	places []string
}

// certFindings: certificates that expire within ExpiryWarning or have
// expired (P7), one finding per certificate however many routes serve it;
// and routes whose certificate names neither the domain (nor, for
// WebSocket and BOSH, the URL host) nor the SNI the route sends (A10).
func certFindings(f *Facts) []Finding {
	var out []Finding
	var certs []*served
	byHash := map[[32]byte]*served{}
	note := func(leaf *x509.Certificate, place string) {
		h := sha256.Sum256(leaf.Raw)
		s := byHash[h]
		if s == nil {
			s = &served{leaf: leaf}
			byHash[h] = s
			certs = append(certs, s)
		}
		s.places = append(s.places, place)
	}
	if d := f.Document; d != nil && len(d.Chain) > 0 {
		note(d.Chain[0], d.URL)
	}
	for _, a := range f.Attempts {
		if a.TLS == nil || len(a.TLS.PeerCertificates) == 0 {
			continue
		}
		leaf := a.TLS.PeerCertificates[0]
		note(leaf, a.Route.String())
		out = append(out, nameFindings(f.Domain, a, leaf)...)
	}
	for _, s := range certs {
		left := s.leaf.NotAfter.Sub(f.Now)
		if left >= ExpiryWarning {
			continue
		}
		sev, msg := SeverityWarning, fmt.Sprintf("expires in %s (%s)", days(left), s.leaf.NotAfter.UTC().Format(time.RFC3339))
		if left <= 0 {
			sev, msg = SeverityError, fmt.Sprintf("expired %s ago (%s)", days(-left), s.leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		out = append(out, Finding{Check: CheckCertExpiry, Rule: "P7", Severity: sev,
			Subject: certName(s.leaf),
			Message: fmt.Sprintf("the certificate %s %s; served on %s", certName(s.leaf), msg, strings.Join(s.places, ", ")),
			Fix:     "renew it now, and check why automatic renewal did not (an ACME client renews 30 days ahead)"})
	}
	return out
}

// nameFindings checks the names of the certificate a route served. A
// route accepted by a pin or a DANE-EE match needs no name (A9, X4), so
// only unpinned routes without a DANE match are judged.
func nameFindings(domain string, a dial.Attempt, leaf *x509.Certificate) []Finding {
	r := a.Route
	if len(r.Pins) > 0 || a.DANE == dial.DANEMatch {
		return nil
	}
	var out []Finding
	names := []string{domain}
	if r.Method == hacx.MethodWebSocket || r.Method == hacx.MethodBOSH {
		if u, err := url.Parse(r.URL); err == nil && u.Hostname() != "" {
			names = append(names, u.Hostname())
		}
	}
	covered := false
	for _, n := range names {
		if leaf.VerifyHostname(n) == nil {
			covered = true
		}
	}
	if !covered {
		out = append(out, Finding{Check: CheckCertName, Rule: "A10", Severity: SeverityError,
			Subject: r.String(),
			Message: fmt.Sprintf("the certificate names %s, not %s: clients refuse it", certNames(leaf), strings.Join(names, " or ")),
			Fix:     fmt.Sprintf("serve a certificate for %s on this route, or pin its key in the record (A9)", domain)})
	}
	if r.HasSNI && leaf.VerifyHostname(r.SNI) != nil && covered {
		out = append(out, Finding{Check: CheckCertName, Rule: "A10", Severity: SeverityWarning,
			Subject: r.String(),
			Message: fmt.Sprintf("the route sends SNI %s but the certificate names %s: the server did not pick a certificate for that name, and clients that check the SNI name refuse it", r.SNI, certNames(leaf)),
			Fix:     fmt.Sprintf("add %s to the certificate, or make the record's sni a name the certificate has", r.SNI)})
	}
	return out
}

// pinFindings: a pinned route none of whose pins matches a key of the
// chain it served (A9: every client refuses it), and a pinned route
// without a backup pin, a key not in service (P2, RFC 7469 section 4.3):
// replacing the key would lock out every client holding the document
// until its ttl runs out.
func pinFindings(f *Facts) []Finding {
	var out []Finding
	seen := map[string]bool{}
	for _, a := range pinnedAttempts(f) {
		r := a.Route
		var chain []*x509.Certificate
		if a.TLS != nil {
			chain = a.TLS.PeerCertificates
		}
		inService := 0
		for _, p := range r.Pins {
			for _, c := range chain {
				if p.MatchesCert(c) {
					inService++
					break
				}
			}
		}
		// A CA pin may match a root the server does not send (A9 counts
		// the verified chain): the attempt's own verdict settles it. Such
		// a CA pin is then taken for a key in service, and any other pin
		// for a backup.
		if a.Verified == dial.VerifiedPin && inService == 0 {
			inService = 1
		}
		if len(chain) > 0 && inService == 0 {
			out = append(out, Finding{Check: CheckPinNoMatch, Rule: "A9", Severity: SeverityError,
				Subject: r.String(),
				Message: fmt.Sprintf("none of the %d pin(s) matches a key of the %d certificate(s) served: every client refuses this route", len(r.Pins), len(chain)),
				Fix:     "pin the key the server presents (hacx pin HOST:PORT prints it), or serve the pinned key"})
		}
		key := r.String()
		if seen[key] {
			continue
		}
		seen[key] = true
		switch {
		case len(r.Pins) == 1:
			out = append(out, Finding{Check: CheckPinNoBackup, Rule: "P2", Severity: SeverityWarning,
				Subject: r.String(),
				Message: "one pin only: a new key locks out every client that holds the document until its ttl runs out",
				Fix:     "add a backup pin: the key of a spare key pair (or of the CA you would move to), kept offline"})
		case len(chain) > 0 && inService == len(r.Pins):
			out = append(out, Finding{Check: CheckPinNoBackup, Rule: "P2", Severity: SeverityWarning,
				Subject: r.String(),
				Message: fmt.Sprintf("all %d pins are keys of the served chain: none is a backup for a key change", len(r.Pins)),
				Fix:     "add a backup pin: the key of a spare key pair (or of the CA you would move to), kept offline"})
		}
	}
	return out
}

// pinnedAttempts are the attempts of pinned routes, and a chainless
// attempt for each pinned route not tried, so that the backup check sees
// every pinned route.
func pinnedAttempts(f *Facts) []dial.Attempt {
	var out []dial.Attempt
	tried := map[string]bool{}
	for _, a := range f.Attempts {
		if len(a.Route.Pins) > 0 {
			out = append(out, a)
			tried[a.Route.String()] = true
		}
	}
	if f.Result != nil {
		for _, r := range f.Result.Routes {
			if len(r.Pins) > 0 && !tried[r.String()] {
				out = append(out, dial.Attempt{Route: r})
				tried[r.String()] = true
			}
		}
	}
	return out
}

// documentFindings: the HTTPS host of the well-known document sends no
// Strict-Transport-Security (X5: without it one plain-HTTP link is enough
// to strip TLS) or no Access-Control-Allow-Origin (P3: web clients on
// other sites cannot read the document).
func documentFindings(f *Facts) []Finding {
	d := f.Document
	if d == nil || d.Err != nil || d.Header == nil {
		return nil
	}
	var out []Finding
	hsts := d.Header.Get("Strict-Transport-Security")
	if hsts == "" || hstsMaxAgeZero(hsts) {
		msg := "no Strict-Transport-Security header"
		if hsts != "" {
			msg = "Strict-Transport-Security with max-age=0, which clears HSTS"
		}
		out = append(out, Finding{Check: CheckHSTS, Rule: "X5", Severity: SeverityWarning,
			Subject: d.URL,
			Message: msg + ": a client that ever reaches the host over plain HTTP can be kept off TLS",
			Fix:     "send Strict-Transport-Security: max-age=31536000 from the HTTPS host (hacx serve: [domain.hsts])"})
	}
	if d.Status/100 == 2 && d.Header.Get("Access-Control-Allow-Origin") == "" {
		out = append(out, Finding{Check: CheckDocumentCORS, Rule: "P3", Severity: SeverityWarning,
			Subject: d.URL,
			Message: "no Access-Control-Allow-Origin: web clients on other sites cannot read the document",
			Fix:     "send Access-Control-Allow-Origin: * on the discovery files (hacx serve does unless cors = false)"})
	}
	return out
}

// hstsMaxAgeZero reports a header whose max-age is 0 (RFC 6797 section
// 6.1.1: the host asks to be forgotten).
func hstsMaxAgeZero(h string) bool {
	for _, d := range strings.Split(h, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(d), "=")
		if strings.EqualFold(strings.TrimSpace(k), "max-age") && strings.Trim(strings.TrimSpace(v), `"`) == "0" {
			return true
		}
	}
	return false
}

// familyFindings: the published routes (the HACX document's when there
// is one) lack an address family (A1: publishers should offer both, and a
// client on an IPv6-only or IPv4-only network has no way in).
func familyFindings(f *Facts) []Finding {
	if f.Result == nil {
		return nil
	}
	var routes []hacx.Route
	subject := ""
	if f.Result.Document != nil {
		subject = "the HACX document"
		routes = f.Result.Document.Routes(hacx.SourceHACX)
	} else {
		subject = "the published routes"
		for _, r := range f.Result.Routes {
			if r.Source != hacx.SourceFallback {
				routes = append(routes, r)
			}
		}
	}
	if len(routes) == 0 {
		return nil
	}
	v4, v6 := false, false
	for _, r := range routes {
		a := r.Addr.Addr()
		switch {
		case !a.IsValid():
		case a.Unmap().Is4():
			v4 = true
		default:
			v6 = true
		}
	}
	var out []Finding
	for _, m := range []struct {
		has          bool
		family, rest string
	}{{v6, "IPv6", "IPv4"}, {v4, "IPv4", "IPv6"}} {
		if m.has || !(v4 || v6) {
			continue
		}
		out = append(out, Finding{Check: CheckAddressFamily, Rule: "A1", Severity: SeverityWarning,
			Subject: subject,
			Message: fmt.Sprintf("no %s route: clients on %s-only networks cannot connect", m.family, m.family),
			Fix:     fmt.Sprintf("publish an %s address for each endpoint next to its %s one", m.family, m.rest)})
	}
	return out
}

// ttlFindings: a document ttl outside [MinTTL, MaxTTL] (H5).
func ttlFindings(f *Facts) []Finding {
	if f.Result == nil || f.Result.Document == nil {
		return nil
	}
	ttl := f.Result.Document.TTL
	subject := "https://" + f.Domain + f.Kind.WellKnownPath()
	switch {
	case ttl < MinTTL:
		msg := fmt.Sprintf("ttl %d s is short: clients fetch the document again for nearly every connection", ttl)
		if ttl == hacx.DefaultTTL {
			msg = fmt.Sprintf("ttl %d s (the default when the attribute is absent) is short: clients fetch the document again for nearly every connection", ttl)
		}
		return []Finding{{Check: CheckTTL, Rule: "H5", Severity: SeverityWarning, Subject: subject,
			Message: msg + ", and a blocked refetch leaves them only a stale copy",
			Fix:     "set ttl to an hour or more (ttl=\"3600\"), lowering it only ahead of a planned change of routes"}}
	case ttl > MaxTTL:
		return []Finding{{Check: CheckTTL, Rule: "H5", Severity: SeverityWarning, Subject: subject,
			Message: fmt.Sprintf("ttl %d s (%s) is long: a change of routes takes that long to reach clients that cached the document", ttl, days(time.Duration(ttl)*time.Second)),
			Fix:     "set ttl to a day or less (ttl=\"86400\")"}}
	}
	return nil
}

// alpnFindings: a route that offers an ALPN protocol (A6) whose server
// completed TLS without choosing one: it ignores ALPN, so a gateway that
// routes by ALPN (G1) could not route this client.
func alpnFindings(f *Facts) []Finding {
	var out []Finding
	for _, a := range f.Attempts {
		r := a.Route
		if len(r.ALPN) == 0 || a.TLS == nil || !a.TLS.HandshakeComplete || a.TLS.NegotiatedProtocol != "" {
			continue
		}
		out = append(out, Finding{Check: CheckALPN, Rule: "A6", Severity: SeverityWarning,
			Subject: r.String(),
			Message: fmt.Sprintf("the route offers ALPN %q but the server negotiated none", string(r.ALPN)),
			Fix:     fmt.Sprintf("make the server accept ALPN %q (Prosody and ejabberd do on their direct TLS ports), or drop alpn from the record", string(r.ALPN))})
	}
	return out
}

// webFindings: WebSocket and BOSH routes that a web client of another
// origin cannot use (P8).
func webFindings(f *Facts) []Finding {
	var out []Finding
	for _, w := range f.Web {
		if w.Err != nil {
			continue
		}
		r := w.Route
		switch r.Method {
		case hacx.MethodBOSH:
			if w.Status/100 == 2 && (w.AllowOrigin == "*" || w.AllowOrigin == w.Origin) {
				continue
			}
			got := "no Access-Control-Allow-Origin"
			if w.AllowOrigin != "" {
				got = "Access-Control-Allow-Origin " + w.AllowOrigin
			}
			out = append(out, Finding{Check: CheckWebCORS, Rule: "P8", Severity: SeverityWarning,
				Subject: r.String(),
				Message: fmt.Sprintf("a CORS preflight from %s got HTTP %d with %s: browsers keep web clients on other sites off this BOSH endpoint", w.Origin, w.Status, got),
				Fix:     "answer CORS preflights on the BOSH path (Prosody: cross_domain_bosh = true; ejabberd: mod_bosh answers them; nginx: add the Access-Control-Allow-* headers)"})
		case hacx.MethodWebSocket:
			if w.Status == 101 {
				continue
			}
			out = append(out, Finding{Check: CheckWebCORS, Rule: "P8", Severity: SeverityWarning,
				Subject: r.String(),
				Message: fmt.Sprintf("an upgrade with Origin %s got HTTP %d instead of 101: web clients on other sites cannot use this WebSocket endpoint", w.Origin, w.Status),
				Fix:     "accept upgrades from other origins (Prosody: cross_domain_websocket = true; or list the web clients' origins)"})
		}
	}
	return out
}

// certName names a certificate in findings: its subject common name, else
// its first DNS name.
func certName(c *x509.Certificate) string {
	switch {
	case c.Subject.CommonName != "":
		return c.Subject.CommonName
	case len(c.DNSNames) > 0:
		return c.DNSNames[0]
	}
	return c.Subject.String()
}

// certNames lists what a certificate is valid for.
func certNames(c *x509.Certificate) string {
	var n []string
	n = append(n, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		n = append(n, ip.String())
	}
	if len(n) == 0 {
		return "no name"
	}
	return strings.Join(n, ", ")
}

// days writes a duration in whole days, or hours below two days.
func days(d time.Duration) string {
	if d < 48*time.Hour {
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

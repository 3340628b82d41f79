package main

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/discover"
	"hacx.dev/hacx/internal/atomicfile"
	"hacx.dev/hacx/internal/audit"
)

// The HTML report of "hacx check --html": one file that needs nothing
// else. Styles are inline, the timeline is inline SVG, there is no script,
// and a Content-Security-Policy forbids loading anything, so the page
// looks the same offline, in a mail client and in a browser, and cannot
// leak that it was opened.

//go:embed htmlreport.tmpl
var htmlReportText string

var htmlReportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"join":       strings.Join,
	"ms":         func(v float64) string { return fmtMS(v) },
	"facts":      sourceFacts,
	"dash":       func(s string) string { return orDash(s) },
	"addr":       routeAddr,
	"resultText": func(r string) string { return strings.ReplaceAll(r, "-", " ") },
}).Parse(htmlReportText))

// htmlReport is what the template renders.
type htmlReport struct {
	Rep       *checkReport
	Generated string
	Routes    []htmlRoute
	Attempts  []htmlAttempt
	Timeline  *timeline
	Audit     *audit.Report
	Sources   []discover.SourceReport
}

// htmlRoute is one row of the route table.
type htmlRoute struct {
	N       int
	Route   string // "hacx record 1"
	Method  string
	Addr    string
	SNI     string
	ALPN    string
	URL     string
	Pins    int
	Prio    uint16
	Weight  uint16
	Note    string
	Outcome string // "ok", "failed", "cancelled", "not tried"
	// OutcomeClass is Outcome as a CSS class name.
	OutcomeClass string
}

// htmlAttempt is one attempt's details.
type htmlAttempt struct {
	checkAttempt
	Outcome string
	Cert    string
	// Checks says how the certificate and stream were judged: "pin none,
	// dane none, stream from example.org".
	Checks string
}

// writeHTMLReport renders rep as HTML and replaces file with it.
func writeHTMLReport(file string, rep *checkReport, now time.Time) error {
	var b bytes.Buffer
	if err := renderHTMLReport(&b, rep, now); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Clean(file), b.Bytes(), 0o644)
}

func renderHTMLReport(b *bytes.Buffer, rep *checkReport, now time.Time) error {
	h := htmlReport{Rep: rep, Generated: now.UTC().Format(time.RFC3339), Audit: rep.Audit, Sources: rep.Sources}
	outcomes := make([]string, len(rep.Routes))
	for i := range outcomes {
		outcomes[i] = "not tried"
	}
	for _, a := range rep.Attempts {
		o := attemptOutcome(a)
		if a.Route >= 1 && a.Route <= len(outcomes) {
			outcomes[a.Route-1] = o
		}
		ha := htmlAttempt{checkAttempt: a, Outcome: o}
		if a.TLS != nil && a.TLS.Cert != nil {
			c := a.TLS.Cert
			ha.Cert = fmt.Sprintf("%s (issuer %s), expires %s, %s", strings.Join(c.Names, " "), c.Issuer, c.NotAfter.Format(time.DateOnly), expiresIn(c.ExpiresInDays))
		}
		var checks []string
		if a.Pin != "" {
			checks = append(checks, "pin "+a.Pin)
		}
		if a.DANE != "" {
			checks = append(checks, "dane "+string(a.DANE))
		}
		if a.StreamFrom != "" {
			checks = append(checks, "stream from "+a.StreamFrom)
		}
		if e := echCheck(a); e != "" {
			checks = append(checks, e)
		}
		ha.Checks = strings.Join(checks, ", ")
		h.Attempts = append(h.Attempts, ha)
	}
	for i, r := range rep.Routes {
		hr := htmlRoute{N: i + 1, Route: fmt.Sprintf("%s record %d", r.Source, r.Index), Method: string(r.Method),
			Addr: routeAddr(r), SNI: r.SNI, ALPN: r.ALPN, URL: r.URL, Pins: len(r.Pins), Prio: r.Priority, Weight: r.Weight,
			Outcome: outcomes[i], OutcomeClass: strings.ReplaceAll(outcomes[i], " ", "-")}
		if i < len(rep.RouteNotes) {
			hr.Note = rep.RouteNotes[i]
		}
		h.Routes = append(h.Routes, hr)
	}
	if len(rep.Attempts) > 0 {
		h.Timeline = newTimeline(rep)
	}
	return htmlReportTmpl.Execute(b, h)
}

// attemptOutcome classifies an attempt for colours and words.
func attemptOutcome(a checkAttempt) string {
	switch {
	case a.OK:
		return "ok"
	case strings.Contains(a.Error, dial.ErrLostRace.Error()):
		return "cancelled"
	}
	return "failed"
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// Timeline geometry, in SVG user units (the image scales to the page).
const (
	tlWidth  = 1000.0
	tlLabel  = 290.0 // the route names on the left
	tlRight  = 20.0
	tlTop    = 34.0 // the axis and its labels
	tlRowH   = 30.0
	tlBar    = 16.0
	tlLegend = 36.0
)

// timeline is the SVG waterfall: one row per attempt, its phases as
// segments against time since the dial started.
type timeline struct {
	Width, Height float64
	PlotX, PlotW  float64
	AxisY         float64
	Ticks         []tick
	Rows          []tlRow
	LegendY       float64
	Legend        []legendItem
}

type tick struct {
	X     float64
	Label string
}

type tlRow struct {
	Y, TextY float64
	Label    string
	Outcome  string
	Segments []segment
	MarkX    float64
	Mark     string
	Title    string
}

type segment struct {
	X, W  float64
	Class string // phase-tcp, phase-tls, phase-stream, failed, cancelled
	Title string
}

type legendItem struct {
	X     float64
	Class string
	Label string
}

func newTimeline(rep *checkReport) *timeline {
	end := 0.0
	for _, a := range rep.Attempts {
		end = math.Max(end, a.StartMS+a.DurationMS)
	}
	step := niceStep(end / 5)
	span := math.Max(step, math.Ceil(end/step)*step)
	t := &timeline{Width: tlWidth, PlotX: tlLabel, PlotW: tlWidth - tlLabel - tlRight, AxisY: tlTop - 6}
	x := func(ms float64) float64 { return t.PlotX + ms/span*t.PlotW }
	for v := 0.0; v <= span+step/2; v += step {
		t.Ticks = append(t.Ticks, tick{X: x(v), Label: trimMS(v)})
	}
	for i, a := range rep.Attempts {
		y := tlTop + float64(i)*tlRowH + (tlRowH-tlBar)/2
		r := rep.Routes[a.Route-1]
		row := tlRow{Y: y, TextY: y + tlBar - 3, Outcome: attemptOutcome(a),
			Label: fmt.Sprintf("%d. %s %s %s", a.Route, r.Source, r.Method, routeAddr(r))}
		// Phase boundaries, relative to the attempt's start: TCP until
		// connected, TLS (STARTTLS included) until verified, then the
		// XMPP stream; a failure ends the phase it happened in.
		bounds := []struct {
			class, name string
			until       *float64
		}{{"phase-tcp", "tcp connect", a.ConnectMS}, {"phase-tls", "tls and verification", a.TLSMS}, {"phase-stream", "xmpp stream", nil}}
		if a.quic {
			// Q1: QUIC has no connect apart from its handshake.
			bounds = bounds[1:]
			bounds[0].name = "quic handshake and verification"
		}
		from := 0.0
		for _, bd := range bounds {
			to := a.DurationMS
			if bd.until != nil {
				to = *bd.until
			}
			last := bd.until == nil || to >= a.DurationMS
			to = math.Min(to, a.DurationMS)
			class := bd.class
			if last && row.Outcome != "ok" {
				class = row.Outcome
			}
			w := math.Max(x(a.StartMS+to)-x(a.StartMS+from), 1.5)
			row.Segments = append(row.Segments, segment{X: x(a.StartMS + from), W: w, Class: class,
				Title: fmt.Sprintf("%s: %s to %s", bd.name, fmtMS(a.StartMS+from), fmtMS(a.StartMS+to))})
			if last {
				break
			}
			from = to
		}
		row.MarkX = x(a.StartMS+a.DurationMS) + 4
		switch row.Outcome {
		case "ok":
			row.Mark = "✓"
			row.Title = fmt.Sprintf("%s: verified by %s in %s", row.Label, a.Verified, fmtMS(a.DurationMS))
		case "cancelled":
			row.Mark = "–"
			row.Title = fmt.Sprintf("%s: cancelled after %s, another route won", row.Label, fmtMS(a.DurationMS))
		default:
			row.Mark = "✗"
			row.Title = fmt.Sprintf("%s: failed in %s after %s: %s", row.Label, a.Phase, fmtMS(a.DurationMS), a.Error)
		}
		t.Rows = append(t.Rows, row)
	}
	t.LegendY = tlTop + float64(len(rep.Attempts))*tlRowH + 14
	t.Height = t.LegendY + tlLegend
	lx := t.PlotX
	for _, l := range []legendItem{{Class: "phase-tcp", Label: "tcp connect"}, {Class: "phase-tls", Label: "tls + verify"},
		{Class: "phase-stream", Label: "xmpp stream"}, {Class: "failed", Label: "failed"}, {Class: "cancelled", Label: "cancelled"}} {
		l.X = lx
		t.Legend = append(t.Legend, l)
		lx += 130
	}
	return t
}

// niceStep rounds v up to 1, 2 or 5 times a power of ten, for axis ticks.
func niceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// trimMS writes an axis label: "0", "250 ms", "1.5 s".
func trimMS(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1000:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", v/1000), "0"), ".") + " s"
	}
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".") + " ms"
}

// checkHTMLPath refuses a --html path whose directory does not exist
// before the check runs, rather than after.
func checkHTMLPath(file string) error {
	fi, err := os.Stat(filepath.Dir(filepath.Clean(file)))
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", filepath.Dir(file))
	}
	return nil
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"hacx.dev/hacx"
	"hacx.dev/hacx/hacxtest"
	"hacx.dev/hacx/internal/audit"
)

// TestHTMLReport_ReplacesFileAtomically: --html replaces the file that
// was there (no temporary file left beside it), with a page for the
// check that was run.
func TestHTMLReport_ReplacesFileAtomically(t *testing.T) {
	ca, _ := hacxtest.NewCA("check")
	cert, _ := ca.Issue(checkDomain)
	env := checkWorld(ca, nil, refused(t), startCheckXMPP(t, cert, checkDomain))
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, []byte("old report"), 0o644); err != nil {
		t.Fatal(err)
	}
	env.htmlFile = file
	if code, out, errOut := runCheckEnv(t, env, false, false); code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want the report alone", len(entries))
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("<!DOCTYPE html>")) || !bytes.Contains(data, []byte("<title>hacx check example.test (client): ok</title>")) {
		t.Errorf("report:\n%.400s", data)
	}
}

// TestHTMLReport_SelfContainedAndEscaped: the page loads nothing (no
// script, stylesheet link, image, frame or object; no src or href; a
// policy that forbids loading), and text from the network (errors, names,
// findings) is text, never markup.
func TestHTMLReport_SelfContainedAndEscaped(t *testing.T) {
	evil := `<script>alert(1)</script><img src="http://evil.example/x.png">`
	connect, tlsMS := 1.5, 3.0
	rep := &checkReport{
		Domain: "example.test", Kind: "client", Result: resultFailed, RouteNotes: []string{"", evil},
		Routes: []hacx.RouteReport{
			{Source: "hacx", Index: 1, Method: "tls", IP: "192.0.2.1", Port: 5223, Pins: []string{}},
			{Source: "hacx", Index: 2, Method: "websocket", IP: "192.0.2.2", Port: 443, URL: "wss://example.test/ws?" + evil, Pins: []string{}},
		},
		Attempts: []checkAttempt{
			{Route: 1, Phase: "tcp", DurationMS: 5000, Error: "dial tcp: " + evil},
			{Route: 2, Phase: "stream", StartMS: 250, ConnectMS: &connect, TLSMS: &tlsMS, DurationMS: 12, Error: "stream from " + evil},
		},
		Audit: &audit.Report{Findings: []audit.Finding{{Check: audit.CheckTTL, Rule: "H5", Severity: "warning", Subject: evil, Message: evil, Fix: evil}},
			Notes: []string{evil}},
	}
	var b bytes.Buffer
	if err := renderHTMLReport(&b, rep, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	csp, rects := false, 0
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "script", "link", "img", "iframe", "object", "embed", "image", "use", "a", "form", "base":
				t.Errorf("element <%s> in the report", n.Data)
			case "rect":
				rects++
			}
			for _, a := range n.Attr {
				switch strings.ToLower(a.Key) {
				case "src", "href", "xlink:href", "action", "srcset", "background":
					t.Errorf("<%s %s=%q>: the report must not refer to anything", n.Data, a.Key, a.Val)
				case "style":
					if strings.Contains(a.Val, "url(") {
						t.Errorf("<%s style=%q>", n.Data, a.Val)
					}
				case "content":
					csp = csp || strings.HasPrefix(a.Val, "default-src 'none'")
				}
			}
		}
		if n.Type == html.ElementNode && n.Data == "style" && n.FirstChild != nil && strings.Contains(n.FirstChild.Data, "url(") {
			t.Error("the style sheet refers to a URL")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if !csp {
		t.Error("no Content-Security-Policy forbidding loads")
	}
	// Two rows: a failed tcp bar; tcp, tls and a failed stream bar; and
	// five legend swatches.
	if rects != 1+3+5 {
		t.Errorf("%d rects in the timeline, want 9", rects)
	}
	if n := strings.Count(b.String(), "&lt;script&gt;alert(1)&lt;/script&gt;"); n < 6 {
		t.Errorf("the hostile text appears escaped %d times, want it in every place it was given:\n%s", n, b.String())
	}
}

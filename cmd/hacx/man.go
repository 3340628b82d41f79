package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The man pages are rendered from each command's own help (its -h output)
// and from "hacx help", so that help stays the one text to maintain: a
// page cannot say something the command does not.

func init() {
	register(&command{
		name: "man", args: "--dir DIR", hidden: true,
		short: "write the man pages of hacx and of every command into DIR",
		long: `Man writes hacx.1, and hacx-COMMAND.1 for every command, into DIR, as
roff man pages rendered from the same help text as 'hacx help' and
'hacx COMMAND -h'. Packaging runs it (release/build.sh); it is not listed
by 'hacx help'.`,
		run: func(ctx context.Context, sio *stdio, args []string) error {
			fs := newFlags(commands["man"], sio)
			dir := fs.String("dir", "", "write the pages into this `directory` (created if missing)")
			pos, err := parseFlags(fs, args)
			if err != nil {
				return err
			}
			if len(pos) > 0 {
				return usagef("unexpected argument %q", pos[0])
			}
			if *dir == "" {
				return usagef("--dir is required")
			}
			pages, err := manPages(ctx)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(*dir, 0o755); err != nil {
				return err
			}
			for name, text := range pages {
				if err := os.WriteFile(filepath.Join(*dir, name), []byte(text), 0o644); err != nil {
					return err
				}
			}
			return nil
		},
	})
}

// manPages renders every page, by file name.
func manPages(ctx context.Context) (map[string]string, error) {
	var names []string
	for n, c := range commands {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	b := currentBuild()
	footer := manFooter{version: "hacx " + b.Version}
	if len(b.Time) >= len("2006-01-02") {
		footer.date = b.Time[:len("2006-01-02")]
	}
	var overview bytes.Buffer
	printHelp(&overview)
	exits, err := exitStatus(overview.String())
	if err != nil {
		return nil, err
	}
	pages := map[string]string{"hacx.1": renderOverview(footer, overview.String(), exits, names)}
	for _, n := range names {
		c := commands[n]
		var help bytes.Buffer
		err := c.run(ctx, &stdio{in: strings.NewReader(""), out: &help, err: &help}, []string{"-h"})
		if !errors.Is(err, errHelp) {
			return nil, fmt.Errorf("hacx %s -h: %v", n, err)
		}
		h, err := parseHelp(n, help.String())
		if err != nil {
			return nil, err
		}
		pages["hacx-"+n+".1"] = renderCommand(footer, c.short, h, exits, names)
	}
	return pages, nil
}

type manFooter struct{ version, date string }

// helpText is a command's -h output in parts.
type helpText struct {
	name, synopsis string // "serve", "--config FILE ..."
	description    string // the long text, paragraphs separated by blank lines
	flags          []helpFlag
}

type helpFlag struct {
	name, arg, usage string // "config", "file", "TOML configuration file"
}

// parseHelp splits what newFlags' usage function prints: the usage line,
// the long text, and flag.PrintDefaults' entries ("  -name arg" then
// "    \tusage" lines, or "  -x\tusage" for one-letter names).
func parseHelp(name, text string) (helpText, error) {
	first, rest, _ := strings.Cut(text, "\n")
	prefix := "usage: hacx " + name
	if !strings.HasPrefix(first, prefix) {
		return helpText{}, fmt.Errorf("hacx %s -h: first line %q is not %q", name, first, prefix+" ...")
	}
	h := helpText{name: name, synopsis: strings.TrimSpace(strings.TrimPrefix(first, prefix))}
	desc, flags := rest, ""
	if i := strings.LastIndex(rest, "\nflags:\n"); i >= 0 {
		desc, flags = rest[:i], rest[i+len("\nflags:\n"):]
	} else if strings.HasPrefix(rest, "flags:\n") {
		desc, flags = "", strings.TrimPrefix(rest, "flags:\n")
	}
	h.description = strings.Trim(desc, "\n")
	for line := range strings.Lines(flags) {
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "  -"):
			head, usage, _ := strings.Cut(line[3:], "\t")
			n, arg, _ := strings.Cut(head, " ")
			h.flags = append(h.flags, helpFlag{name: n, arg: arg, usage: usage})
		case strings.HasPrefix(line, "    \t") && len(h.flags) > 0:
			f := &h.flags[len(h.flags)-1]
			f.usage = strings.TrimSpace(f.usage + "\n" + line[len("    \t"):])
		case strings.TrimSpace(line) != "":
			return helpText{}, fmt.Errorf("hacx %s -h: unexpected line among the flags: %q", name, line)
		}
	}
	return h, nil
}

// roffEscape makes text safe as roff input: backslashes and minus signs
// escaped (a plain "-" may print as a hyphen that cannot be pasted into a
// shell), and a line starting with "." or "'" kept from reading as a
// request.
func roffEscape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	var b strings.Builder
	for line := range strings.Lines(s) {
		if strings.HasPrefix(line, ".") || strings.HasPrefix(line, "'") {
			b.WriteString(`\&`)
		}
		b.WriteString(line)
	}
	return b.String()
}

// renderText turns help paragraphs into roff: blank lines separate
// paragraphs; indented lines (examples, JSON schemas, tables) are kept as
// they are, everything else is filled.
func renderText(b *strings.Builder, text string) {
	inBlock := false
	para := false
	for line := range strings.Lines(text + "\n") {
		line = strings.TrimRight(line, "\n")
		indented := strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")
		switch {
		case strings.TrimSpace(line) == "":
			if inBlock {
				b.WriteString(".fi\n.RE\n")
				inBlock = false
			}
			para = false
		case indented:
			if !inBlock {
				b.WriteString(".PP\n.RS 4\n.nf\n")
				inBlock = true
				para = false // text after the block starts a paragraph
			}
			b.WriteString(roffEscape(strings.ReplaceAll(line, "\t", "    ")) + "\n")
		default:
			if inBlock {
				b.WriteString(".fi\n.RE\n")
				inBlock = false
			}
			if !para {
				b.WriteString(".PP\n")
				para = true
			}
			b.WriteString(roffEscape(line) + "\n")
		}
	}
	if inBlock {
		b.WriteString(".fi\n.RE\n")
	}
}

func renderHeader(b *strings.Builder, title string, f manFooter) {
	fmt.Fprintf(b, ".\\\" Generated by \"hacx man\" from the commands' own help; do not edit.\n")
	fmt.Fprintf(b, ".TH %q 1 %q %q \"hacx manual\"\n", strings.ToUpper(title), f.date, f.version)
	// Flags and paths must not be broken at a hyphen or stretched apart.
	b.WriteString(".nh\n.ad l\n")
}

func renderSeeAlso(b *strings.Builder, self string, names []string) {
	b.WriteString(".SH SEE ALSO\n")
	var refs []string
	if self != "hacx" {
		refs = append(refs, `\fBhacx\fR(1)`)
	}
	for _, n := range names {
		if "hacx-"+n != self {
			refs = append(refs, `\fBhacx\-`+roffEscape(n)+`\fR(1)`)
		}
	}
	b.WriteString(strings.Join(refs, ",\n") + "\n")
}

// exitStatus parses the "Exit codes: 0 success, 1 failure, ..." line of
// "hacx help" into an EXIT STATUS section, so that the pages list the
// codes the help does.
func exitStatus(help string) (string, error) {
	for line := range strings.Lines(help) {
		list, ok := strings.CutPrefix(strings.TrimSpace(line), "Exit codes: ")
		if !ok {
			continue
		}
		var b strings.Builder
		b.WriteString(".SH EXIT STATUS\n")
		for item := range strings.SplitSeq(strings.TrimSuffix(list, "."), ", ") {
			code, meaning, ok := strings.Cut(item, " ")
			if !ok {
				return "", fmt.Errorf("hacx help: exit code %q has no meaning", item)
			}
			fmt.Fprintf(&b, ".TP\n.B %s\n%s\n", roffEscape(code), roffEscape(meaning))
		}
		return b.String(), nil
	}
	return "", errors.New("hacx help: no \"Exit codes:\" line")
}

func renderCommand(f manFooter, short string, h helpText, exits string, names []string) string {
	var b strings.Builder
	renderHeader(&b, "hacx-"+h.name, f)
	fmt.Fprintf(&b, ".SH NAME\nhacx\\-%s \\- %s\n", roffEscape(h.name), roffEscape(short))
	fmt.Fprintf(&b, ".SH SYNOPSIS\n.B hacx %s\n%s\n", roffEscape(h.name), roffEscape(h.synopsis))
	if h.description != "" {
		b.WriteString(".SH DESCRIPTION\n")
		renderText(&b, h.description)
	}
	if len(h.flags) > 0 {
		// Every flag takes one dash or two; the pages show two, as the
		// README and the help texts do.
		b.WriteString(".SH OPTIONS\n")
		for _, fl := range h.flags {
			b.WriteString(".TP\n")
			fmt.Fprintf(&b, `\fB\-\-%s\fR`, roffEscape(fl.name))
			if fl.arg != "" {
				fmt.Fprintf(&b, ` \fI%s\fR`, roffEscape(fl.arg))
			}
			b.WriteString("\n" + roffEscape(fl.usage) + "\n")
		}
	}
	b.WriteString(exits)
	renderSeeAlso(&b, "hacx-"+h.name, names)
	return b.String()
}

// renderOverview is hacx(1): "hacx help" with a page per command named.
func renderOverview(f manFooter, help, exits string, names []string) string {
	var b strings.Builder
	renderHeader(&b, "hacx", f)
	title, rest, _ := strings.Cut(help, "\n")
	b.WriteString(".SH NAME\nhacx \\- " + roffEscape(strings.TrimSuffix(strings.TrimPrefix(title, "hacx "), ".")) + "\n")
	b.WriteString(".SH SYNOPSIS\n.B hacx\nCOMMAND [flags] [args]\n")
	b.WriteString(".SH DESCRIPTION\n")
	// The command list ("  name  short") becomes a tagged list; the other
	// lines of "hacx help" are prose.
	var prose []string
	for line := range strings.Lines(rest) {
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(line, "usage: ") || line == "commands:" || strings.HasPrefix(line, "Exit codes: ") {
			continue
		}
		if n, short, ok := strings.Cut(strings.TrimPrefix(line, "  "), " "); ok && strings.HasPrefix(line, "  ") {
			fmt.Fprintf(&b, ".TP\n.BR hacx\\-%s (1)\n%s\n", roffEscape(n), roffEscape(strings.TrimSpace(short)))
			continue
		}
		prose = append(prose, line)
	}
	renderText(&b, strings.Join(prose, "\n"))
	b.WriteString(exits)
	renderSeeAlso(&b, "hacx", names)
	return b.String()
}

package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"hacx.dev/hacx/serve"
)

func init() {
	register(&command{
		name:  "gen",
		args:  "--config FILE [--domain D] [--kind client|server|host-meta|host-meta.json] [--out DIR [--nginx DIR]] | --dns",
		short: "render the discovery files of a configuration",
		pkg:   "serve", // its configuration errors
		long: `Render the files "hacx serve" would publish, for operators who publish
through an existing web server such as nginx. With --out, every selected file
is written (atomically) to DIR/DOMAIN/.well-known/NAME and its path printed;
configure the web server to send Content-Type, Cache-Control (the ttl),
Strict-Transport-Security and Access-Control-Allow-Origin as hacx serve does
(rules P2, P3). Without --out, the one selected file is written to stdout.

With --nginx DIR (needs --out), also write DIR/DOMAIN.conf for every
selected domain: location blocks that make nginx answer the four well-known
paths exactly as hacx serve does (the same headers, 304 on a matching
If-None-Match, 302 for a redirect, 404 with HSTS for a file the domain does
not publish). Include it in the domain's HTTPS server block:

    server {
        listen 443 ssl;
        server_name example.org;
        ...
        include /etc/nginx/hacx/example.org.conf;
    }

Its path is printed on stdout after the files.

Variants by client address (P4) need hacx serve and are not rendered; a
redirect (P1) is printed on stderr as the web server rule to add (the
--nginx snippet already contains it).

With --dns, print instead the DNS records that publish the ech of client
records (E4) in zone-file form: an HTTPS record (RFC 9460) for the URL host
of each websocket and bosh record with ech, whose port (when not 443),
ipv4hint, ech and ipv6hint come from the records; a comment for each tls
record with ech, which no SVCB mapping for XMPP covers (clients read its ech
from the HACX document). Exit 3 when no record has ech.

Exit status: 0 files rendered, 3 the configuration publishes no file
matching --domain and --kind, 2 bad usage or an unreadable or invalid
configuration, 1 a file could not be written.`,
		run: runGen,
	})
}

var kindPaths = map[string]string{
	"client":         serve.Paths[0],
	"server":         serve.Paths[1],
	"host-meta":      serve.Paths[2],
	"host-meta.json": serve.Paths[3],
}

func runGen(ctx context.Context, sio *stdio, args []string) error {
	c := commands["gen"]
	fs := newFlags(c, sio)
	config := fs.String("config", "", "TOML configuration `file`")
	domain := fs.String("domain", "", "only this `domain`")
	kind := fs.String("kind", "", "only this file: client, server, host-meta or host-meta.json")
	out := fs.String("out", "", "write files under this `dir`")
	nginx := fs.String("nginx", "", "also write an nginx snippet per domain into this `dir` (needs --out)")
	dns := fs.Bool("dns", false, "print DNS HTTPS records carrying the records' ech (RFC 9460) instead of files")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if *config == "" {
		return usagef("need --config FILE")
	}
	if *nginx != "" && (*out == "" || *kind != "") {
		return usagef("--nginx needs --out and every kind: the snippets name all the files written there")
	}
	wantPath := ""
	if *kind != "" {
		if wantPath = kindPaths[*kind]; wantPath == "" {
			return usagef("--kind must be client, server, host-meta or host-meta.json, not %q", *kind)
		}
	}
	cfg, err := serve.LoadConfig(*config)
	if err != nil {
		// Unreadable or invalid, it is bad input (as for serve
		// --check-config); a ConfigError lists every problem, a line each.
		return exitErr(exitUsage, err)
	}
	if *dns {
		if *out != "" || *kind != "" {
			return usagef("--dns prints DNS records: no --out, --nginx or --kind")
		}
		wrote, err := genDNS(sio.out, cfg, *domain)
		if err == nil && !wrote {
			return &exitError{code: exitNothing, msg: "no client record with ech to publish in DNS"}
		}
		return err
	}
	files, err := serve.Render(cfg)
	if err != nil {
		return err
	}
	var sel []serve.RenderedFile
	for _, f := range files {
		if (*domain == "" || strings.EqualFold(strings.TrimSuffix(*domain, "."), f.Domain)) && (wantPath == "" || f.Path == wantPath) {
			sel = append(sel, f)
		}
	}
	if len(sel) == 0 {
		return &exitError{code: exitNothing, msg: "the configuration publishes no such file"}
	}
	for _, f := range sel {
		if f.Redirect != "" {
			diagf(sio, c, "%s%s: redirect, add to the web server: location = %s { return 302 %s; }", f.Domain, f.Path, f.Path, f.Redirect)
		}
	}
	if *out == "" {
		var bodies []serve.RenderedFile
		for _, f := range sel {
			if f.Body != nil {
				bodies = append(bodies, f)
			}
		}
		switch len(bodies) {
		case 0:
			return nil
		case 1:
			_, err := sio.out.Write(bodies[0].Body)
			return err
		}
		return usagef("%d files selected: give --out DIR, or pick one with --domain and --kind", len(bodies))
	}
	for _, f := range sel {
		if f.Body == nil {
			continue
		}
		// f.Domain passed validation as a host name, so it is one safe
		// path element.
		p := filepath.Join(*out, f.Domain, filepath.FromSlash(f.Path))
		if err := serve.WriteFile(p, f.Body, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(sio.out, "%s\t%s\tmax-age=%d\n", p, f.ContentType, f.TTL)
	}
	if *nginx == "" {
		return nil
	}
	snippets, err := serve.Nginx(cfg, *out)
	if err != nil {
		return err
	}
	for _, sn := range snippets {
		if *domain != "" && !strings.EqualFold(strings.TrimSuffix(*domain, "."), sn.Domain) {
			continue
		}
		p := filepath.Join(*nginx, sn.Domain+".conf")
		if err := serve.WriteFile(p, sn.Conf, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(sio.out, "%s\tnginx\n", p)
	}
	return nil
}

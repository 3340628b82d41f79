package serve

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"hacx.dev/hacx"
	"hacx.dev/hacx/internal/atomicfile"
)

// ConfigFromDocuments builds a Config that serves existing HACX documents as
// they are (hacx serve --doc): client and server map a domain to a document
// file. Host-meta is derived from each document's records (P5). A file that
// is not a usable document is an error naming it; per-record warnings are
// returned for the caller to log.
func ConfigFromDocuments(client, server map[string]string) (*Config, []string, error) {
	byName := map[string]*Domain{}
	var warnings []string
	var order []string
	for k, m := range []map[string]string{client, server} {
		for name, path := range m {
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, nil, fmt.Errorf("serve: %w", err)
			}
			doc, err := hacx.Parse(data)
			if err != nil {
				return nil, nil, fmt.Errorf("serve: %s: %w", path, err)
			}
			for _, w := range doc.Warnings {
				warnings = append(warnings, path+": "+w.String())
			}
			key := normalizeHost(name)
			if err := checkDomainName(key); err != nil {
				return nil, nil, fmt.Errorf("serve: %w", err)
			}
			d := byName[key]
			if d == nil {
				d = &Domain{Name: key}
				byName[key] = d
				order = append(order, key)
			}
			p := Publication{TTL: doc.TTL, Raw: data}
			if k == 0 {
				d.Client = p
			} else {
				d.Server = p
			}
		}
	}
	sort.Strings(order)
	cfg := &Config{}
	for _, n := range order {
		cfg.Domains = append(cfg.Domains, *byName[n])
	}
	if len(cfg.Domains) == 0 {
		return nil, nil, fmt.Errorf("serve: no documents given")
	}
	return cfg, warnings, nil
}

// RenderedFile is one file of one domain as Handler serves it to clients
// matching no variant.
type RenderedFile struct {
	Domain      string
	Path        string // URL path, e.g. /.well-known/xmpp-client.xml
	ContentType string
	TTL         uint32 // the Cache-Control max-age to configure
	Body        []byte // nil for a redirect
	Redirect    string // 302 target (P1), for the web server's configuration
}

// Render renders every domain's default files, in domain and path order,
// for publishing through another web server (hacx gen). Variants (P4) need
// the client address and are not rendered.
func Render(cfg *Config) ([]RenderedFile, error) {
	st, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	var out []RenderedFile
	for _, n := range st.domains() {
		for f, r := range st.sites[n].variants[0].files {
			if r == nil {
				continue
			}
			rf := RenderedFile{Domain: n, Path: Paths[f], ContentType: contentTypes[f]}
			if r.status == 302 {
				rf.Redirect = r.location[0]
			} else {
				rf.Body, rf.TTL = r.body, r.ttl
			}
			out = append(out, rf)
		}
	}
	return out, nil
}

// WriteFile writes data to path atomically: a temporary file in the same
// directory, synced, then renamed over path, so that a web server reading
// path sees the old file or the new one, never half of one.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, data, perm)
}

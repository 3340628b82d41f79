package serve

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"hacx.dev/hacx"
)

// ConfigError lists everything wrong with a configuration file, each
// problem located by line so that an operator can fix them all in one go.
type ConfigError struct {
	File     string // path as given, or "" for in-memory data
	Problems []ConfigProblem
}

// ConfigProblem is one thing wrong in a configuration file.
type ConfigProblem struct {
	Line int    // 1-based; 0 when unknown
	Key  string // the setting, e.g. "domain[0].client[1].port"; may be empty
	Rule string // rule ID such as "P2", when the problem breaks one
	Msg  string
}

func (p ConfigProblem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Msg)
	if p.Rule != "" {
		fmt.Fprintf(&b, " [%s]", p.Rule)
	}
	return b.String()
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	name := e.File
	if name == "" {
		name = "config"
	}
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString("serve: " + name + ": " + p.String())
	}
	return b.String()
}

// The TOML shape. Field names are the documented keys of examples/hacx.toml.
type fileConfig struct {
	TrustedProxies []string     `toml:"trusted-proxies"`
	ClientIPHeader string       `toml:"client-ip-header"`
	Domains        []fileDomain `toml:"domain"`
}

type fileDomain struct {
	Name     string        `toml:"name"`
	TTL      *int64        `toml:"ttl"`
	CORS     *bool         `toml:"cors"`
	HostMeta *bool         `toml:"host-meta"`
	Redirect fileRedirect  `toml:"redirect"`
	HSTS     *fileHSTS     `toml:"hsts"`
	HPKP     *fileHPKP     `toml:"hpkp"`
	Client   []fileRecord  `toml:"client"`
	Server   []fileRecord  `toml:"server"`
	Variants []fileVariant `toml:"variant"`
}

type fileRedirect struct {
	Client string `toml:"client"`
	Server string `toml:"server"`
}

type fileHSTS struct {
	MaxAge            *int64 `toml:"max-age"`
	IncludeSubDomains bool   `toml:"include-subdomains"`
}

type fileHPKP struct {
	Pins              []string `toml:"pins"`
	MaxAge            int64    `toml:"max-age"`
	IncludeSubDomains bool     `toml:"include-subdomains"`
	ReportURI         string   `toml:"report-uri"`
}

type fileVariant struct {
	Name   string       `toml:"name"`
	CIDRs  []string     `toml:"cidrs"`
	TTL    *int64       `toml:"ttl"`
	Client []fileRecord `toml:"client"`
	Server []fileRecord `toml:"server"`
}

type fileRecord struct {
	Method   string   `toml:"method"`
	IP       string   `toml:"ip"`
	Port     int64    `toml:"port"`
	Priority int64    `toml:"priority"`
	Weight   int64    `toml:"weight"`
	SNI      *string  `toml:"sni"`
	ALPN     *string  `toml:"alpn"`
	URL      string   `toml:"url"`
	Pins     []string `toml:"pins"`
}

// maxConfigSize bounds what LoadConfig reads: a configuration is written by
// hand and a huge file is a mistake.
const maxConfigSize = 4 << 20

// LoadConfig reads and validates a TOML configuration file (see
// examples/hacx.toml). Relative pin file paths are resolved against the
// file's directory. Any problem gives a *ConfigError listing all of them.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	cfg, err := ParseConfig(data, filepath.Dir(path))
	var ce *ConfigError
	if errors.As(err, &ce) {
		ce.File = path
	}
	if cfg != nil {
		cfg.file = path
	}
	return cfg, err
}

// ParseConfig is LoadConfig on data; dir resolves relative pin file paths.
func ParseConfig(data []byte, dir string) (*Config, error) {
	if len(data) > maxConfigSize {
		return nil, &ConfigError{Problems: []ConfigProblem{{Msg: fmt.Sprintf("file is larger than %d bytes", maxConfigSize)}}}
	}
	var fc fileConfig
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&fc)
	if err != nil {
		return nil, &ConfigError{Problems: []ConfigProblem{tomlProblem(err)}}
	}
	c := &checker{loc: newLocator(string(data)), dir: dir}
	for _, k := range md.Undecoded() {
		c.addLine(c.loc.lineAny(k.String()), k.String(), "", "unknown setting (misspelt, or in the wrong table?)")
	}
	cfg := c.config(&fc)
	if len(c.problems) > 0 {
		sort.SliceStable(c.problems, func(i, j int) bool { return c.problems[i].Line < c.problems[j].Line })
		return nil, &ConfigError{Problems: c.problems}
	}
	return cfg, nil
}

func tomlProblem(err error) ConfigProblem {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return ConfigProblem{Line: pe.Position.Line, Key: pe.LastKey, Msg: "not valid TOML: " + pe.Message}
	}
	msg := strings.TrimPrefix(err.Error(), "toml: ")
	// Type mismatches come as "line N (last key "k"): ..." without a
	// structured position.
	line := 0
	if strings.HasPrefix(msg, "line ") {
		rest := msg[len("line "):]
		if i := strings.IndexAny(rest, " :"); i > 0 {
			line, _ = strconv.Atoi(rest[:i])
		}
	}
	return ConfigProblem{Line: line, Msg: "wrong type: " + msg}
}

// checker converts the file shape into a Config, collecting problems.
type checker struct {
	loc      *locator
	dir      string
	problems []ConfigProblem
}

func (c *checker) add(key, rule, format string, a ...any) {
	c.addLine(c.loc.line(key), key, rule, fmt.Sprintf(format, a...))
}

func (c *checker) addLine(line int, key, rule, msg string) {
	c.problems = append(c.problems, ConfigProblem{Line: line, Key: key, Rule: rule, Msg: msg})
}

func (c *checker) config(fc *fileConfig) *Config {
	cfg := &Config{ClientIPHeader: fc.ClientIPHeader}
	for i, s := range fc.TrustedProxies {
		p, err := parsePrefix(s)
		if err != nil {
			c.add("trusted-proxies", "", "entry %d: %v", i+1, err)
			continue
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, p)
	}
	if h := fc.ClientIPHeader; h != "" && strings.ContainsAny(h, " :\t\r\n") {
		c.add("client-ip-header", "", "%q is not a header name", h)
	}
	if len(fc.Domains) == 0 {
		c.addLine(0, "", "", "no [[domain]] configured: nothing would be served")
	}
	seen := map[string]string{}
	for i := range fc.Domains {
		key := fmt.Sprintf("domain[%d]", i)
		d := c.domain(key, &fc.Domains[i])
		if d.Name != "" {
			if prev, dup := seen[d.Name]; dup {
				c.add(key+".name", "", "domain %q is already configured at %s", d.Name, prev)
			}
			seen[d.Name] = fmt.Sprintf("line %d", c.loc.line(key+".name"))
		}
		cfg.Domains = append(cfg.Domains, d)
	}
	return cfg
}

func (c *checker) domain(key string, fd *fileDomain) Domain {
	d := Domain{Name: normalizeHost(fd.Name)}
	if fd.Name == "" {
		c.add(key, "", "domain has no name")
	} else if err := checkDomainName(d.Name); err != nil {
		c.add(key+".name", "", "%v", err)
	}
	ttl := c.ttl(key+".ttl", fd.TTL, hacx.DefaultTTL)
	d.NoCORS = fd.CORS != nil && !*fd.CORS
	d.NoHostMeta = fd.HostMeta != nil && !*fd.HostMeta
	d.Client = c.publication(key, "client", fd.Client, fd.Redirect.Client, ttl)
	d.Server = c.publication(key, "server", fd.Server, fd.Redirect.Server, ttl)
	if fd.HSTS != nil {
		h := DefaultHSTS
		if fd.HSTS.MaxAge != nil {
			if *fd.HSTS.MaxAge < 0 {
				c.add(key+".hsts.max-age", "P2", "max-age must be 0 or more seconds, not %d", *fd.HSTS.MaxAge)
			}
			h.MaxAge = time.Duration(*fd.HSTS.MaxAge) * time.Second
		}
		h.IncludeSubDomains = fd.HSTS.IncludeSubDomains
		d.HSTS = &h
	}
	if fd.HPKP != nil {
		d.HPKP = c.hpkp(key+".hpkp", fd.HPKP)
	}
	for i := range fd.Variants {
		d.Variants = append(d.Variants, c.variant(fmt.Sprintf("%s.variant[%d]", key, i), &fd.Variants[i], ttl))
	}
	// Judge what the file says, not what survived validation, so a record
	// with a mistake is not also reported as "publishes nothing".
	if len(fd.Client)+len(fd.Server)+len(fd.Variants) == 0 && fd.Redirect.Client == "" && fd.Redirect.Server == "" {
		c.add(key, "", "domain %q publishes nothing: add [[domain.client]] or [[domain.server]] records or a redirect", d.Name)
	}
	return d
}

func (c *checker) ttl(key string, v *int64, def uint32) uint32 {
	if v == nil {
		return def
	}
	if *v < 0 || *v > 1<<31-1 {
		c.add(key, "H5", "ttl must be a number of seconds from 0 to %d, not %d", int64(1<<31-1), *v)
		return def
	}
	return uint32(*v)
}

func (c *checker) publication(key, kind string, recs []fileRecord, redirect string, ttl uint32) Publication {
	p := Publication{TTL: ttl}
	if redirect != "" {
		rk := key + ".redirect." + kind
		u, err := url.Parse(redirect)
		switch {
		case err != nil:
			c.add(rk, "P1", "redirect is not a URL: %v", err)
		case u.Scheme != "https" || u.Host == "":
			c.add(rk, "P1", "redirect must be an https:// URL (clients refuse anything else, H3), not %q", redirect)
		}
		if len(recs) > 0 {
			c.add(rk, "P1", "%s has both a redirect and records: remove one", kind)
		}
		p.Redirect = redirect
	}
	p.Records = c.records(key+"."+kind, recs, ttl)
	return p
}

func (c *checker) variant(key string, fv *fileVariant, ttl uint32) Variant {
	v := Variant{Name: fv.Name}
	if v.Name == "" {
		c.add(key, "P4", "variant has no name (needed for logs and metrics)")
	}
	if len(fv.CIDRs) == 0 {
		c.add(key, "P4", "variant %q has no cidrs: no client would ever get it", fv.Name)
	}
	for i, s := range fv.CIDRs {
		p, err := parsePrefix(s)
		if err != nil {
			c.add(key+".cidrs", "P4", "entry %d: %v", i+1, err)
			continue
		}
		v.CIDRs = append(v.CIDRs, p)
	}
	ttl = c.ttl(key+".ttl", fv.TTL, ttl)
	v.Client = Publication{TTL: ttl, Records: c.records(key+".client", fv.Client, ttl)}
	v.Server = Publication{TTL: ttl, Records: c.records(key+".server", fv.Server, ttl)}
	if len(fv.Client) == 0 && len(fv.Server) == 0 {
		c.add(key, "P4", "variant %q has no records: it would serve the same as the default", fv.Name)
	}
	return v
}

func (c *checker) hpkp(key string, fh *fileHPKP) *HPKP {
	h := &HPKP{
		MaxAge:            time.Duration(fh.MaxAge) * time.Second,
		IncludeSubDomains: fh.IncludeSubDomains,
		ReportURI:         fh.ReportURI,
		key:               key + ".pins",
		line:              c.loc.line(key + ".pins"),
	}
	if fh.MaxAge <= 0 {
		c.add(key+".max-age", "P2", "HPKP needs a max-age in seconds greater than 0")
	}
	seen := map[string]bool{}
	for i, s := range fh.Pins {
		pins, err := c.pin(s)
		if err != nil {
			c.add(key+".pins", "P2", "pin %d: %v", i+1, err)
			continue
		}
		for _, p := range pins {
			var sum []byte
			for _, d := range p.Digests {
				if d.Hash == "sha-256" {
					sum = d.Value
				}
			}
			if sum == nil {
				c.add(key+".pins", "P2", "pin %d: Public-Key-Pins carries only sha-256 digests (RFC 7469)", i+1)
				continue
			}
			if !seen[string(sum)] {
				seen[string(sum)] = true
				h.PinsSHA256 = append(h.PinsSHA256, sum)
			}
		}
	}
	if len(h.PinsSHA256) < 2 && len(c.problemsAt(key+".pins")) == 0 {
		c.add(key+".pins", "P2", "HPKP needs at least two different pins, one of them a backup key not used by the server (RFC 7469 section 4.3); refusing a policy that could lock clients out")
	}
	if fh.ReportURI != "" {
		if u, err := url.Parse(fh.ReportURI); err != nil || u.Scheme == "" || u.Host == "" {
			c.add(key+".report-uri", "P2", "report-uri %q is not an absolute URL", fh.ReportURI)
		}
	}
	return h
}

func (c *checker) problemsAt(key string) []ConfigProblem {
	var out []ConfigProblem
	for _, p := range c.problems {
		if p.Key == key {
			out = append(out, p)
		}
	}
	return out
}

// records converts and validates one kind's record list. Each record is
// checked here in operator terms and then the whole set goes through
// hacx.Marshal and hacx.Parse, so that exactly the rules clients apply
// (A1-A9, E2) decide what is publishable.
func (c *checker) records(key string, frs []fileRecord, ttl uint32) []hacx.Record {
	var out []hacx.Record
	var keys []string
	for i := range frs {
		rk := fmt.Sprintf("%s[%d]", key, i)
		r, ok := c.record(rk, &frs[i])
		if ok {
			out = append(out, r)
			keys = append(keys, rk)
		}
	}
	if len(out) == 0 {
		return out
	}
	for _, p := range roundTrip(out, ttl) {
		rk := key
		if p.Record >= 1 && p.Record <= len(keys) {
			rk = keys[p.Record-1]
		}
		c.add(rk, p.Rule, "%s", p.Msg)
	}
	return out
}

// roundTrip renders records as a document and parses it back, returning
// what the parser objects to (E2).
func roundTrip(recs []hacx.Record, ttl uint32) []hacx.Problem {
	data, err := hacx.Marshal(&hacx.Document{TTL: ttl, Records: recs})
	if err != nil {
		return []hacx.Problem{{Severity: hacx.Error, Msg: "cannot render document: " + err.Error()}}
	}
	doc, err := hacx.Parse(data)
	if err != nil {
		return []hacx.Problem{{Severity: hacx.Error, Msg: "rendered document does not parse: " + err.Error()}}
	}
	probs := doc.Warnings
	if len(probs) == 0 && len(doc.Records) != len(recs) {
		probs = append(probs, hacx.Problem{Severity: hacx.Error, Msg: fmt.Sprintf("%d of %d records survive parsing", len(doc.Records), len(recs))})
	}
	return probs
}

func (c *checker) record(key string, fr *fileRecord) (hacx.Record, bool) {
	n := len(c.problems)
	r := hacx.Record{Method: hacx.Method(strings.ToLower(fr.Method))}
	switch r.Method {
	case hacx.MethodTLS, hacx.MethodWebSocket, hacx.MethodBOSH:
	case "":
		c.add(key, "", "record has no method: use \"tls\", \"websocket\" or \"bosh\"")
	default:
		c.add(key+".method", "", "unknown method %q: use \"tls\", \"websocket\" or \"bosh\"", fr.Method)
	}
	if fr.IP == "" {
		c.add(key, "A1", "record has no ip (an IPv4 or IPv6 address; host names are not allowed)")
	} else if ip, err := netip.ParseAddr(fr.IP); err != nil || ip.Zone() != "" {
		c.add(key+".ip", "A1", "ip %q is not an IPv4 or IPv6 address (host names are not allowed)", fr.IP)
	} else {
		r.IP = ip.Unmap()
	}
	switch {
	case fr.Port == 0:
		c.add(key, "A2", "record has no port")
	case fr.Port < 1 || fr.Port > 65535:
		c.add(key+".port", "A2", "port must be 1 to 65535, not %d", fr.Port)
	default:
		r.Port = uint16(fr.Port)
	}
	if fr.Priority < 0 || fr.Priority > 65535 {
		c.add(key+".priority", "A3", "priority must be 0 to 65535, not %d", fr.Priority)
	} else {
		r.Priority = uint16(fr.Priority)
	}
	if fr.Weight < 0 || fr.Weight > 65535 {
		c.add(key+".weight", "A4", "weight must be 0 to 65535, not %d", fr.Weight)
	} else {
		r.Weight = uint16(fr.Weight)
	}
	if fr.SNI != nil {
		s := *fr.SNI
		if _, err := netip.ParseAddr(s); s == "" || err == nil {
			c.add(key+".sni", "A5", "sni must be a host name; to send no SNI at all, leave sni out")
		}
		r.SNI, r.HasSNI = s, true
	}
	if fr.ALPN != nil {
		a := *fr.ALPN
		switch {
		case r.Method == hacx.MethodWebSocket || r.Method == hacx.MethodBOSH:
			c.add(key+".alpn", "A7", "alpn is only for tls records: WebSocket and BOSH negotiate over HTTP")
		case a == "" || len(a) > 255:
			c.add(key+".alpn", "A6", "alpn must be a protocol ID of 1 to 255 bytes, such as \"xmpp-client\"; to send no ALPN, leave alpn out")
		case looksBase64(a):
			// Operators copying from a document paste "eG1wcC1jbGllbnQ="; we
			// encode for them, so say so rather than double-encode silently.
			c.add(key+".alpn", "A6", "alpn is written as plain text (\"xmpp-client\"), not base64 (%q decodes to %q)", a, mustB64(a))
		}
		r.ALPN = []byte(a)
	}
	switch r.Method {
	case hacx.MethodTLS:
		if fr.URL != "" {
			c.add(key+".url", "", "tls records have no url")
		}
	case hacx.MethodWebSocket, hacx.MethodBOSH:
		scheme := "wss"
		if r.Method == hacx.MethodBOSH {
			scheme = "https"
		}
		u, err := url.Parse(fr.URL)
		switch {
		case fr.URL == "":
			c.add(key, "", "%s record needs a url (%s://...)", r.Method, scheme)
		case err != nil || u.Scheme != scheme || u.Host == "":
			c.add(key+".url", "", "%s url must be %s://host/path, not %q", r.Method, scheme, fr.URL)
		}
		r.URL = fr.URL
	}
	for i, s := range fr.Pins {
		pins, err := c.pin(s)
		if err != nil {
			c.add(key+".pins", "A9", "pin %d: %v", i+1, err)
			continue
		}
		r.Pins = append(r.Pins, pins...)
	}
	return r, len(c.problems) == n
}

// pin reads one pin setting: "sha-256=BASE64" (several space-separated
// digests of one key allowed), or the path of a PEM file whose first key
// (the leaf certificate's, or the key's) is pinned with sha-256.
func (c *checker) pin(s string) ([]hacx.Pin, error) {
	s = strings.TrimSpace(s)
	if name, _, ok := strings.Cut(s, "="); ok && hacx.LookupHash(name) != nil {
		var p hacx.Pin
		for _, f := range strings.Fields(s) {
			name, val, _ := strings.Cut(f, "=")
			h := hacx.LookupHash(name)
			if h == nil {
				return nil, fmt.Errorf("%q is not an IANA hash name", name)
			}
			if h.Weak {
				return nil, fmt.Errorf("%s is too weak to pin with (A9); use sha-256", h.Name)
			}
			sum, err := base64.StdEncoding.DecodeString(val)
			if err != nil {
				return nil, fmt.Errorf("%s value is not base64: %v", h.Name, err)
			}
			if len(sum) != h.Size {
				return nil, fmt.Errorf("%s value is %d bytes, want %d", h.Name, len(sum), h.Size)
			}
			p.Digests = append(p.Digests, hacx.Digest{Hash: h.Name, Value: sum})
		}
		return []hacx.Pin{p}, nil
	}
	path := s
	if !filepath.IsAbs(path) && c.dir != "" {
		path = filepath.Join(c.dir, path)
	}
	data, err := readPEMFile(path)
	if err != nil {
		return nil, fmt.Errorf("%q is neither a hash=base64 pin nor a readable PEM file: %w", s, err)
	}
	kps, err := PinsFromPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// Only the first key: a chain file pins its leaf, not the CAs, which
	// would accept any certificate those CAs issue.
	return []hacx.Pin{kps[0].Pin}, nil
}

func looksBase64(s string) bool {
	if len(s) < 4 || len(s)%4 != 0 || !strings.HasSuffix(s, "=") {
		return false
	}
	_, err := base64.StdEncoding.DecodeString(s)
	return err == nil
}

func mustB64(s string) string {
	b, _ := base64.StdEncoding.DecodeString(s)
	return string(b)
}

func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR such as 192.0.2.0/24 or 2001:db8::/32", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR such as 192.0.2.0/24 or 2001:db8::/32", s)
	}
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("%q: an IPv4-mapped prefix needs at least 96 bits", s)
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if p != p.Masked() {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set; did you mean %s?", s, p.Masked())
	}
	return p, nil
}

// normalizeHost lower-cases a host name and drops a trailing dot, as Host
// headers are compared.
func normalizeHost(s string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
}

func checkDomainName(s string) error {
	if len(s) > 253 {
		return fmt.Errorf("domain name %q is longer than 253 characters", s)
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return nil // XMPP domains may be IP literals; Host headers carry them too
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("%q is not a valid domain name", s)
		}
		for _, ch := range label {
			if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
				return fmt.Errorf("%q is not a valid domain name (write internationalized names in A-label form, xn--...)", s)
			}
		}
	}
	return nil
}

// maxPEMSize bounds a pin file: certificate chains are a few KiB.
const maxPEMSize = 1 << 20

// readPEMFile reads a regular file of at most maxPEMSize bytes, so that a
// pin naming /dev/zero or a FIFO cannot hang loading.
func readPEMFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxPEMSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxPEMSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxPEMSize)
	}
	return data, nil
}

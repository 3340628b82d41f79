package serve

// This file checks a decoded configuration and converts it into a
// Config: the settings of domains, variants and policies, each problem
// recorded with its line. Records and their pins are in check_record.go.

import (
	"fmt"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"hacx.dev/hacx"
	"hacx.dev/hacx/ech"
)

// checker converts the file shape into a Config, collecting problems.
type checker struct {
	loc      *locator
	dir      string
	problems []ConfigProblem

	publicIPs bool // the gateway has public IPs to derive records with (G2)
}

func (c *checker) add(key, rule, format string, a ...any) {
	c.addLine(c.loc.line(key), key, rule, fmt.Sprintf(format, a...))
}

func (c *checker) addLine(line int, key, rule, msg string) {
	c.problems = append(c.problems, ConfigProblem{Line: line, Key: key, Rule: rule, Msg: msg})
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
	cfg.Gateway = c.gateway(fc.Gateway)
	for i, f := range fc.ECHKeys {
		if !filepath.IsAbs(f) && c.dir != "" {
			f = filepath.Join(c.dir, f)
		}
		if _, err := ech.ReadKeyFile(f); err != nil {
			c.add("ech-keys", "E4", "entry %d: %s", i+1, strings.TrimPrefix(err.Error(), "ech: "))
			continue
		}
		cfg.ECHKeyFiles = append(cfg.ECHKeyFiles, f)
	}
	c.publicIPs = len(cfg.Gateway.PublicIPs) > 0
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
	if fd.Upstream != nil {
		d.Upstream = c.upstream(key+".upstream", fd.Upstream)
	}
	// Judge what the file says, not what survived validation, so a record
	// with a mistake is not also reported as "publishes nothing".
	explicit := len(fd.Client)+len(fd.Server)+len(fd.Variants) > 0 || fd.Redirect.Client != "" || fd.Redirect.Server != ""
	switch {
	case !explicit && fd.Upstream == nil:
		c.add(key, "", "domain %q publishes nothing: add [[domain.client]] or [[domain.server]] records, a redirect, or a [domain.upstream] for the gateway", d.Name)
	case fd.Upstream != nil && !c.publicIPs && derives(fd):
		// Its records are derived from the gateway (G2), which needs
		// the addresses clients reach it at.
		c.add(key+".upstream", "G2", "domain %q has an upstream and no records of its own: set public-ips in [gateway] so that its records can be derived", d.Name)
	}
	return d
}

// derives reports whether a domain of the file gets records derived from
// the gateway (G2): a kind it publishes nothing of, with an upstream that
// serves that kind.
func derives(fd *fileDomain) bool {
	u := fd.Upstream
	client := len(fd.Client) == 0 && fd.Redirect.Client == "" && (u.C2S != "" || u.HTTP != "")
	server := len(fd.Server) == 0 && fd.Redirect.Server == "" && u.S2S != ""
	return client || server
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
		p, err := c.pin(s)
		if err != nil {
			c.add(key+".pins", "P2", "pin %d: %v", i+1, err)
			continue
		}
		sum := p.Digest(hacx.HashSHA256)
		if sum == nil {
			c.add(key+".pins", "P2", "pin %d: Public-Key-Pins carries only sha-256 digests (RFC 7469)", i+1)
			continue
		}
		if !seen[string(sum)] {
			seen[string(sum)] = true
			h.PinsSHA256 = append(h.PinsSHA256, sum)
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

package serve

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"hacx.dev/hacx"
	"hacx.dev/hacx/hostmeta"
)

// file is one of the paths Handler serves.
type file int

const (
	fileClient file = iota
	fileServer
	fileHostMeta
	fileHostMetaJSON
	numFiles
)

var fileNames = [numFiles]string{"xmpp-client.xml", "xmpp-server.xml", "host-meta", "host-meta.json"}

// Paths are the well-known paths Handler answers, in the order of Files.
var Paths = [numFiles]string{
	hacx.Client.WellKnownPath(),
	hacx.Server.WellKnownPath(),
	"/.well-known/host-meta",
	"/.well-known/host-meta.json",
}

var contentTypes = [numFiles]string{
	"application/xml", "application/xml", // P3
	"application/xrd+xml; charset=utf-8", // RFC 6415
	"application/json",                   // RFC 6415 JRD as XEP-0156 serves it
}

// response is a pre-rendered answer (P3: rendered at load, never per
// request). Header values are shared slices, assigned to the header map
// without copying; net/http never modifies them.
type response struct {
	status   int // 200 or 302
	body     []byte
	ttl      uint32 // what Cache-Control says, for Render
	etag     string // with quotes, strong
	ctype    []string
	cache    []string
	etagHdr  []string
	location []string
	length   []string
}

func newResponse(f file, body []byte, ttl uint32) *response {
	sum := sha256.Sum256(append([]byte(contentTypes[f]+"\n"), body...))
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
	return &response{
		status:  200,
		body:    body,
		ttl:     ttl,
		etag:    etag,
		ctype:   []string{contentTypes[f]},
		cache:   []string{"max-age=" + strconv.FormatUint(uint64(ttl), 10)},
		etagHdr: []string{etag},
		length:  []string{strconv.Itoa(len(body))},
	}
}

func redirectResponse(to string) *response {
	return &response{status: 302, location: []string{to}, length: []string{"0"}}
}

// site is one domain, compiled.
type site struct {
	name     string
	hsts     []string
	hpkp     []string // nil: no Public-Key-Pins
	cors     bool
	variants []*variantFiles // [0] is the default
	prefixes []prefixVariant // longest first
	up       *upstream       // where the gateway forwards (G1); nil: nowhere
}

type variantFiles struct {
	name  string
	files [numFiles]*response // nil: 404
}

type prefixVariant struct {
	prefix  netip.Prefix
	variant int
}

// state is a compiled Config: what one atomic swap replaces.
type state struct {
	sites   map[string]*site
	trusted []netip.Prefix
	header  string

	// The gateway's view (G1): its settings with defaults filled in, and
	// the site whose upstream takes c2s and s2s streams that name no
	// configured domain in their SNI (the first such domain configured).
	gw                     Gateway
	defaultC2S, defaultS2S *site
}

// domains lists the compiled domains in order, for output that must not
// depend on map order (hacx gen files and nginx snippets).
func (st *state) domains() []string {
	names := make([]string, 0, len(st.sites))
	for n := range st.sites {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// compile checks cfg and renders every file of every domain and variant.
func compile(cfg *Config) (*state, error) {
	st := &state{sites: map[string]*site{}, trusted: cfg.TrustedProxies, header: cfg.ClientIPHeader}
	if st.header == "" {
		st.header = "X-Forwarded-For"
	}
	for i := range cfg.Domains {
		d := &cfg.Domains[i]
		name := normalizeHost(d.Name)
		if name == "" {
			return nil, fmt.Errorf("serve: domain %d has no name", i+1)
		}
		if err := checkDomainName(name); err != nil {
			return nil, fmt.Errorf("serve: %w", err)
		}
		if _, dup := st.sites[name]; dup {
			return nil, fmt.Errorf("serve: domain %s configured twice", name)
		}
		dd, err := withDerived(name, d, &cfg.Gateway)
		if err != nil {
			return nil, fmt.Errorf("serve: domain %s: %w", name, err)
		}
		s, err := compileSite(name, dd)
		if err != nil {
			return nil, fmt.Errorf("serve: domain %s: %w", name, err)
		}
		st.sites[name] = s
		if d.Upstream != nil {
			s.up = newUpstream(name, d.Upstream, &st.gw)
			if s.up.c2s != nil && st.defaultC2S == nil {
				st.defaultC2S = s
			}
			if s.up.s2s != nil && st.defaultS2S == nil {
				st.defaultS2S = s
			}
		}
	}
	for _, a := range cfg.Gateway.PublicIPs {
		if err := checkPublicIP(a); err != nil {
			return nil, fmt.Errorf("serve: gateway public IP: %w", err)
		}
	}
	st.gw = cfg.Gateway.withDefaults()
	return st, nil
}

// withDerived returns d with the records derived from the gateway (G2) in
// each publication it leaves empty, for a domain with an upstream; d
// itself when there is nothing to derive.
func withDerived(name string, d *Domain, g *Gateway) (*Domain, error) {
	u := d.Upstream
	if u == nil {
		return d, nil
	}
	if probs := u.check(); len(probs) > 0 {
		return nil, fmt.Errorf("upstream: %s", strings.Join(probs, "; "))
	}
	client, server := deriveRecords(name, u, g)
	dd := *d
	derived := false
	if dd.Client.empty() && (u.C2S != "" || u.HTTP != "") {
		dd.Client.Records, derived = client, true
	}
	if dd.Server.empty() && u.S2S != "" {
		dd.Server.Records, derived = server, true
	}
	if derived && len(g.PublicIPs) == 0 {
		return nil, fmt.Errorf("it has an upstream and no records of its own, and the gateway has no public IPs to derive them with (--public-ip, or public-ips in [gateway]) (G2)")
	}
	return &dd, nil
}

func compileSite(name string, d *Domain) (*site, error) {
	s := &site{name: name, cors: !d.NoCORS}
	h := DefaultHSTS
	if d.HSTS != nil {
		h = *d.HSTS
	}
	if h.MaxAge < 0 {
		return nil, fmt.Errorf("negative HSTS max-age")
	}
	v := "max-age=" + strconv.FormatInt(int64(h.MaxAge.Seconds()), 10)
	if h.IncludeSubDomains {
		v += "; includeSubDomains"
	}
	s.hsts = []string{v}
	if d.HPKP != nil {
		hv, err := hpkpHeader(d.HPKP)
		if err != nil {
			return nil, err
		}
		s.hpkp = []string{hv}
	}
	def, err := compileVariant("default", d, d.Client, d.Server)
	if err != nil {
		return nil, err
	}
	s.variants = append(s.variants, def)
	for i := range d.Variants {
		v := &d.Variants[i]
		c, sv := v.Client, v.Server
		// An empty publication in a variant falls back to the domain's.
		if c.empty() {
			c = d.Client
		}
		if sv.empty() {
			sv = d.Server
		}
		name := v.Name
		if name == "" {
			name = "variant-" + strconv.Itoa(i+1)
		}
		vf, err := compileVariant(name, d, c, sv)
		if err != nil {
			return nil, fmt.Errorf("variant %s: %w", name, err)
		}
		s.variants = append(s.variants, vf)
		for _, p := range v.CIDRs {
			if !p.IsValid() {
				return nil, fmt.Errorf("variant %s: invalid CIDR", name)
			}
			s.prefixes = append(s.prefixes, prefixVariant{prefix: unmapPrefix(p).Masked(), variant: len(s.variants) - 1})
		}
	}
	// Longest prefix first, so the first match is the most specific (P4).
	sort.SliceStable(s.prefixes, func(i, j int) bool { return s.prefixes[i].prefix.Bits() > s.prefixes[j].prefix.Bits() })
	return s, nil
}

func unmapPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

// hpkpHeader renders Public-Key-Pins (RFC 7469 section 2.1), refusing a
// policy without a backup pin (P2, RFC 7469 section 4.3).
func hpkpHeader(h *HPKP) (string, error) {
	distinct := map[string]bool{}
	var b strings.Builder
	for _, p := range h.PinsSHA256 {
		if len(p) != sha256.Size {
			return "", fmt.Errorf("HPKP pin is %d bytes, not a sha-256 digest", len(p))
		}
		if distinct[string(p)] {
			continue
		}
		distinct[string(p)] = true
		fmt.Fprintf(&b, `pin-sha256="%s"; `, hacx.EncodeDigest(p))
	}
	if len(distinct) < 2 {
		return "", fmt.Errorf("HPKP needs a backup pin: at least two different keys (RFC 7469 section 4.3, P2)")
	}
	if h.MaxAge <= 0 {
		return "", fmt.Errorf("HPKP needs a positive max-age")
	}
	fmt.Fprintf(&b, "max-age=%d", int64(h.MaxAge.Seconds()))
	if h.IncludeSubDomains {
		b.WriteString("; includeSubDomains")
	}
	if h.ReportURI != "" {
		if strings.ContainsAny(h.ReportURI, "\"\r\n") {
			return "", fmt.Errorf("HPKP report-uri contains a quote or line break")
		}
		fmt.Fprintf(&b, `; report-uri="%s"`, h.ReportURI)
	}
	return b.String(), nil
}

func compileVariant(name string, d *Domain, client, server Publication) (*variantFiles, error) {
	vf := &variantFiles{name: name}
	var recs [2][]hacx.Record
	for k, p := range []Publication{client, server} {
		f := file(k)
		resp, rs, err := renderPublication(f, p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fileNames[f], err)
		}
		vf.files[f], recs[k] = resp, rs
	}
	if !d.NoHostMeta {
		ttl := effectiveTTL(client.TTL)
		hm := hostMeta(recs[0], recs[1], ttl)
		if len(hm.Links) > 0 {
			xrd := &hostmeta.Document{}
			for _, l := range hm.Links {
				if l.Rel == hostmeta.RelWebSocket || l.Rel == hostmeta.RelBOSH {
					xrd.Links = append(xrd.Links, hostmeta.Link{Rel: l.Rel, Href: l.Href})
				}
			}
			if len(xrd.Links) > 0 {
				body, err := hostmeta.Marshal(xrd)
				if err != nil {
					return nil, fmt.Errorf("host-meta: %w", err)
				}
				vf.files[fileHostMeta] = newResponse(fileHostMeta, body, ttl)
			}
			body, err := hostmeta.MarshalJSON(hm)
			if err != nil {
				return nil, fmt.Errorf("host-meta.json: %w", err)
			}
			vf.files[fileHostMetaJSON] = newResponse(fileHostMetaJSON, body, ttl)
		}
	}
	return vf, nil
}

func effectiveTTL(t uint32) uint32 {
	if t == 0 {
		return hacx.DefaultTTL
	}
	return t
}

// renderPublication renders one HACX document and returns the records it
// publishes, from which host-meta is derived (P5).
func renderPublication(f file, p Publication) (*response, []hacx.Record, error) {
	switch {
	case p.Redirect != "":
		if !strings.HasPrefix(p.Redirect, "https://") {
			return nil, nil, fmt.Errorf("redirect %q is not https:// (P1)", p.Redirect)
		}
		return redirectResponse(p.Redirect), nil, nil
	case p.Raw != nil:
		doc, err := hacx.Parse(p.Raw)
		if err != nil {
			return nil, nil, err
		}
		ttl := p.TTL
		if ttl == 0 {
			ttl = doc.TTL
		}
		return newResponse(f, p.Raw, effectiveTTL(ttl)), doc.Records, nil
	case len(p.Records) > 0:
		ttl := effectiveTTL(p.TTL)
		body, err := hacx.Marshal(&hacx.Document{TTL: ttl, Records: p.Records})
		if err != nil {
			return nil, nil, err
		}
		return newResponse(f, body, ttl), p.Records, nil
	}
	return nil, nil, nil
}

// hostMeta derives the host-meta links from HACX records (P5, X2, X3):
// one link per distinct endpoint, IPs of otherwise equal records merged.
// XEP-0156 clients read the websocket and xbosh hrefs and ignore the rest.
// The Host Meta 2 pin list applies to every link, so it is published only
// when every record is pinned, as the union of their sha-256 pins: listing
// pins when some record has none would break that record.
func hostMeta(client, server []hacx.Record, ttl uint32) *hostmeta.Document {
	d := &hostmeta.Document{}
	index := map[string]int{}
	allPinned := len(client)+len(server) > 0
	var pins []string
	seenPin := map[string]bool{}
	add := func(rel string, r hacx.Record) {
		l := hostmeta.Link{Rel: rel, Href: r.URL, Priority: r.Priority, Weight: r.Weight}
		if r.HasSNI {
			l.SNI = r.SNI
		}
		// The record's port always: for websocket and bosh it may differ
		// from the URL's (A8: TCP goes to ip:port, the URL names Host),
		// and Host Meta 2 readers take the link's port over the URL's.
		l.Port = r.Port
		if r.ECH != nil {
			l.ECH = base64.StdEncoding.EncodeToString(r.ECH) // X3's ech, E4
		}
		key := fmt.Sprintf("%s|%s|%d|%d|%d|%s|%t|%s", rel, r.URL, l.Port, r.Priority, r.Weight, r.SNI, r.HasSNI, l.ECH)
		ip := r.IP.String()
		if i, ok := index[key]; ok {
			d.Links[i].IPs = append(d.Links[i].IPs, ip)
		} else {
			l.IPs = []string{ip}
			index[key] = len(d.Links)
			d.Links = append(d.Links, l)
		}
		has := false
		for _, p := range r.Pins {
			if sum := p.Digest(hacx.HashSHA256); sum != nil {
				has = true
				s := hacx.EncodeDigest(sum)
				if !seenPin[s] {
					seenPin[s] = true
					pins = append(pins, s)
				}
			}
		}
		if !has {
			allPinned = false
		}
	}
	rels := map[hacx.Method][2]string{
		hacx.MethodTLS:       {hostmeta.RelTLS, hostmeta.RelS2STLS},
		hacx.MethodWebSocket: {hostmeta.RelWebSocket, hostmeta.RelS2SWebSocket},
		hacx.MethodBOSH:      {hostmeta.RelBOSH, ""},
		hacx.MethodQUIC:      {hostmeta.RelQUIC, hostmeta.RelS2SQUIC}, // Q1
	}
	for k, recs := range [][]hacx.Record{client, server} {
		for _, r := range recs {
			rel := rels[r.Method][k]
			if rel == "" {
				continue // s2s has no BOSH
			}
			add(rel, r)
		}
	}
	if len(d.Links) == 0 {
		return d
	}
	d.XMPP = &hostmeta.XMPP{TTL: ttl}
	if allPinned {
		d.XMPP.PublicKeyPinsSHA256 = pins
	}
	return d
}

package serve

import (
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
)

// Handler serves the discovery files of every configured domain (P1-P5):
//
//	/.well-known/xmpp-client.xml   HACX, jabber:client (H1)
//	/.well-known/xmpp-server.xml   HACX, jabber:server
//	/.well-known/host-meta         XEP-0156 XRD (X2)
//	/.well-known/host-meta.json    XEP-0156 JRD + Host Meta 2 (X3)
//
// The domain is the request's Host without port, compared
// case-insensitively; an unknown domain, a file the domain does not publish
// and any other path get 404 (H4). Every answer is rendered when the
// configuration is loaded, so a request costs a map lookup and a write.
//
// The zero Handler answers 404 to everything until Load succeeds. Load may
// be called at any time, concurrently with requests: the new configuration
// replaces the old one atomically.
type Handler struct {
	state atomic.Pointer[state]

	// Metrics, when set before serving, is told of every answer to a
	// well-known path (Metrics.Request); nil counts nothing.
	Metrics Metrics
}

// NewHandler returns a Handler serving cfg.
func NewHandler(cfg *Config) (*Handler, error) {
	h := new(Handler)
	if err := h.Load(cfg); err != nil {
		return nil, err
	}
	return h, nil
}

// Load renders cfg and, only if that succeeds, starts serving it in place of
// the previous configuration. On error the previous one stays in service.
func (h *Handler) Load(cfg *Config) error {
	st, err := compile(cfg)
	if err != nil {
		return err
	}
	h.state.Store(st)
	return nil
}

// Domains lists the domains currently served, for ACME host policies.
func (h *Handler) Domains() []string {
	st := h.state.Load()
	if st == nil {
		return nil
	}
	out := make([]string, 0, len(st.sites))
	for n := range st.sites {
		out = append(out, n)
	}
	return out
}

// Serves reports whether host (a Host header value or a bare name) is a
// configured domain.
func (h *Handler) Serves(host string) bool {
	st := h.state.Load()
	if st == nil {
		return false
	}
	_, ok := st.sites[hostKey(host)]
	return ok
}

var (
	allowHdr = []string{"GET, HEAD"}
	corsHdr  = []string{"*"}
	nosniff  = []string{"nosniff"}
)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f := pathFile(r.URL.Path)
	if f < 0 {
		http.NotFound(w, r)
		return
	}
	variant := ""
	status := h.serve(w, r, f, &variant)
	if m := h.Metrics; m != nil {
		m.Request(fileNames[f], status, variant)
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, f file, variant *string) int {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header()["Allow"] = allowHdr
		http.Error(w, "only GET and HEAD", http.StatusMethodNotAllowed)
		return http.StatusMethodNotAllowed
	}
	st := h.state.Load()
	if st == nil {
		http.NotFound(w, r)
		return http.StatusNotFound
	}
	s := st.sites[hostKey(r.Host)]
	if s == nil {
		// Unknown domain: no HSTS either, this is not our host (H4).
		http.NotFound(w, r)
		return http.StatusNotFound
	}
	hdr := w.Header()
	// P2: security headers on every answer for a configured domain.
	hdr["Strict-Transport-Security"] = s.hsts
	if s.hpkp != nil {
		hdr["Public-Key-Pins"] = s.hpkp
	}
	v := s.variants[0]
	if len(s.prefixes) > 0 {
		if a := st.clientAddr(r); a.IsValid() {
			for _, p := range s.prefixes {
				if p.prefix.Contains(a) {
					v = s.variants[p.variant]
					break
				}
			}
		}
	}
	*variant = v.name
	resp := v.files[f]
	if resp == nil {
		http.NotFound(w, r) // H4: this domain publishes no such document
		return http.StatusNotFound
	}
	if s.cors {
		hdr["Access-Control-Allow-Origin"] = corsHdr // P3: discovery files only
	}
	if resp.status == http.StatusFound {
		hdr["Location"] = resp.location
		hdr["Content-Length"] = resp.length
		w.WriteHeader(http.StatusFound)
		return http.StatusFound
	}
	hdr["Cache-Control"] = resp.cache
	hdr["Etag"] = resp.etagHdr
	hdr["X-Content-Type-Options"] = nosniff
	if inm := r.Header["If-None-Match"]; len(inm) > 0 && etagMatch(inm, resp.etag) {
		w.WriteHeader(http.StatusNotModified)
		return http.StatusNotModified
	}
	hdr["Content-Type"] = resp.ctype
	hdr["Content-Length"] = resp.length
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(resp.body)
	}
	return http.StatusOK
}

func pathFile(p string) file {
	for i, q := range Paths {
		if p == q {
			return file(i)
		}
	}
	return -1
}

// hostKey reduces a Host header to the configured-domain key: no port, no
// trailing dot, lower case. It allocates only for mixed-case hosts.
func hostKey(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			h = h[1:i]
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h, ':') == i {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// etagMatch implements If-None-Match (RFC 9110 section 13.1.2): weak
// comparison, "*" matches any current representation.
func etagMatch(values []string, etag string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || strings.TrimPrefix(t, "W/") == etag {
				return true
			}
		}
	}
	return false
}

// clientAddr is the client address a variant is chosen by (P4): the TCP
// peer, unless the peer is a trusted proxy, in which case the header's
// addresses are walked from the right (the hops our proxies appended) to
// the first one that is not itself a trusted proxy. With no trusted
// proxies configured the header is never read, so clients cannot pick
// their variant by forging it.
func (st *state) clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	a := ap.Addr().Unmap()
	if len(st.trusted) == 0 || !inPrefixes(st.trusted, a) {
		return a
	}
	vals := r.Header.Values(st.header)
	for i := len(vals) - 1; i >= 0; i-- {
		parts := strings.Split(vals[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			ip, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return a // garbage: keep the last hop we could trust
			}
			a = ip.Unmap()
			if !inPrefixes(st.trusted, a) {
				return a
			}
		}
	}
	return a
}

func inPrefixes(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

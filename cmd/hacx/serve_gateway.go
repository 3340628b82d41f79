package main

// The gateway flags of hacx serve (G1-G3): upstreams and public IPs for
// the quick mode, where domains come from --doc and --domain.

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"hacx.dev/hacx/serve"
)

// stringsFlag collects a repeated flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// upstreamFlags builds the Upstream of the quick mode; nil when no
// upstream flag was given. Its addresses are checked when the
// configuration loads (as --check-config shows).
func upstreamFlags(c2s, s2s, httpUp, wsPath, boshPath, caFile string, proxyProto bool) (*serve.Upstream, error) {
	if c2s == "" && s2s == "" && httpUp == "" {
		if proxyProto || caFile != "" {
			return nil, usagef("--proxy-protocol and --upstream-ca-file go with --c2s, --s2s or --http-upstream")
		}
		return nil, nil
	}
	u := &serve.Upstream{C2S: c2s, S2S: s2s, HTTP: httpUp, WebSocketPath: wsPath, BOSHPath: boshPath, ProxyProtocol: proxyProto}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, usagef("--upstream-ca-file: %v", err)
		}
		u.RootCAs = x509.NewCertPool()
		if !u.RootCAs.AppendCertsFromPEM(pem) {
			return nil, usagef("--upstream-ca-file: no PEM certificate in %s", caFile)
		}
	}
	return u, nil
}

// publicIPFlags parses --public-ip.
func publicIPFlags(vals []string) ([]netip.Addr, error) {
	var ips []netip.Addr
	for _, v := range vals {
		a, err := netip.ParseAddr(v)
		if err != nil || a.IsUnspecified() {
			return nil, usagef("--public-ip %q: want the IPv4 or IPv6 address clients connect to", v)
		}
		ips = append(ips, a.Unmap())
	}
	return ips, nil
}

// quickConfig is the configuration of the quick mode: documents served as
// they are (--doc, --server-doc), domains whose documents are derived
// (--domain), every one forwarded to up when set.
func quickConfig(docs, serverDocs docFlag, domains []string, up *serve.Upstream, ips []netip.Addr, logger *slog.Logger) (*serve.Config, error) {
	cfg := &serve.Config{}
	if len(docs) > 0 || len(serverDocs) > 0 {
		var warnings []string
		var err error
		cfg, warnings, err = serve.ConfigFromDocuments(docs, serverDocs)
		for _, w := range warnings {
			logger.Warn("document problem", "problem", w)
		}
		if err != nil {
			return nil, err
		}
	}
	for _, name := range domains {
		dup := false
		for _, d := range cfg.Domains {
			dup = dup || strings.EqualFold(d.Name, strings.TrimSuffix(name, "."))
		}
		if !dup {
			cfg.Domains = append(cfg.Domains, serve.Domain{Name: name})
		}
	}
	if up != nil {
		for i := range cfg.Domains {
			u := *up
			cfg.Domains[i].Upstream = &u
		}
	}
	cfg.Gateway.PublicIPs = ips
	return cfg, nil
}

// listenPort is the port of a listen address, 0 when it has none.
func listenPort(addr string) uint16 {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(p, 10, 16)
	return uint16(n)
}

// describeUpstream says in one line where a domain's traffic goes, for
// --check-config.
func describeUpstream(u *serve.Upstream) string {
	var parts []string
	if u.C2S != "" {
		parts = append(parts, "c2s "+u.C2S)
	}
	if u.S2S != "" {
		parts = append(parts, "s2s "+u.S2S)
	}
	if u.HTTP != "" {
		ws, bosh := u.WebSocketPath, u.BOSHPath
		if ws == "" {
			ws = serve.DefaultWebSocketPath
		}
		if bosh == "" {
			bosh = serve.DefaultBOSHPath
		}
		parts = append(parts, fmt.Sprintf("websocket %s%s, bosh %s%s", u.HTTP, ws, u.HTTP, bosh))
	}
	s := strings.Join(parts, ", ")
	if u.ProxyProtocol {
		s += " (PROXY protocol v2)"
	}
	return s
}

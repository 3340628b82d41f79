package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"hacx.dev/hacx"
	"hacx.dev/hacx/serve"
)

// genDNS writes, for the client records of cfg's domains (only domain
// when set) that carry ech (E4), the DNS records that publish the same
// ECHConfigList to clients that look in DNS: an HTTPS record (RFC 9460)
// for the URL host of each websocket and bosh record, with the record's
// port and addresses as hints. Direct-TLS records get a comment only: no
// SVCB mapping for XMPP exists, so their clients read ech from the HACX
// document. It reports whether it wrote anything.
func genDNS(w io.Writer, cfg *serve.Config, domain string) (bool, error) {
	type key struct {
		host string
		port uint16
		ech  string
	}
	type rr struct {
		ttl          uint32
		ipv4, ipv6   []string
		sawV4, sawV6 map[netip.Addr]bool
	}
	var order []key
	rrs := map[key]*rr{}
	var comments []string
	for _, d := range cfg.Domains {
		if domain != "" && !strings.EqualFold(strings.TrimSuffix(domain, "."), d.Name) {
			continue
		}
		ttl := d.Client.TTL
		if ttl == 0 {
			ttl = hacx.DefaultTTL
		}
		for i, r := range d.Client.Records {
			if r.ECH == nil {
				continue
			}
			list := base64.StdEncoding.EncodeToString(r.ECH)
			if r.Method == hacx.MethodTLS {
				comments = append(comments, fmt.Sprintf("; %s client record %d (tls %s): no SVCB mapping for XMPP; clients take ech from the HACX document", d.Name, i+1, r.Addr()))
				continue
			}
			u, err := url.Parse(r.URL)
			if err != nil {
				return false, fmt.Errorf("%s client record %d: %w", d.Name, i+1, err)
			}
			k := key{host: strings.TrimSuffix(u.Hostname(), ".") + ".", port: r.Port, ech: list}
			e := rrs[k]
			if e == nil {
				e = &rr{ttl: ttl, sawV4: map[netip.Addr]bool{}, sawV6: map[netip.Addr]bool{}}
				rrs[k] = e
				order = append(order, k)
			}
			switch ip := r.IP; {
			case ip.Is4() && !e.sawV4[ip]:
				e.sawV4[ip] = true
				e.ipv4 = append(e.ipv4, ip.String())
			case ip.Is6() && !e.sawV6[ip]:
				e.sawV6[ip] = true
				e.ipv6 = append(e.ipv6, ip.String())
			}
			e.ttl = min(e.ttl, ttl)
		}
	}
	for _, k := range order {
		e := rrs[k]
		// SvcParams in ascending key order (RFC 9460 section 2.2):
		// port (3), ipv4hint (4), ech (5), ipv6hint (6).
		var b strings.Builder
		fmt.Fprintf(&b, "%s %d IN HTTPS 1 .", k.host, e.ttl)
		if k.port != 443 {
			b.WriteString(" port=" + strconv.Itoa(int(k.port)))
		}
		if len(e.ipv4) > 0 {
			b.WriteString(" ipv4hint=" + strings.Join(e.ipv4, ","))
		}
		fmt.Fprintf(&b, " ech=%q", k.ech)
		if len(e.ipv6) > 0 {
			b.WriteString(" ipv6hint=" + strings.Join(e.ipv6, ","))
		}
		if _, err := fmt.Fprintln(w, b.String()); err != nil {
			return false, err
		}
	}
	for _, c := range comments {
		if _, err := fmt.Fprintln(w, c); err != nil {
			return false, err
		}
	}
	return len(order)+len(comments) > 0, nil
}

package main

import (
	"net"
	"net/url"
	"strings"
)

// domainArg checks the DOMAIN argument of lookup and check for what people
// paste instead of a domain: a URL, an address (JID, bare or full, or as
// an xmpp: URI) or host:port. Each is bad usage that names the domain it
// holds, so the fix is one copy away; anything else is left for discovery
// to judge.
func domainArg(arg string) error {
	what, dom := "", ""
	switch lower := strings.ToLower(arg); {
	case strings.HasPrefix(lower, "xmpp:"):
		// RFC 5122: xmpp:JID or xmpp://ACCOUNT/JID, then ?query#fragment.
		what = "an xmpp: URI"
		rest := arg[len("xmpp:"):]
		if a, ok := strings.CutPrefix(rest, "//"); ok {
			account, target, _ := strings.Cut(a, "/")
			rest = target
			if rest == "" {
				rest = account
			}
		}
		rest, _, _ = strings.Cut(rest, "#")
		rest, _, _ = strings.Cut(rest, "?")
		dom = jidDomain(rest)
	case strings.Contains(arg, "://"):
		what = "a URL"
		if u, err := url.Parse(arg); err == nil {
			dom = u.Hostname()
		}
	case strings.ContainsAny(arg, "@/"):
		what = "an XMPP address"
		dom = jidDomain(arg)
	default:
		host, port, err := net.SplitHostPort(arg)
		if err != nil || port == "" || strings.Trim(port, "0123456789") != "" {
			return nil
		}
		what, dom = "host:port", host
	}
	if dom == "" {
		return usagef("%q is %s, not a DOMAIN such as example.org", arg, what)
	}
	return usagef("%q is %s, not a DOMAIN: did you mean %s?", arg, what, dom)
}

// jidDomain is the domainpart of an XMPP address (RFC 7622 section 3.2):
// the resource starts at the first '/', and may itself hold '@'.
func jidDomain(jid string) string {
	bare, _, _ := strings.Cut(jid, "/")
	if i := strings.LastIndexByte(bare, '@'); i >= 0 {
		return bare[i+1:]
	}
	return bare
}

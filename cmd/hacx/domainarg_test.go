package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestDomainArg_DidYouMean: lookup and check take a DOMAIN; a URL, an XMPP
// address (bare, full, as an xmpp: URI) or host:port is bad usage that
// names the domain inside. The context is cancelled and the resolver a
// refused loopback port: a command that took the argument could reach
// nothing.
func TestDomainArg_DidYouMean(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	args := []string{
		"https://example.org/",
		"https://example.org:8443/.well-known/xmpp-client.xml",
		"alice@example.org",
		"alice@example.org/resource",
		"alice@example.org/a@b", // a resource may hold '@'
		"xmpp:alice@example.org",
		"xmpp:alice@example.org?message;subject=hi",
		"xmpp://bob@other.example/alice@example.org",
		"example.org:5222",
	}
	for _, cmd := range []string{"lookup", "check"} {
		for _, arg := range args {
			t.Run(cmd+" "+arg, func(t *testing.T) {
				var out, errb bytes.Buffer
				code := run(ctx, []string{cmd, "--resolver", refusedIP + ":1", "--socks", "none", "--no-cache", "--state-dir", t.TempDir(), arg},
					&stdio{in: strings.NewReader(""), out: &out, err: &errb})
				if code != exitUsage || out.Len() != 0 || !strings.Contains(errb.String(), "did you mean example.org?") {
					t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and \"did you mean example.org?\"", code, out.String(), errb.String())
				}
			})
		}
	}
}

func TestDomainArg_DomainsPass(t *testing.T) {
	for _, arg := range []string{"example.org", "example.org.", "xn--bcher-kva.example", "_tcp.example.org"} {
		if err := domainArg(arg); err != nil {
			t.Errorf("domainArg(%q) = %v, want nil", arg, err)
		}
	}
}

package main

import (
	"flag"
	"time"
)

// netFlags are the flags every network command shares (lookup, check,
// proxy, demo...), so that they mean the same everywhere.
type netFlags struct {
	resolver string        // DNS server host:port; DNSSEC answers trusted only from loopback or this
	caFile   string        // extra PEM roots, added to the system pool
	cacheDir string        // document cache directory
	noCache  bool          // neither read nor write the document cache
	stateDir string        // HSTS / HPKP stores
	timeout  time.Duration // whole-operation timeout
	socks    string        // socks5h:// or socks5:// proxy URL, "none" to disable
}

func (n *netFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&n.resolver, "resolver", "", "DNS `server` (host:port) for SRV, A/AAAA and DNSSEC-validated TLSA lookups (default: system resolver)")
	fs.StringVar(&n.caFile, "ca-file", "", "PEM `file` of extra trusted root certificates")
	fs.StringVar(&n.cacheDir, "cache-dir", "", "document cache `dir` (default: the user cache dir + /hacx)")
	fs.BoolVar(&n.noCache, "no-cache", false, "do not read or write the document cache")
	fs.StringVar(&n.stateDir, "state-dir", "", "HSTS/HPKP state `dir` (default: the user config dir + /hacx)")
	fs.DurationVar(&n.timeout, "timeout", 30*time.Second, "give up after this `duration`")
	fs.StringVar(&n.socks, "socks", "", "SOCKS5 proxy `URL` (socks5h://host:port resolves names through it); \"none\" ignores ALL_PROXY")
}

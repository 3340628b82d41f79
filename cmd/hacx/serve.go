package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"hacx.dev/hacx/ech"
	"hacx.dev/hacx/serve"
)

// docFlag collects repeated DOMAIN=PATH flags.
type docFlag map[string]string

func (d docFlag) String() string { return "" }

func (d docFlag) Set(v string) error {
	dom, path, ok := strings.Cut(v, "=")
	if !ok || dom == "" || path == "" {
		return fmt.Errorf("want DOMAIN=PATH, got %q", v)
	}
	d[dom] = path
	return nil
}

func init() {
	register(&command{
		name:  "serve",
		args:  "--config FILE | --doc DOMAIN=PATH... | --domain NAME... [flags]",
		short: "publish HACX documents and host-meta over HTTPS; the XMPP front door on 443",
		long: `Serve /.well-known/xmpp-client.xml, xmpp-server.xml, host-meta and
host-meta.json for every configured domain, chosen by the Host header
(rules P1-P5). The configuration is a TOML file (see examples/hacx.toml), or
existing documents given with --doc and --server-doc, served as they are.

Certificates come from --cert/--key (PEM, reloaded when they change), from
--self-signed, or from ACME (--acme-cache DIR) for exactly the configured
domains; --acme-directory picks another ACME server than Let's Encrypt, and
--acme-ca-file the CA its HTTPS is checked against (a test server such as
pebble). The configuration and certificates are reloaded on SIGHUP and when
their files change; a broken new configuration is logged and the old one
keeps serving. SIGTERM shuts down gracefully.

--self-signed makes a certificate at start for the configured domains and
serves with it: for trying hacx serve out only, NOT FOR PRODUCTION, since
no client trusts it (a warning on stderr says so, with the file holding
the certificate, removed on exit). To try it without root:

    hacx serve --doc example.org=xmpp-client.xml --self-signed --listen 127.0.0.1:8443 --http-listen ""
    curl -k --resolve example.org:8443:127.0.0.1 https://example.org:8443/.well-known/xmpp-client.xml

The same port is a gateway to your XMPP server (rule G1): given upstreams
(--c2s, --s2s, --http-upstream, or [domain.upstream] in the configuration,
see examples/hacx-gateway.toml), each TLS connection is routed after its
handshake by ALPN: xmpp-client to the server's c2s listener, xmpp-server to
its s2s listener (byte for byte once TLS ended here), h2 and http/1.1 to
the discovery files, and the WebSocket and BOSH paths (--websocket-path,
--bosh-path; /ws and /bosh for ejabberd) to its HTTP listener. Without
ALPN, a client whose first byte is '<' is c2s, anything else HTTP.
--xmpps-listen ADDR (e.g. :5223) adds a direct-TLS port that is always c2s.
--quic also listens on UDP at the --listen address for XMPP over QUIC
(XEP-0467, Q1): ALPN xmpp-client to the c2s upstream, xmpp-server to the
s2s upstream, the connection's first stream relayed byte for byte; derived
documents then list QUIC records on that port too.
An upstream that is down gets the client a <remote-connection-failed/>
stream error. Certificates are the ones above, chosen by SNI.

The upstream listeners are plain (on loopback: the server must treat these
streams as secure, since TLS ended at the gateway; ejabberd: a c2s listener
without starttls_required; Prosody 0.12: the module in
examples/prosody/mod_hacx_gateway.lua), or tls://HOST:PORT for the server's
own direct-TLS port, which hacx verifies against --upstream-ca-file (or the
system roots) for the domain's name and which needs no change on the
server. --proxy-protocol sends a PROXY protocol v2 header first, so that
the server logs the client's address (ejabberd: use_proxy_protocol: true);
HTTP upstreams get X-Forwarded-For (G3).

    hacx serve --domain example.org --c2s 127.0.0.1:5222 \
        --http-upstream http://127.0.0.1:5280 --public-ip 192.0.2.10 \
        --cert fullchain.pem --key privkey.pem

A domain named by --domain, or one with upstreams and no records in the
configuration, publishes a document derived from the gateway (G2): direct
TLS with ALPN xmpp-client on the --listen port (and the --xmpps-listen
port), WebSocket and BOSH, for each --public-ip (public-ips in [gateway]),
and host-meta to match. Limits and timeouts (handshake, first byte,
connect, idle per kind, connections per address and in all) are in the
[gateway] table; each connection ends with one log line on stderr.

With --ech-key FILE (repeatable; ech-keys in the configuration), the TLS
listeners accept Encrypted Client Hello (E4) with every key given, so keys
can rotate: publish the newest key's ECHConfigList ("hacx ech keygen"
prints it) as the records' ech; clients still holding an older one are
accepted, and clients holding an unknown one get the newest as retry
configuration. The server's certificate must also name each key's public
name. Key files are reloaded with the configuration.

Plain HTTP (redirects to HTTPS, ACME http-01) listens on the --listen host,
port 80, unless --http-listen says otherwise; --http-listen "" turns it
off. The configuration, documents, certificate and key are read before
any port is bound.

With --check-config, only validate: exit 0 when valid, 2 with every problem
and its line number otherwise; the gateway settings and upstreams are
checked too, and each domain's upstreams printed. Given --cert too, also check every HPKP
policy against that chain (P2): it needs a pin matching a key of the chain,
or clients ignore it (RFC 7469 section 2.5), and a backup pin, one matching
no key the server presents (RFC 7469 section 4.3); hacx serve refuses to
load a configuration or certificate that breaks this. Given --acme-cache
instead, any HPKP policy is an error: ACME renewals make new keys, which
would lock out clients holding the pins, so hacx serve refuses HPKP with
ACME. Without either, a note on stderr says which policies went unchecked.

Exit status: 0 after a signal-initiated shutdown (or a valid configuration
with --check-config), 1 when serving fails, 2 bad usage, or a
configuration, certificate or key that is unreadable or invalid at
start-up (later, on reload, the previous one keeps serving).`,
		run: runServe,
	})
}

func runServe(ctx context.Context, sio *stdio, args []string) error {
	c := commands["serve"]
	fs := newFlags(c, sio)
	var (
		config     = fs.String("config", "", "TOML configuration `file`")
		docs       = docFlag{}
		serverDocs = docFlag{}
		listen     = fs.String("listen", ":443", "HTTPS listen `address`")
		httpListen = fs.String("http-listen", "", "plain HTTP `address` for redirects and ACME http-01 (default: the --listen host, port 80); \"\" disables")
		metrics    = fs.String("metrics", "", "serve Prometheus /metrics on this `address` (keep it private)")
		certFile   = fs.String("cert", "", "PEM certificate chain `file`")
		keyFile    = fs.String("key", "", "PEM private key `file`")
		selfSigned = fs.Bool("self-signed", false, "serve with a certificate made at start for the configured domains: for trying it out, NOT FOR PRODUCTION (no client trusts it)")
		acmeCache  = fs.String("acme-cache", "", "use ACME, keeping account and certificates in this `dir`")
		acmeDir    = fs.String("acme-directory", "", "ACME directory `URL` (default Let's Encrypt)")
		acmeEmail  = fs.String("acme-email", "", "contact `address` for the ACME account")
		acmeCA     = fs.String("acme-ca-file", "", "trust only this PEM CA `file` for the ACME directory's HTTPS (test CAs such as pebble)")
		poll       = fs.Duration("poll", 5*time.Second, "check watched files for changes this often; 0 disables")
		check      = fs.Bool("check-config", false, "validate the configuration and exit")
		xmppsAddr  = fs.String("xmpps-listen", "", "also listen for direct TLS that is always c2s at this `address` (e.g. :5223)")
		quicOn     = fs.Bool("quic", false, "also listen on UDP at the --listen address for XMPP over QUIC (XEP-0467) to the c2s and s2s upstreams")
		c2s        = fs.String("c2s", "", "forward c2s streams to the XMPP server's plain c2s listener `ADDR` (host:port), or tls://HOST:PORT to its direct-TLS port")
		s2s        = fs.String("s2s", "", "forward s2s streams to the XMPP server's s2s listener `ADDR` (host:port or tls://HOST:PORT)")
		httpUp     = fs.String("http-upstream", "", "forward WebSocket and BOSH to the XMPP server's HTTP listener `URL` (e.g. http://127.0.0.1:5280)")
		wsPath     = fs.String("websocket-path", serve.DefaultWebSocketPath, "WebSocket `path` forwarded to --http-upstream")
		boshPath   = fs.String("bosh-path", serve.DefaultBOSHPath, "BOSH `path` forwarded to --http-upstream")
		upCA       = fs.String("upstream-ca-file", "", "verify tls:// and https:// upstreams against this PEM CA `file` (default: the system roots)")
		proxyProto = fs.Bool("proxy-protocol", false, "send a PROXY protocol v2 header on c2s and s2s upstream connections")
		domains    stringsFlag
		publicIPs  stringsFlag
		echKeys    stringsFlag
	)
	fs.Var(docs, "doc", "serve `DOMAIN=PATH` as DOMAIN's xmpp-client.xml (repeatable)")
	fs.Var(serverDocs, "server-doc", "serve `DOMAIN=PATH` as DOMAIN's xmpp-server.xml (repeatable)")
	fs.Var(&domains, "domain", "serve `NAME` with a document derived from the gateway (repeatable; needs upstreams)")
	fs.Var(&publicIPs, "public-ip", "an `IP` clients reach the listeners at, for derived documents (repeatable)")
	fs.Var(&echKeys, "ech-key", "accept Encrypted Client Hello with this key `file` from \"hacx ech keygen\" (repeatable; E4)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	httpSet := false
	fs.Visit(func(f *flag.Flag) { httpSet = httpSet || f.Name == "http-listen" })
	if !httpSet {
		*httpListen = defaultHTTPAddr(*listen)
	}
	haveDocs := len(docs) > 0 || len(serverDocs) > 0
	quick := haveDocs || len(domains) > 0
	up, err := upstreamFlags(*c2s, *s2s, *httpUp, *wsPath, *boshPath, *upCA, *proxyProto)
	if err != nil {
		return err
	}
	ips, err := publicIPFlags(publicIPs)
	if err != nil {
		return err
	}
	switch {
	case *config == "" && !quick:
		return usagef("need --config FILE, --doc DOMAIN=PATH or --domain NAME")
	case *config != "" && quick:
		return usagef("--config and --doc/--server-doc/--domain exclude each other")
	case *config != "" && (up != nil || len(ips) > 0):
		return usagef("upstreams and public IPs go in the configuration file with --config ([domain.upstream], [gateway] public-ips)")
	case len(domains) > 0 && up == nil:
		return usagef("--domain publishes a document derived from the gateway: give --c2s, --s2s or --http-upstream")
	}
	for _, d := range domains {
		if err := domainArg(d); err != nil {
			return err
		}
	}
	logger := slog.New(slog.NewTextHandler(sio.err, nil))

	var watch []string
	load := func() (*serve.Config, error) { return serve.LoadConfig(*config) }
	if quick {
		load = func() (*serve.Config, error) {
			return quickConfig(docs, serverDocs, domains, up, ips, logger)
		}
		for _, m := range []docFlag{docs, serverDocs} {
			for _, p := range m {
				watch = append(watch, p)
			}
		}
	} else {
		watch = []string{*config}
	}

	if *check {
		cfg, err := load()
		if err == nil {
			// The ports serving would give the derived records (G2).
			if cfg.Gateway.PublicPort == 0 {
				cfg.Gateway.PublicPort = listenPort(*listen)
			}
			if cfg.Gateway.XMPPSPort == 0 {
				cfg.Gateway.XMPPSPort = listenPort(*xmppsAddr)
			}
			_, err = serve.NewHandler(cfg) // renders everything, as serving would
		}
		for _, f := range echKeys {
			if err == nil {
				_, err = ech.ReadKeyFile(f)
			}
		}
		switch {
		case err != nil:
		case *certFile != "":
			err = checkChain(cfg, *certFile)
		case *acmeCache != "":
			err = cfg.CheckACME()
		default:
			for _, d := range cfg.Domains {
				if d.HPKP != nil {
					diagf(sio, c, "note: HPKP policy of %s not checked against a certificate chain: give --cert FILE (P2); with ACME (--acme-cache) HPKP is refused", d.Name)
				}
			}
		}
		if err != nil {
			// Every problem, each with its line, for the operator to fix.
			return exitErr(exitUsage, err)
		}
		fmt.Fprintf(sio.out, "configuration OK: %d domain(s)\n", len(cfg.Domains))
		for _, d := range cfg.Domains {
			if d.Upstream != nil {
				fmt.Fprintf(sio.out, "%s: %s\n", d.Name, describeUpstream(d.Upstream))
			}
		}
		return nil
	}

	if (*certFile == "") != (*keyFile == "") {
		return usagef("--cert and --key go together")
	}
	if *selfSigned && (*certFile != "" || *acmeCache != "") {
		return usagef("--self-signed excludes --cert/--key and --acme-cache")
	}
	if *selfSigned {
		dir, err := writeSelfSigned(load)
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		*certFile, *keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		diagf(sio, c, "warning: --self-signed: serving a certificate made just now, NOT FOR PRODUCTION: no client trusts it; it is in %s until hacx serve exits", *certFile)
	}
	if *certFile == "" && *acmeCache == "" {
		return usagef("need --cert and --key, --self-signed, or --acme-cache DIR for ACME")
	}
	s := &serve.Server{
		Load: load, Watch: watch, PollInterval: *poll,
		Addr: *listen, HTTPAddr: *httpListen, XMPPSAddr: *xmppsAddr,
		CertFile: *certFile, KeyFile: *keyFile,
		ECHKeyFiles: echKeys,
		Logger:      logger,
	}
	if *quicOn {
		s.QUICAddr = *listen // Q1: the same host and port, over UDP
	}
	if *metrics != "" {
		// A private registry: /metrics shows hacx serve's metrics only.
		reg := prometheus.NewRegistry()
		m, err := newServeMetrics(reg)
		if err != nil {
			return err
		}
		s.Metrics, s.MetricsAddr = m, *metrics
		s.MetricsHandler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	}
	if *poll == 0 {
		s.PollInterval = -1
	}
	if *certFile == "" {
		s.ACME = &autocert.Manager{
			Prompt: autocert.AcceptTOS,
			Cache:  autocert.DirCache(*acmeCache),
			Email:  *acmeEmail,
		}
		if *acmeDir != "" || *acmeCA != "" {
			s.ACME.Client = &acme.Client{DirectoryURL: *acmeDir}
		}
		if *acmeCA != "" {
			pem, err := os.ReadFile(*acmeCA)
			if err != nil {
				return usagef("--acme-ca-file: %v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return usagef("--acme-ca-file: no PEM certificate in %s", *acmeCA)
			}
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.TLSClientConfig = &tls.Config{RootCAs: pool}
			s.ACME.Client.HTTPClient = &http.Client{Transport: t}
		}
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				logger.Info("SIGHUP: reloading")
				s.Reload() // logs its own failure; the old config keeps serving
			}
		}
	}()
	err = s.Run(ctx)
	if _, bad := errors.AsType[*serve.StartError](err); bad {
		// An unreadable or invalid configuration, certificate or key:
		// bad input, reported once (the server logs only reload
		// failures, when an older version keeps serving).
		return exitErr(exitUsage, err)
	}
	return err
}

// checkChain checks cfg's HPKP policies against the PEM chain in certFile.
func checkChain(cfg *serve.Config, certFile string) error {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return err
	}
	var chain []*x509.Certificate
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return fmt.Errorf("%s: %w", certFile, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return fmt.Errorf("%s: no certificate found", certFile)
	}
	return cfg.CheckChain(chain)
}

// defaultHTTPAddr is the plain-HTTP address that goes with the HTTPS one:
// the same host, port 80. Every address (":80") when HTTPS has one would
// open a port the operator did not ask for, and fail when another program
// holds port 80 on another address.
func defaultHTTPAddr(listen string) string {
	host, _, _ := net.SplitHostPort(listen)
	return net.JoinHostPort(host, "80")
}

// writeSelfSigned writes a self-signed certificate for the domains load
// gives, and its key, as cert.pem and key.pem in a new private directory
// that the caller removes. The files let the server run as with
// --cert/--key, and give the user a certificate to trust for a test
// (curl --cacert). When the configuration does not load, the certificate
// names no domain: the server's start then reports the configuration's
// problems as usual.
func writeSelfSigned(load func() (*serve.Config, error)) (string, error) {
	var names []string
	if cfg, err := load(); err == nil {
		for _, d := range cfg.Domains {
			names = append(names, d.Name)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return "", err
	}
	cn := "hacx serve --self-signed"
	if len(names) > 0 {
		cn = names[0]
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"hacx serve --self-signed, not for production"}},
		DNSNames:     names,
		NotBefore:    now.Add(-time.Hour), // clocks differ
		NotAfter:     now.Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "hacx-self-signed-")
	if err != nil {
		return "", err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o644); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

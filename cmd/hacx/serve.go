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
		args:  "--config FILE | --doc DOMAIN=PATH... [flags]",
		short: "publish HACX documents and host-meta over HTTPS",
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

Plain HTTP (redirects to HTTPS, ACME http-01) listens on the --listen host,
port 80, unless --http-listen says otherwise; --http-listen "" turns it
off. The configuration, documents, certificate and key are read before
any port is bound.

With --check-config, only validate: exit 0 when valid, 2 with every problem
and its line number otherwise. Given --cert too, also check every HPKP
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
	)
	fs.Var(docs, "doc", "serve `DOMAIN=PATH` as DOMAIN's xmpp-client.xml (repeatable)")
	fs.Var(serverDocs, "server-doc", "serve `DOMAIN=PATH` as DOMAIN's xmpp-server.xml (repeatable)")
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
	switch {
	case *config == "" && !haveDocs:
		return usagef("need --config FILE or --doc DOMAIN=PATH")
	case *config != "" && haveDocs:
		return usagef("--config and --doc/--server-doc exclude each other")
	}
	logger := slog.New(slog.NewTextHandler(sio.err, nil))

	var watch []string
	load := func() (*serve.Config, error) { return serve.LoadConfig(*config) }
	if haveDocs {
		load = func() (*serve.Config, error) {
			cfg, warnings, err := serve.ConfigFromDocuments(docs, serverDocs)
			for _, w := range warnings {
				logger.Warn("document problem", "problem", w)
			}
			return cfg, err
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
			_, err = serve.NewHandler(cfg) // renders everything, as serving would
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
		Addr: *listen, HTTPAddr: *httpListen,
		CertFile: *certFile, KeyFile: *keyFile,
		Logger: logger,
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

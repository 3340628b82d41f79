package testbed

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hacx.dev/hacx/hacxtest"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ProsodyConfig describes a real Prosody server (Debian's prosody package)
// for integration tests and "hacx demo --prosody".
type ProsodyConfig struct {
	// Domain is the VirtualHost, e.g. "example.test".
	Domain string
	// IP is the loopback address to bind; "" means 127.0.0.1.
	IP string
	// Cert is presented for Domain on every port, with or without SNI.
	Cert *tls.Certificate

	// GatewaySnippet, when set, puts this Prosody behind hacx serve (G1,
	// G3): Lua settings in the form of
	// examples/prosody/hacx-gateway.cfg.lua, added to the global section
	// with its port 5222 replaced by the plain c2s port (StartTLSAddr),
	// 5280 by a plain HTTP port (HTTPAddr), 127.0.0.1 in its *_interfaces
	// settings by IP, and its plugin_paths by a directory holding a copy
	// of each of PluginFiles. The addresses it trusts are kept: in tests
	// hacx serve connects from 127.0.0.1, so IP must be another address.
	GatewaySnippet string
	// PluginFiles are Prosody modules (mod_NAME.lua) to install, and
	// Modules the extra modules to enable.
	PluginFiles []string
	Modules     []string
}

// Prosody is a running Prosody bound to loopback ports of its own, in a
// temporary directory that Close removes.
type Prosody struct {
	Domain       string
	TLSAddr      netip.AddrPort // direct TLS (XEP-0368)
	StartTLSAddr netip.AddrPort // plain c2s with STARTTLS
	HTTPSAddr    netip.AddrPort // WebSocket and BOSH
	HTTPAddr     netip.AddrPort // plain WebSocket and BOSH; zero unless GatewaySnippet
	WebSocketURL string         // wss://Domain:port/xmpp-websocket
	BOSHURL      string         // https://Domain:port/http-bind

	dir    string
	cfg    string
	cred   *syscall.Credential // the prosody user's, when we are root
	cmd    *exec.Cmd
	exited chan error
}

// ProsodyAvailable reports why Prosody cannot be started here, or nil.
func ProsodyAvailable() error {
	if _, err := exec.LookPath("prosody"); err != nil {
		return errors.New("testbed: prosody is not installed (apt-get install prosody)")
	}
	if os.Geteuid() == 0 {
		if _, err := runAs("prosody"); err != nil {
			return err
		}
	}
	return nil
}

// StartProsody starts Prosody and returns once all its ports accept
// connections, or ctx ends.
func StartProsody(ctx context.Context, cfg ProsodyConfig) (*Prosody, error) {
	if err := ProsodyAvailable(); err != nil {
		return nil, err
	}
	if cfg.IP == "" {
		cfg.IP = "127.0.0.1"
	}
	return retryPorts(ctx, func() (*Prosody, error) { return startProsody(ctx, cfg) })
}

// startProsody is one start-up on newly picked ports; on failure
// everything it started is gone.
func startProsody(ctx context.Context, cfg ProsodyConfig) (*Prosody, error) {
	dir, err := os.MkdirTemp("", "hacx-prosody-")
	if err != nil {
		return nil, err
	}
	p := &Prosody{Domain: cfg.Domain, dir: dir, cfg: filepath.Join(dir, "prosody.cfg.lua"), exited: make(chan error, 1)}
	if err := p.setup(cfg); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p.cmd = p.command(ctx, "prosody", "-F", "--config", p.cfg)
	p.cmd.Stdout, p.cmd.Stderr = nil, nil // everything goes to prosody.log
	p.cmd.SysProcAttr.Setpgid = true
	if err := p.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("testbed: start prosody: %w", err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	if err := p.waitReady(ctx, cfg.Cert.Certificate[0]); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *Prosody) setup(cfg ProsodyConfig) error {
	n := 3
	if cfg.GatewaySnippet != "" {
		n = 4
	}
	ports, err := pickPorts(cfg.IP, n)
	if err != nil {
		return err
	}
	ip := netip.MustParseAddr(cfg.IP)
	p.TLSAddr = netip.AddrPortFrom(ip, ports[0])
	p.StartTLSAddr = netip.AddrPortFrom(ip, ports[1])
	p.HTTPSAddr = netip.AddrPortFrom(ip, ports[2])
	p.WebSocketURL = fmt.Sprintf("wss://%s:%d/xmpp-websocket", cfg.Domain, ports[2])
	p.BOSHURL = fmt.Sprintf("https://%s:%d/http-bind", cfg.Domain, ports[2])

	certPEM, keyPEM, err := hacxtest.CertPEM(cfg.Cert)
	if err != nil {
		return err
	}
	certs := filepath.Join(p.dir, "certs")
	for _, d := range []string{certs, filepath.Join(p.dir, "data")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	crt, key := filepath.Join(certs, cfg.Domain+".crt"), filepath.Join(certs, cfg.Domain+".key")
	if err := os.WriteFile(crt, certPEM, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
		return err
	}
	q := strconv.Quote
	var gateway string
	if cfg.GatewaySnippet != "" {
		p.HTTPAddr = netip.AddrPortFrom(ip, ports[3])
		plugins := filepath.Join(p.dir, "plugins")
		if err := os.Mkdir(plugins, 0o700); err != nil {
			return err
		}
		for _, f := range cfg.PluginFiles {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(plugins, filepath.Base(f)), b, 0o600); err != nil {
				return err
			}
		}
		gateway = prosodySnippet(cfg.GatewaySnippet, map[string]string{
			"5222": strconv.Itoa(int(ports[1])), "5280": strconv.Itoa(int(ports[3])),
		}, cfg.IP, plugins)
	}
	tlsCfg := fmt.Sprintf("{ certificate = %s, key = %s }", q(crt), q(key))
	conf := strings.Join([]string{
		"pidfile = " + q(filepath.Join(p.dir, "prosody.pid")),
		"data_path = " + q(filepath.Join(p.dir, "data")),
		`log = { { levels = { min = "info" }, to = "file", filename = ` + q(filepath.Join(p.dir, "prosody.log")) + ` } }`,
		"interfaces = { " + q(cfg.IP) + " }",
		"local_interfaces = { " + q(cfg.IP) + " }",
		fmt.Sprintf("c2s_ports = { %d }", ports[1]),
		fmt.Sprintf("c2s_direct_tls_ports = { %d }", ports[0]),
		"s2s_ports = { }",
		"http_ports = { }",
		fmt.Sprintf("https_ports = { %d }", ports[2]),
		"http_interfaces = { " + q(cfg.IP) + " }",
		"https_interfaces = { " + q(cfg.IP) + " }",
		"certificates = " + q(certs),
		"ssl = " + tlsCfg,
		"https_ssl = " + tlsCfg,
		"c2s_direct_tls_ssl = " + tlsCfg,
		`modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "bosh", "websocket", "offline"` + quotedList(cfg.Modules) + ` }`,
		`modules_disabled = { "s2s" }`,
		"consider_websocket_secure = true",
		"consider_bosh_secure = true",
		`authentication = "internal_hashed"`,
		`storage = "internal"`,
		gateway,
		"VirtualHost " + q(cfg.Domain),
		"",
	}, "\n")
	if err := os.WriteFile(p.cfg, []byte(conf), 0o600); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		// Prosody refuses to run as root; give its user the directory.
		cred, err := runAs("prosody")
		if err != nil {
			return err
		}
		p.cred = cred
		return giveTree(p.dir, cred)
	}
	return nil
}

// prosodySnippet adapts settings in the form of
// examples/prosody/hacx-gateway.cfg.lua to a test server: ports, the
// address of its listeners, its plugin directory.
func prosodySnippet(snippet string, ports map[string]string, ip, plugins string) string {
	var out []string
	for _, line := range strings.Split(snippet, "\n") {
		key, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch {
		case strings.HasPrefix(key, "--"):
			continue
		case key == "plugin_paths":
			line = "plugin_paths = { " + strconv.Quote(plugins) + " }"
		case strings.HasSuffix(key, "_ports"):
			for from, to := range ports {
				line = strings.ReplaceAll(line, from, to)
			}
		case strings.HasSuffix(key, "_interfaces"):
			line = strings.ReplaceAll(line, `"127.0.0.1"`, strconv.Quote(ip))
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// quotedList is ", \"a\", \"b\"" for a Lua list that has items before.
func quotedList(items []string) string {
	var b strings.Builder
	for _, it := range items {
		b.WriteString(", " + strconv.Quote(it))
	}
	return b.String()
}

// command runs a Prosody tool as the prosody user when we are root.
func (p *Prosody) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	return cmd
}

// freePorts finds n ports free on ip. Another process can take one before
// the program binds it; the Start functions then start again on new ones.
func freePorts(ip string, n int) ([]uint16, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []uint16
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, uint16(l.Addr().(*net.TCPAddr).Port))
	}
	return ports, nil
}

// waitReady returns once Prosody itself answers on every port: it
// presents leaf (DER) over direct TLS, HTTPS and STARTTLS. Prosody keeps
// running when it cannot bind a port, and a connection there reaches
// whoever took it, so an answer without leaf, or "Failed to open server
// port" in the log, is errPortTaken.
func (p *Prosody) waitReady(ctx context.Context, leaf []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	// From the server's own address: a gateway's (127.0.0.1) streams
	// are secure without STARTTLS, the probe's must not be.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IP(p.TLSAddr.Addr().AsSlice())}}
	addrs := []netip.AddrPort{p.TLSAddr, p.StartTLSAddr, p.HTTPSAddr}
	if p.HTTPAddr.IsValid() {
		addrs = append(addrs, p.HTTPAddr)
	}
	for _, a := range addrs {
		for {
			c, err := d.DialContext(ctx, "tcp", a.String())
			if err == nil {
				if a == p.HTTPAddr {
					err = probeHTTP(ctx, c)
				} else {
					err = p.probe(ctx, c, a == p.StartTLSAddr, leaf)
				}
				c.Close()
				if err != nil {
					return fmt.Errorf("testbed: prosody: %s: %v: %w; log:\n%s", a, err, errPortTaken, p.Log())
				}
				break
			}
			if strings.Contains(p.Log(), "Failed to open server port") {
				return fmt.Errorf("testbed: prosody could not bind its ports: %w; log:\n%s", errPortTaken, p.Log())
			}
			select {
			case err := <-p.exited:
				p.exited <- err
				return fmt.Errorf("testbed: prosody exited during start-up (%v): %w; log:\n%s", err, errPortTaken, p.Log())
			case <-ctx.Done():
				return fmt.Errorf("testbed: prosody did not listen on %s: %w; log:\n%s", a, ctx.Err(), p.Log())
			case <-time.After(20 * time.Millisecond): // poll interval, not a timing assumption
			}
		}
	}
	return nil
}

// probe checks that c reaches a server presenting leaf, after STARTTLS
// (RFC 6120 section 5.4) when starttls is set.
func (p *Prosody) probe(ctx context.Context, c net.Conn, starttls bool, leaf []byte) error {
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	if starttls {
		fmt.Fprintf(c, "<?xml version='1.0'?><stream:stream to='%s' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", p.Domain)
		if err := readUntil(c, "</stream:features>"); err != nil {
			return fmt.Errorf("no stream features: %v", err)
		}
		io.WriteString(c, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
		if err := readUntil(c, "<proceed"); err != nil {
			return fmt.Errorf("no STARTTLS proceed: %v", err)
		}
	}
	tc := tls.Client(c, &tls.Config{ServerName: p.Domain, InsecureSkipVerify: true}) // compared below
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	if got := tc.ConnectionState().PeerCertificates; len(got) == 0 || !bytes.Equal(got[0].Raw, leaf) {
		return errors.New("another certificate than Prosody's")
	}
	return nil
}

// probeHTTP checks that c reaches a plain HTTP server.
func probeHTTP(ctx context.Context, c net.Conn) error {
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
	if err := readUntil(c, "HTTP/1."); err != nil {
		return fmt.Errorf("no HTTP answer: %v", err)
	}
	return nil
}

// readUntil reads c until what it read contains s.
func readUntil(c net.Conn, s string) error {
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, []byte(s)) {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return err
		}
		if len(got) > 64<<10 {
			return errors.New("too much data")
		}
	}
	return nil
}

// Register creates an account user@Domain.
func (p *Prosody) Register(ctx context.Context, user, password string) error {
	out, err := p.command(ctx, "prosodyctl", "--config", p.cfg, "register", user, p.Domain, password).CombinedOutput()
	if err != nil {
		return fmt.Errorf("testbed: prosodyctl register: %v: %s", err, out)
	}
	return nil
}

// Log returns Prosody's log so far, for failure messages.
func (p *Prosody) Log() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "prosody.log"))
	return string(b)
}

// Close stops Prosody and removes its directory. It kills Prosody's
// process group outright: nothing of this Prosody outlives Close, so a
// clean shutdown buys nothing, and it is slow: on SIGTERM Prosody 0.12
// takes up to 1 s, which "hacx demo --prosody" showed as a pause after
// its last line. The process waited for is Prosody itself (run as its
// user directly, not through runuser), so its ports are closed once
// Close returns.
func (p *Prosody) Close() error {
	if p.cmd != nil && p.cmd.Process != nil {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		err := <-p.exited
		p.exited <- err // for a second Close
	}
	return os.RemoveAll(p.dir)
}

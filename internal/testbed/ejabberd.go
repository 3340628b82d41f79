package testbed

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
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

// EjabberdConfig describes a real ejabberd (Debian's ejabberd package,
// 23.01) for integration tests.
type EjabberdConfig struct {
	// Domain is the served host, e.g. "example.test".
	Domain string
	// IP is the loopback address to bind; "" means 127.0.0.1.
	IP string
	// Cert is presented for Domain on every port, with or without SNI.
	Cert *tls.Certificate
	// S2S adds a server-to-server listener (S2SAddr). Without it
	// ejabberd refuses server-to-server connections both ways, so that
	// a stanza to another domain never makes it look the domain up.
	S2S bool

	// GatewaySnippet, when set, adds the listeners of an ejabberd behind
	// hacx serve (G1, G3): YAML list entries in the form of
	// examples/ejabberd/hacx-gateway.yml, put under listen: with port 5222
	// replaced by a plain c2s port (PlainC2SAddr), 5280 by a plain HTTP
	// port (HTTPAddr) and ip 127.0.0.1 by IP; trusted_proxies is
	// 127.0.0.1, where hacx serve connects from in tests. When the
	// snippet has use_proxy_protocol, the start-up probe sends a PROXY
	// header too.
	GatewaySnippet string
}

// Ejabberd is a running ejabberd bound to loopback ports of its own, with
// its configuration, database and logs in a temporary directory that
// Close removes.
type Ejabberd struct {
	Domain       string
	StartTLSAddr netip.AddrPort // c2s, STARTTLS required (RFC 6120 section 5)
	TLSAddr      netip.AddrPort // c2s over direct TLS (XEP-0368)
	HTTPSAddr    netip.AddrPort // WebSocket and BOSH
	S2SAddr      netip.AddrPort // s2s with STARTTLS; zero unless S2S
	PlainC2SAddr netip.AddrPort // c2s without TLS; zero unless GatewaySnippet
	HTTPAddr     netip.AddrPort // plain WebSocket (/ws) and BOSH (/bosh); zero unless GatewaySnippet
	WebSocketURL string         // wss://Domain:port/ws
	BOSHURL      string         // https://Domain:port/bosh

	dir     string
	proxied bool   // the plain c2s listener expects a PROXY header
	console string // the VM's standard output and error
	cred    *syscall.Credential
	cmd     *exec.Cmd
	done    chan struct{} // closed when ejabberdctl has exited
	waitErr error         // how it exited, set before done is closed
}

// ejabberdStartTimeout bounds one start-up: the VM and ejabberd start in
// about a second on an idle machine, far longer on a loaded one.
const ejabberdStartTimeout = 60 * time.Second

// ejabberdUser is the account Debian's package runs ejabberd as; its
// ejabberdctl refuses every other user but root.
const ejabberdUser = "ejabberd"

// EjabberdAvailable reports why ejabberd cannot be started here, or nil.
func EjabberdAvailable() error {
	if _, err := exec.LookPath("ejabberdctl"); err != nil {
		return errors.New("testbed: ejabberd is not installed (apt-get install ejabberd)")
	}
	_, err := runAs(ejabberdUser)
	return err
}

// StartEjabberd starts ejabberd and returns once it answers on all its
// ports with Cert, or fails with its log; ctx bounds the start-up and
// ends the server when it ends.
func StartEjabberd(ctx context.Context, cfg EjabberdConfig) (*Ejabberd, error) {
	if err := EjabberdAvailable(); err != nil {
		return nil, err
	}
	if cfg.IP == "" {
		cfg.IP = "127.0.0.1"
	}
	if ip, err := netip.ParseAddr(cfg.IP); err != nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("testbed: ejabberd: %q is not a loopback address", cfg.IP)
	}
	return retryPorts(ctx, func() (*Ejabberd, error) { return startEjabberd(ctx, cfg) })
}

// startEjabberd is one start-up on newly picked ports; on failure
// everything it started is gone.
func startEjabberd(ctx context.Context, cfg EjabberdConfig) (*Ejabberd, error) {
	cred, err := runAs(ejabberdUser)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "hacx-ejabberd-")
	if err != nil {
		return nil, err
	}
	e := &Ejabberd{Domain: cfg.Domain, dir: dir, console: filepath.Join(dir, "console.log"), cred: cred, done: make(chan struct{})}
	if err := e.setup(cfg); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	out, err := os.Create(e.console)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer out.Close() // the child has its own copy
	e.cmd = e.ctl(ctx, "foreground")
	e.cmd.Stdout, e.cmd.Stderr = out, out
	// Its own process group: ejabberdctl is a shell that runs the VM as
	// a child, and Close may have to end both.
	e.cmd.SysProcAttr.Setpgid = true
	// ctx ending is an abandoned test: end the shell and the VM at once
	// (the default would kill the shell alone and leave the VM running).
	e.cmd.Cancel = func() error { return syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL) }
	if err := e.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("testbed: start ejabberd: %w", err)
	}
	go func() { e.waitErr = e.cmd.Wait(); close(e.done) }()
	if err := e.waitReady(ctx, cfg.Cert.Certificate[0]); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// setup picks the ports and writes the configuration, the certificate and
// the directories ejabberd writes to.
func (e *Ejabberd) setup(cfg EjabberdConfig) error {
	ip := netip.MustParseAddr(cfg.IP)
	// The Erlang node listens for ejabberdctl on a port of its own
	// (ERL_DIST_PORT: no epmd). Its name needs an IPv4 host.
	distIP := ip
	if !ip.Is4() {
		distIP = netip.MustParseAddr("127.0.0.1")
	}
	n := 3
	if cfg.S2S {
		n = 4
	}
	if cfg.GatewaySnippet != "" {
		n += 2
	}
	ports, err := pickPorts(cfg.IP, n)
	if err != nil {
		return err
	}
	dist, err := pickPorts(distIP.String(), 1)
	if err != nil {
		return err
	}
	e.StartTLSAddr = netip.AddrPortFrom(ip, ports[0])
	e.TLSAddr = netip.AddrPortFrom(ip, ports[1])
	e.HTTPSAddr = netip.AddrPortFrom(ip, ports[2])
	if cfg.S2S {
		e.S2SAddr = netip.AddrPortFrom(ip, ports[3])
	}
	if cfg.GatewaySnippet != "" {
		e.PlainC2SAddr = netip.AddrPortFrom(ip, ports[n-2])
		e.HTTPAddr = netip.AddrPortFrom(ip, ports[n-1])
		e.proxied = strings.Contains(cfg.GatewaySnippet, "use_proxy_protocol: true")
	}
	e.WebSocketURL = fmt.Sprintf("wss://%s:%d/ws", cfg.Domain, ports[2])
	e.BOSHURL = fmt.Sprintf("https://%s:%d/bosh", cfg.Domain, ports[2])

	certPEM, keyPEM, err := hacxtest.CertPEM(cfg.Cert)
	if err != nil {
		return err
	}
	pemFile := filepath.Join(e.dir, "cert.pem")
	if err := os.WriteFile(pemFile, append(certPEM, keyPEM...), 0o600); err != nil {
		return err
	}
	for _, d := range []string{"spool", "logs"} {
		if err := os.Mkdir(filepath.Join(e.dir, d), 0o700); err != nil {
			return err
		}
	}

	q := strconv.Quote // a JSON-style string is a YAML double-quoted scalar
	listen := func(port uint16, module string, opts ...string) string {
		s := fmt.Sprintf("  - port: %d\n    ip: %s\n    module: %s\n", port, q(cfg.IP), module)
		for _, o := range opts {
			s += "    " + o + "\n"
		}
		return s
	}
	var yml strings.Builder
	yml.WriteString("hosts:\n  - " + q(cfg.Domain) + "\n")
	yml.WriteString("loglevel: info\n")
	yml.WriteString("certfiles:\n  - " + q(pemFile) + "\n")
	yml.WriteString("auth_method: internal\n")
	if cfg.GatewaySnippet != "" {
		yml.WriteString("trusted_proxies:\n  - \"127.0.0.1\"\n")
	}
	yml.WriteString("listen:\n")
	yml.WriteString(listen(ports[0], "ejabberd_c2s", "starttls_required: true"))
	yml.WriteString(listen(ports[1], "ejabberd_c2s", "tls: true"))
	yml.WriteString(listen(ports[2], "ejabberd_http", "tls: true", "request_handlers:", "  /ws: ejabberd_http_ws", "  /bosh: mod_bosh"))
	if cfg.GatewaySnippet != "" {
		r := strings.NewReplacer("port: 5222", fmt.Sprintf("port: %d", e.PlainC2SAddr.Port()),
			"port: 5280", fmt.Sprintf("port: %d", e.HTTPAddr.Port()), `ip: "127.0.0.1"`, "ip: "+q(cfg.IP))
		yml.WriteString(r.Replace(cfg.GatewaySnippet) + "\n")
	}
	if cfg.S2S {
		yml.WriteString(listen(ports[3], "ejabberd_s2s_in"))
		yml.WriteString("s2s_use_starttls: required\n")
	} else {
		yml.WriteString("s2s_access: none\n")
	}
	// mod_admin_extra brings ejabberdctl's get_offline_count.
	yml.WriteString("modules:\n")
	for _, m := range []string{"mod_admin_extra", "mod_bosh", "mod_disco", "mod_offline", "mod_ping", "mod_roster"} {
		yml.WriteString("  " + m + ": {}\n")
	}

	// ejabberdctl sources this file (a shell fragment) for the server and
	// for every command, so both sides agree on node, port and cookie.
	cookie, name := make([]byte, 16), make([]byte, 4)
	rand.Read(cookie)
	rand.Read(name)
	ctlCfg := strings.Join([]string{
		"ERLANG_NODE=hacx" + hex.EncodeToString(name) + "@" + distIP.String(),
		fmt.Sprintf("ERL_DIST_PORT=%d", dist[0]),
		"INET_DIST_INTERFACE=" + distIP.String(),
		// A random cookie: no other node on the machine may drive it.
		"ERL_OPTIONS='-setcookie " + hex.EncodeToString(cookie) + " -env ERL_CRASH_DUMP_BYTES 0'",
		"EJABBERD_CONFIG_PATH=" + filepath.Join(e.dir, "ejabberd.yml"),
		"EJABBERD_PID_PATH=" + filepath.Join(e.dir, "ejabberd.pid"),
		"EJABBERD_BYPASS_WARNINGS=true",
		"",
	}, "\n")
	// The VM's resolver reads the hosts file only: ejabberd resolves
	// nothing a test does not hand it.
	inetrc := "{lookup, [\"file\"]}.\n"
	for name, data := range map[string]string{"ejabberd.yml": yml.String(), "ejabberdctl.cfg": ctlCfg, "inetrc": inetrc} {
		if err := os.WriteFile(filepath.Join(e.dir, name), []byte(data), 0o600); err != nil {
			return err
		}
	}
	return giveTree(e.dir, e.cred)
}

// ctl is an ejabberdctl command on this server's configuration, as the
// ejabberd user.
func (e *Ejabberd) ctl(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ejabberdctl", append([]string{
		"--config-dir", e.dir, "--ctl-config", filepath.Join(e.dir, "ejabberdctl.cfg"),
		"--logs", filepath.Join(e.dir, "logs"), "--spool", filepath.Join(e.dir, "spool"),
	}, args...)...)
	cmd.Dir = e.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: e.cred}
	// Erlang reads its cookie file and flags from the environment: keep
	// the user's out, so that only the configuration above counts.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "ERL_") && !strings.HasPrefix(kv, "EJABBERD") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "HOME="+e.dir)
	return cmd
}

// waitReady returns once ejabberd itself answers on every port: a stream
// from Domain with STARTTLS on the c2s (and s2s) port, and leaf (DER) over
// direct TLS and HTTPS. ejabberd stops when it cannot bind a port, and a
// connection there reaches whoever took it, so an exit during start-up or
// an answer without leaf is errPortTaken.
func (e *Ejabberd) waitReady(ctx context.Context, leaf []byte) error {
	ctx, cancel := context.WithTimeout(ctx, ejabberdStartTimeout)
	defer cancel()
	type probe struct {
		addr netip.AddrPort
		ns   string // the stream namespace for STARTTLS, "" for direct TLS
	}
	probes := []probe{{e.StartTLSAddr, "jabber:client"}, {e.TLSAddr, ""}, {e.HTTPSAddr, ""}}
	if e.S2SAddr.IsValid() {
		probes = append(probes, probe{e.S2SAddr, "jabber:server"})
	}
	if e.PlainC2SAddr.IsValid() {
		probes = append(probes, probe{e.PlainC2SAddr, "plain"}, probe{e.HTTPAddr, "http"})
	}
	exitedErr := func() error {
		return fmt.Errorf("testbed: ejabberd exited during start-up (%v): %w; log:\n%s", e.waitErr, errPortTaken, e.Log())
	}
	var d net.Dialer
	for _, p := range probes {
		for {
			c, err := d.DialContext(ctx, "tcp", p.addr.String())
			if err == nil {
				// A probe may reach whoever holds a port ejabberd could
				// not bind, and that one may never answer: ejabberd's
				// exit ends the probe.
				stop := closeOnDone(c, e.done)
				switch p.ns {
				case "plain":
					err = probePlain(ctx, c, e.Domain, e.proxied)
				case "http":
					err = probeHTTP(ctx, c)
				default:
					err = probeXMPP(ctx, c, e.Domain, p.ns, leaf)
				}
				stop()
				c.Close()
				if err != nil {
					select {
					case <-e.done:
						return exitedErr()
					default:
					}
					return fmt.Errorf("testbed: ejabberd: %s: %v: %w; log:\n%s", p.addr, err, errPortTaken, e.Log())
				}
				break
			}
			select {
			case <-e.done:
				return exitedErr()
			case <-ctx.Done():
				return fmt.Errorf("testbed: ejabberd did not listen on %s within %s: %w; log:\n%s", p.addr, ejabberdStartTimeout, ctx.Err(), e.Log())
			case <-time.After(50 * time.Millisecond): // poll interval, not a timing assumption
			}
		}
	}
	return nil
}

// probeXMPP checks that c reaches an XMPP server for domain presenting
// leaf: with ns, a stream of that namespace from domain offering STARTTLS
// (RFC 6120 section 5.4), then TLS; without, TLS at once.
func probeXMPP(ctx context.Context, c net.Conn, domain, ns string, leaf []byte) error {
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	if ns != "" {
		fmt.Fprintf(c, "<?xml version='1.0'?><stream:stream to='%s' version='1.0' xmlns='%s' xmlns:stream='http://etherx.jabber.org/streams'>", domain, ns)
		got, err := readUntilBytes(c, "</stream:features>")
		if err != nil {
			return fmt.Errorf("no stream features: %v (got %q)", err, got)
		}
		if !bytes.Contains(got, []byte("from='"+domain+"'")) && !bytes.Contains(got, []byte(`from="`+domain+`"`)) {
			return fmt.Errorf("a stream not from %s: %q", domain, got)
		}
		io.WriteString(c, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
		if err := readUntil(c, "<proceed"); err != nil {
			return fmt.Errorf("no STARTTLS proceed: %v", err)
		}
	}
	tc := tls.Client(c, &tls.Config{ServerName: domain, InsecureSkipVerify: true}) // compared below
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	if got := tc.ConnectionState().PeerCertificates; len(got) == 0 || !bytes.Equal(got[0].Raw, leaf) {
		return errors.New("another certificate than ejabberd's")
	}
	return nil
}

// probePlain checks that c reaches a plain c2s listener of an XMPP server
// for domain: a stream from domain, after a PROXY v2 header when proxied
// (naming the probe's own addresses; ejabberd drops a LOCAL one).
func probePlain(ctx context.Context, c net.Conn, domain string, proxied bool) error {
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	if proxied {
		src, dst := c.LocalAddr().(*net.TCPAddr), c.RemoteAddr().(*net.TCPAddr)
		h := []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c") // TCP over IPv4, 12 bytes
		s, d := []byte(src.IP.To4()), []byte(dst.IP.To4())
		if s == nil || d == nil {
			h[13], h[15] = 0x21, 36 // TCP over IPv6
			s, d = src.IP.To16(), dst.IP.To16()
		}
		h = append(append(h, s...), d...)
		h = append(h, byte(src.Port>>8), byte(src.Port), byte(dst.Port>>8), byte(dst.Port))
		c.Write(h)
	}
	fmt.Fprintf(c, "<?xml version='1.0'?><stream:stream to='%s' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", domain)
	got, err := readUntilBytes(c, "</stream:features>")
	if err != nil {
		return fmt.Errorf("no stream features: %v (got %q)", err, got)
	}
	if !bytes.Contains(got, []byte("from='"+domain+"'")) && !bytes.Contains(got, []byte(`from="`+domain+`"`)) {
		return fmt.Errorf("a stream not from %s: %q", domain, got)
	}
	return nil
}

// readUntilBytes reads c until what it read contains s, and returns it.
func readUntilBytes(c net.Conn, s string) ([]byte, error) {
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, []byte(s)) {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return got, err
		}
		if len(got) > 64<<10 {
			return got, errors.New("too much data")
		}
	}
	return got, nil
}

// ctlAttempts bounds the runs of one ejabberdctl command. Each run is an
// Erlang node named after 3 random hex digits, so two runs at once may
// pick the same name and one be refused by the server: that run is
// repeated.
const ctlAttempts = 3

// run runs an ejabberdctl command and returns its output. It is safe to
// call from several goroutines: each run is an Erlang VM of its own
// (about 0.4 s), so tests that need many accounts register them in
// parallel.
func (e *Ejabberd) run(ctx context.Context, args ...string) (string, error) {
	var out []byte
	var err error
	for range ctlAttempts {
		out, err = e.ctl(ctx, args...).CombinedOutput()
		if err == nil || ctx.Err() != nil || !bytes.Contains(out, []byte("Failed RPC connection")) {
			break
		}
	}
	if err != nil {
		// A failed command is followed by ejabberdctl's usage: keep
		// the reason only.
		if i := bytes.Index(out, []byte("Commands to start an ejabberd node")); i >= 0 {
			out = out[:i]
		}
		return "", fmt.Errorf("testbed: ejabberdctl %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// Register creates the account user@Domain. It may be called from several
// goroutines at once.
func (e *Ejabberd) Register(ctx context.Context, user, password string) error {
	_, err := e.run(ctx, "register", user, e.Domain, password)
	return err
}

// OfflineCount returns how many messages wait in user@Domain's offline
// store (mod_offline): the messages delivered to a user who was not
// connected.
func (e *Ejabberd) OfflineCount(ctx context.Context, user string) (int, error) {
	out, err := e.run(ctx, "get_offline_count", user, e.Domain)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		return 0, fmt.Errorf("testbed: ejabberdctl get_offline_count: %q is not a count", out)
	}
	return n, nil
}

// Log returns ejabberd's log so far (what it printed, including what the
// VM said before ejabberd's logger started), for failure messages.
func (e *Ejabberd) Log() string {
	b, _ := os.ReadFile(e.console)
	return string(b)
}

// Close stops ejabberd and removes its directory.
func (e *Ejabberd) Close() error {
	e.stop()
	return os.RemoveAll(e.dir)
}

// stop ends the VM: SIGTERM to the VM itself (whose pid ejabberd wrote),
// so that ejabberdctl's shell reaps it and exits; SIGKILL to the whole
// process group after 10 s, or at once when there is no pid yet. A VM
// killed outright (which would save about a second) leaves its helper
// processes (erl_child_setup, inet_gethost) to init, and not every
// container's init reaps them; a VM told to stop ends them itself.
func (e *Ejabberd) stop() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	b, _ := os.ReadFile(filepath.Join(e.dir, "ejabberd.pid"))
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
		syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-e.done:
			return
		case <-time.After(10 * time.Second):
		}
	}
	syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
	<-e.done
}

// closeOnDone interrupts c's reads and writes once done is closed, until
// the returned stop is called.
func closeOnDone(c net.Conn, done <-chan struct{}) (stop func()) {
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case <-done:
			c.SetDeadline(time.Now())
		case <-quit:
		}
	}()
	return func() { close(quit); <-finished }
}

package testbed

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"hacx.dev/hacx/hacxtest"
)

// UnboundConfig describes a real validating resolver (Debian's unbound
// package) for DANE integration tests (X4).
type UnboundConfig struct {
	// Upstream is the host:port on loopback of the server authoritative
	// for every name under "test." (normally a DNSServer holding
	// SignedZones). Every other name is forwarded there too, so unbound
	// never sends a packet off loopback.
	Upstream string

	// TrustAnchors are DS or DNSKEY records in presentation format
	// (SignedZone.TrustAnchor). Names under no anchor are insecure: they
	// resolve, but without the AD bit. There is no root anchor.
	TrustAnchors []string

	// TLS, if set, is the certificate of a DNS over TLS listener (RFC
	// 7858, Unbound.TLSAddr) and a DNS over HTTPS one (RFC 8484, HTTP/2,
	// Unbound.HTTPSAddr, path /dns-query), each on a port of its own.
	TLS *tls.Certificate
}

// Unbound is a running unbound listening on a loopback port of its own,
// with its configuration in a temporary directory that Close removes.
type Unbound struct {
	// Addr is "127.0.0.1:port", the same port for UDP and TCP.
	Addr string
	// TLSAddr and HTTPSAddr are "127.0.0.1:port" of the DNS over TLS and
	// DNS over HTTPS listeners, "" without UnboundConfig.TLS.
	TLSAddr, HTTPSAddr string

	dir      string
	identity string // answered to id.server: proves the port is ours
	cmd      *exec.Cmd
	exited   chan error
	log      SyncBuffer
}

// UnboundAvailable reports why unbound cannot be started here, or nil.
func UnboundAvailable() error {
	_, err := sbinPath("unbound")
	return err
}

// StartUnbound starts unbound in the foreground and returns once it
// answers queries, or ctx ends; ending ctx later also stops unbound.
//
// unbound does not refuse to run as root; the configuration sets
// username "" so that it keeps the caller's user (root in CI containers,
// an ordinary user elsewhere) and can read its temporary directory
// without a chown. It binds only 127.0.0.1, sends queries only from
// 127.0.0.1 and only to Upstream, and has no remote control.
func StartUnbound(ctx context.Context, cfg UnboundConfig) (*Unbound, error) {
	if err := UnboundAvailable(); err != nil {
		return nil, err
	}
	if cfg.Upstream == "" {
		return nil, errors.New("testbed: unbound: no Upstream server")
	}
	up, err := unboundAddr(cfg.Upstream)
	if err != nil {
		return nil, err
	}
	return retryPorts(ctx, func() (*Unbound, error) { return startUnbound(ctx, up, cfg.TrustAnchors, cfg.TLS) })
}

// startUnbound is one start-up on a newly picked port; on failure
// everything it started is gone.
func startUnbound(ctx context.Context, upstream string, anchors []string, cert *tls.Certificate) (*Unbound, error) {
	port, err := pickUDPTCPPort("127.0.0.1")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "hacx-unbound-")
	if err != nil {
		return nil, err
	}
	u := &Unbound{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))), dir: dir, exited: make(chan error, 1),
		identity: filepath.Base(dir), // unique while the directory exists
	}
	var tlsLines []string
	if cert != nil {
		if tlsLines, err = u.tlsListeners(dir, cert); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	conf := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(conf, []byte(unboundConf(dir, port, upstream, u.identity, anchors, tlsLines)), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	u.cmd = exec.CommandContext(ctx, sbinProgram("unbound"), "-d", "-c", conf)
	u.cmd.Stdout, u.cmd.Stderr = &u.log, &u.log
	u.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := u.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("testbed: start unbound: %w", err)
	}
	go func() { u.exited <- u.cmd.Wait() }()
	if err := u.waitReady(ctx); err != nil {
		u.Close()
		return nil, err
	}
	return u, nil
}

// tlsListeners picks the ports of the DNS over TLS and HTTPS listeners,
// writes the certificate and key, and returns the server lines for them.
// Another process can take a port before unbound binds it; unbound then
// exits and StartUnbound starts again on new ports.
func (u *Unbound) tlsListeners(dir string, cert *tls.Certificate) ([]string, error) {
	ports, err := pickPorts("127.0.0.1", 2)
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := hacxtest.CertPEM(cert)
	if err != nil {
		return nil, err
	}
	certFile, keyFile := filepath.Join(dir, "dns.crt"), filepath.Join(dir, "dns.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return nil, err
	}
	tlsPort, httpsPort := strconv.Itoa(int(ports[0])), strconv.Itoa(int(ports[1]))
	u.TLSAddr, u.HTTPSAddr = net.JoinHostPort("127.0.0.1", tlsPort), net.JoinHostPort("127.0.0.1", httpsPort)
	return []string{
		"  interface: 127.0.0.1@" + tlsPort,
		"  interface: 127.0.0.1@" + httpsPort,
		"  tls-port: " + tlsPort,
		"  https-port: " + httpsPort,
		"  tls-service-key: " + strconv.Quote(keyFile),
		"  tls-service-pem: " + strconv.Quote(certFile),
		"  http-endpoint: \"/dns-query\"",
	}, nil
}

// unboundConf is the whole configuration; nothing from /etc/unbound.
func unboundConf(dir string, port uint16, upstream, identity string, anchors, tlsLines []string) string {
	q := strconv.Quote
	lines := []string{
		"server:",
		"  interface: 127.0.0.1",
		"  port: " + strconv.Itoa(int(port)),
		"  interface-automatic: no",
		"  do-ip6: no",
		"  outgoing-interface: 127.0.0.1",
		"  access-control: 127.0.0.0/8 allow",
		"  username: \"\"",
		"  chroot: \"\"",
		"  directory: " + q(dir),
		"  pidfile: \"\"",
		"  use-syslog: no",
		"  logfile: \"\"",
		"  verbosity: 1",
		// Readiness asks id.server: an answer from another server that
		// took the port in a race is not mistaken for unbound's.
		"  identity: " + q(identity),
		"  hide-identity: no",
		"  log-servfail: yes",
		// Say why a SERVFAIL happened (RFC 8914), e.g. "DNSSEC Bogus".
		"  ede: yes",
		"  val-log-level: 2",
		"  num-threads: 1",
		"  so-reuseport: no",
		// The upstream lives on loopback, which unbound skips by default.
		"  do-not-query-localhost: no",
		"  module-config: \"validator iterator\"",
		// .test is a locally served (empty) zone by default (RFC 6761).
		"  local-zone: \"test.\" nodefault",
		// Ask the upstream for the full name at once: its empty
		// non-terminals answer NXDOMAIN, which would end a minimised walk.
		"  qname-minimisation: no",
		"  target-fetch-policy: \"0 0 0 0 0\"",
		"  prefetch: no",
		"  trust-anchor-signaling: no",
		"  root-key-sentinel: no",
	}
	lines = append(lines, tlsLines...)
	for _, a := range anchors {
		lines = append(lines, "  trust-anchor: "+q(a))
	}
	lines = append(lines,
		"remote-control:",
		"  control-enable: no",
		"stub-zone:",
		"  name: \"test.\"",
		"  stub-addr: "+upstream,
		// Everything else goes to the same loopback server: root hints
		// are never used and nothing leaves the machine.
		"forward-zone:",
		"  name: \".\"",
		"  forward-addr: "+upstream,
		"",
	)
	return strings.Join(lines, "\n")
}

// unboundAddr turns host:port into unbound's ip@port, loopback only.
func unboundAddr(hostport string) (string, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", fmt.Errorf("testbed: unbound: upstream %q: %w", hostport, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return "", fmt.Errorf("testbed: unbound: upstream %q is not a loopback address", hostport)
	}
	return host + "@" + port, nil
}

// freeUDPTCPPort finds a port free for both UDP and TCP on ip. Another
// process can take it before unbound binds it; StartUnbound then starts
// again on a new one.
func freeUDPTCPPort(ip string) (uint16, error) {
	pc, l, err := listenUDPTCP(ip)
	if err != nil {
		return 0, fmt.Errorf("testbed: unbound: %w", err)
	}
	pc.Close()
	l.Close()
	return uint16(pc.LocalAddr().(*net.UDPAddr).Port), nil
}

// waitReady polls id.server until unbound answers with its identity. An
// exit during start-up, or another identity on the port, is errPortTaken.
func (u *Unbound) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m := new(dns.Msg)
	m.SetQuestion("id.server.", dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	c := &dns.Client{Net: "tcp", Timeout: time.Second}
	for {
		if r, _, err := c.ExchangeContext(ctx, m, u.Addr); err == nil {
			if len(r.Answer) == 1 {
				if txt, ok := r.Answer[0].(*dns.TXT); ok && len(txt.Txt) == 1 && txt.Txt[0] == u.identity {
					return nil
				}
			}
			// Someone else answers on our port: unbound cannot bind it.
			return fmt.Errorf("testbed: unbound: another server answers on %s: %w", u.Addr, errPortTaken)
		}
		select {
		case err := <-u.exited:
			u.exited <- err
			return fmt.Errorf("testbed: unbound exited during start-up (%v): %w; log:\n%s", err, errPortTaken, u.Log())
		case <-ctx.Done():
			return fmt.Errorf("testbed: unbound did not answer on %s: %w; log:\n%s", u.Addr, ctx.Err(), u.Log())
		case <-time.After(20 * time.Millisecond): // poll interval, not a timing assumption
		}
	}
}

// Log returns what unbound logged so far (validation failures at
// val-log-level 2 included), for failure messages.
func (u *Unbound) Log() string { return u.log.String() }

// Close stops unbound (SIGTERM to its process group, SIGKILL after 5 s)
// and removes its directory.
func (u *Unbound) Close() error {
	stopGroup(u.cmd, u.exited)
	return os.RemoveAll(u.dir)
}

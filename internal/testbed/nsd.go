package testbed

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// NSD is a running nsd, Debian's authoritative DNS server (NLnet Labs),
// serving zones made at run time (Zone.Signed) on a loopback port of its
// own, with its configuration and zone files in a temporary directory
// that Close removes. It stands in for the authoritative servers of a
// whole DNS tree: it answers from the deepest zone it holds and a DS
// query at a zone apex from the parent zone, so a validating client can
// ask it directly for anything in the tree (D1).
type NSD struct {
	// Addr is "127.0.0.1:port", the same port for UDP and TCP.
	Addr string

	dir      string
	identity string // answered to id.server: proves the port is ours
	cmd      *exec.Cmd
	exited   chan error
	log      SyncBuffer
}

// NSDAvailable reports why nsd cannot be started here, or nil.
func NSDAvailable() error {
	_, err := sbinPath("nsd")
	return err
}

// StartNSD starts nsd in the foreground serving zones (origin -> records
// in presentation format, normally Text(zone.Signed())) and returns once
// it answers queries, or ctx ends; ending ctx later also stops nsd.
//
// nsd keeps the caller's user (username ""), binds only 127.0.0.1, has
// no remote control and makes no zone transfers: it sends nothing at all.
func StartNSD(ctx context.Context, zones map[string]string) (*NSD, error) {
	if err := NSDAvailable(); err != nil {
		return nil, err
	}
	if len(zones) == 0 {
		return nil, errors.New("testbed: nsd: no zones")
	}
	return retryPorts(ctx, func() (*NSD, error) { return startNSD(ctx, zones) })
}

func startNSD(ctx context.Context, zones map[string]string) (*NSD, error) {
	port, err := pickUDPTCPPort("127.0.0.1")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "hacx-nsd-")
	if err != nil {
		return nil, err
	}
	n := &NSD{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))), dir: dir, exited: make(chan error, 1),
		identity: filepath.Base(dir),
	}
	var origins []string
	for o := range zones {
		origins = append(origins, o)
	}
	sort.Strings(origins)
	files := map[string]string{}
	for i, o := range origins {
		f := fmt.Sprintf("zone%d.zone", i)
		if err := os.WriteFile(filepath.Join(dir, f), []byte(zones[o]), 0o600); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		files[o] = f
	}
	conf := filepath.Join(dir, "nsd.conf")
	if err := os.WriteFile(conf, []byte(nsdConf(dir, port, n.identity, origins, files)), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	n.cmd = exec.CommandContext(ctx, sbinProgram("nsd"), "-d", "-c", conf)
	n.cmd.Stdout, n.cmd.Stderr = &n.log, &n.log
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := n.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("testbed: start nsd: %w", err)
	}
	go func() { n.exited <- n.cmd.Wait() }()
	if err := waitIdentity(ctx, "nsd", n.Addr, n.identity, n.exited, n.Log); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// nsdConf is the whole configuration; nothing from /etc/nsd.
func nsdConf(dir string, port uint16, identity string, origins []string, files map[string]string) string {
	q := strconv.Quote
	p := func(f string) string { return q(filepath.Join(dir, f)) }
	lines := []string{
		"server:",
		"  ip-address: 127.0.0.1@" + strconv.Itoa(int(port)),
		"  port: " + strconv.Itoa(int(port)),
		"  do-ip6: no",
		"  username: \"\"",
		"  chroot: \"\"",
		"  zonesdir: " + q(dir),
		"  database: \"\"",
		"  zonelistfile: " + p("zone.list"),
		"  pidfile: " + p("nsd.pid"),
		"  xfrdfile: " + p("xfrd.state"),
		"  xfrdir: " + q(dir),
		"  cookie-secret-file: " + p("cookiesecrets.txt"),
		"  server-count: 1",
		"  reuseport: no",
		"  verbosity: 1",
		// Readiness asks id.server: an answer from another server that
		// took the port in a race is not mistaken for nsd's.
		"  identity: " + q(identity),
		"  hide-identity: no",
		"  zonefiles-check: no",
		"remote-control:",
		"  control-enable: no",
	}
	for _, o := range origins {
		lines = append(lines, "zone:", "  name: "+q(o), "  zonefile: "+q(files[o]))
	}
	return strings.Join(append(lines, ""), "\n")
}

// waitIdentity polls id.server until the program answers with identity.
// An exit during start-up, or another identity on the port, is
// errPortTaken.
func waitIdentity(ctx context.Context, prog, addr, identity string, exited chan error, log func() string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m := new(dns.Msg)
	m.SetQuestion("id.server.", dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	c := &dns.Client{Net: "tcp", Timeout: time.Second}
	for {
		if r, _, err := c.ExchangeContext(ctx, m, addr); err == nil {
			if len(r.Answer) == 1 {
				if txt, ok := r.Answer[0].(*dns.TXT); ok && len(txt.Txt) == 1 && txt.Txt[0] == identity {
					return nil
				}
			}
			return fmt.Errorf("testbed: %s: another server answers on %s: %w", prog, addr, errPortTaken)
		}
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("testbed: %s exited during start-up (%v): %w; log:\n%s", prog, err, errPortTaken, log())
		case <-ctx.Done():
			return fmt.Errorf("testbed: %s did not answer on %s: %w; log:\n%s", prog, addr, ctx.Err(), log())
		case <-time.After(20 * time.Millisecond): // poll interval, not a timing assumption
		}
	}
}

// Log returns what nsd logged so far, for failure messages.
func (n *NSD) Log() string { return n.log.String() }

// Close stops nsd (SIGTERM to its process group, SIGKILL after 5 s) and
// removes its directory.
func (n *NSD) Close() error {
	stopGroup(n.cmd, n.exited)
	return os.RemoveAll(n.dir)
}

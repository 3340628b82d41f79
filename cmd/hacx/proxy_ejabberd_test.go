package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"hacx.dev/hacx/internal/testbed"
	"hacx.dev/hacx/internal/testenv"
)

// ejabberdLogins is how many go-sendxmpp logins go through the proxy in a
// row: each is a BOSH session from creation to terminate, and every one
// must deliver its message.
const ejabberdLogins = 20

// TestProxy_GoSendXMPPToEjabberdBOSH: Debian's go-sendxmpp logs in
// through "hacx proxy" to a real ejabberd whose HACX document lists its
// BOSH endpoint only (XEP-0206), ejabberdLogins times in a row. Every
// message must land in the recipient's offline store and every session
// must end as a clean close: ejabberd answers the request held across
// the proxy's terminate with condition='other-request', which is the
// normal end of the session and no conflict; and it stalls a session
// whose requests reach it out of order, which the proxy's pacing avoids.
func TestProxy_GoSendXMPPToEjabberdBOSH(t *testing.T) {
	testenv.Require(t, testbed.EjabberdAvailable())
	_, lerr := exec.LookPath("go-sendxmpp")
	testenv.Require(t, lerr)
	const domain = "proxyejabberd.test"
	ca, cert := testCert(t, "proxy-ejabberd", domain)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	e, err := testbed.StartEjabberd(ctx, testbed.EjabberdConfig{Domain: domain, IP: "127.0.0.33", Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	errs := make(chan error, 2)
	for _, u := range []string{"alice", "bob"} {
		go func() { errs <- e.Register(ctx, u, "secret-"+u) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}

	doc := publishClientDoc(t, cert, domain)
	doc.Store(fmt.Sprintf(`<hacx ttl="60"><bosh ip="%s" port="%d" priority="1" weight="0" sni="%s" url="%s"/></hacx>`+"\n",
		e.HTTPSAddr.Addr(), e.HTTPSAddr.Port(), domain, e.BOSHURL))
	dnsSrv, err := testbed.NewDNSServer()
	if err != nil {
		t.Fatal(err)
	}
	defer dnsSrv.Close()
	px := startCLIProxy(t, ctx, ca, dnsSrv.Addr)
	addr, stderr := px.addr, px.stderr

	home := t.TempDir() // no go-sendxmpp configuration file of the user's
	var failed []string
	for i := range ejabberdLogins {
		// A stalled login waits for ejabberd to give up its held request:
		// bounded, so that the count below says how many stalled.
		lctx, lcancel := context.WithTimeout(ctx, 20*time.Second)
		cmd := exec.CommandContext(lctx, "go-sendxmpp", "-u", "alice@"+domain, "-p", "secret-alice",
			"-j", addr, "-n", "--timeout", "15", "bob@"+domain)
		cmd.Stdin = strings.NewReader(fmt.Sprintf("hello bob, login %d over BOSH through hacx proxy", i))
		cmd.Env = append(os.Environ(), "HOME="+home)
		out, err := cmd.CombinedOutput()
		lcancel()
		if err != nil {
			failed = append(failed, fmt.Sprintf("login %d: %v: %s", i, err, strings.TrimSpace(string(out))))
		}
	}
	// Each connection's log line is written as it ends, which may be
	// just after go-sendxmpp exits.
	deadline := time.Now().Add(30 * time.Second)
	logged := func() []string {
		var lines []string
		for _, l := range strings.Split(stderr.String(), "\n") {
			// waitListening's probe is logged too, without a domain.
			if strings.Contains(l, "proxy: connection") && strings.Contains(l, "domain="+domain) {
				lines = append(lines, l)
			}
		}
		return lines
	}
	for len(logged()) < ejabberdLogins && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // polling the log
	}
	// Each message is stored as its request is processed, before the
	// session ends; a few more counts cover a store that lags.
	var delivered int
	for end := time.Now().Add(10 * time.Second); ; {
		if delivered, err = e.OfflineCount(ctx, "bob"); err != nil {
			t.Fatal(err)
		}
		if delivered >= ejabberdLogins || time.Now().After(end) {
			break
		}
	}
	t.Logf("%d of %d logins through the proxy delivered", delivered, ejabberdLogins)
	if delivered != ejabberdLogins || len(failed) > 0 {
		t.Errorf("%d of %d messages delivered; failed logins:\n%s", delivered, ejabberdLogins, strings.Join(failed, "\n"))
	}
	lines := logged()
	closed := 0
	for _, l := range lines {
		if !strings.Contains(l, "method=bosh ") {
			t.Errorf("a connection not over BOSH: %s", l)
		}
		if strings.Contains(l, "outcome=closed") {
			closed++
		}
	}
	if len(lines) != ejabberdLogins || closed != ejabberdLogins {
		t.Errorf("%d connections logged, %d closed cleanly; want %d of each:\n%s", len(lines), closed, ejabberdLogins, strings.Join(lines, "\n"))
	}

	// The network as it is: no document, only an _xmpp-client SRV record
	// (X1), so the upstream is ejabberd's STARTTLS port (S1).
	doc.Store("")
	if err := dnsSrv.Add(
		fmt.Sprintf("_xmpp-client._tcp.%s. 60 IN SRV 0 0 %d xmpp.%s.", domain, e.StartTLSAddr.Port(), domain),
		fmt.Sprintf("xmpp.%s. 60 IN A %s", domain, e.StartTLSAddr.Addr())); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "go-sendxmpp", "-u", "alice@"+domain, "-p", "secret-alice",
		"-j", addr, "-n", "--timeout", "15", "bob@"+domain)
	cmd.Stdin = strings.NewReader("hello bob, over STARTTLS through hacx proxy")
	cmd.Env = append(os.Environ(), "HOME="+home)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("go-sendxmpp over STARTTLS: %v: %s", err, out)
	}
	for end := time.Now().Add(10 * time.Second); ; {
		if delivered, err = e.OfflineCount(ctx, "bob"); err != nil {
			t.Fatal(err)
		}
		if delivered > ejabberdLogins || time.Now().After(end) {
			break
		}
	}
	if delivered != ejabberdLogins+1 {
		t.Errorf("the message over STARTTLS was not delivered (%d stored)", delivered)
	}
	for end := time.Now().Add(30 * time.Second); !strings.Contains(stderr.String(), "method=starttls ") && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond) // polling the log
	}
	if !strings.Contains(stderr.String(), "method=starttls ") {
		t.Error("no connection logged over STARTTLS")
	}
	if t.Failed() {
		t.Logf("proxy log:\n%s\nejabberd log:\n%s", stderr.String(), e.Log())
	}
	px.shutdown(t)
}

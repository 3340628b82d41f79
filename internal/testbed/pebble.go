package testbed

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"hacx.dev/hacx/hacxtest"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Pebble is Let's Encrypt's test ACME server (Debian package pebble)
// running on loopback. Every challenge is accepted without validation
// (PEBBLE_VA_ALWAYS_VALID) and its DNS client points at a closed loopback
// port, so it never connects anywhere.
type Pebble struct {
	// DirectoryURL is the ACME directory, https://127.0.0.1:PORT/dir.
	DirectoryURL string
	// ManagementURL serves /roots/0, the root that signs issued certificates.
	ManagementURL string
	// CAFile is the PEM of the CA of Pebble's own HTTPS certificate, for
	// ACME clients that take a file; Client already trusts it.
	CAFile string
	// Client trusts Pebble's HTTPS certificate and nothing else.
	Client *http.Client

	dir    string
	cmd    *exec.Cmd
	exited chan error
	log    SyncBuffer
}

// PebbleAvailable reports why Pebble cannot be started here, or nil.
func PebbleAvailable() error {
	if _, err := exec.LookPath("pebble"); err != nil {
		return errors.New("testbed: pebble is not installed (apt-get install pebble)")
	}
	return nil
}

// StartPebble starts Pebble and returns once its directory answers, or ctx
// ends. Close stops it.
func StartPebble(ctx context.Context) (*Pebble, error) {
	bin, err := exec.LookPath("pebble")
	if err != nil {
		return nil, PebbleAvailable()
	}
	dir, err := os.MkdirTemp("", "hacx-pebble-")
	if err != nil {
		return nil, err
	}
	p := &Pebble{dir: dir, CAFile: filepath.Join(dir, "ca.pem")}
	_, err = retryPorts(ctx, func() (*Pebble, error) {
		err := p.start(ctx, bin)
		if err != nil {
			p.stop()
		}
		return p, err
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return p, nil
}

func (p *Pebble) start(ctx context.Context, bin string) error {
	ca, err := hacxtest.NewCA("pebble-https")
	if err != nil {
		return err
	}
	cert, err := ca.Issue("127.0.0.1", "localhost")
	if err != nil {
		return err
	}
	certPEM, keyPEM, err := hacxtest.CertPEM(cert)
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{"cert.pem": certPEM, "key.pem": keyPEM, "ca.pem": ca.PEM()} {
		if err := os.WriteFile(filepath.Join(p.dir, name), data, 0o600); err != nil {
			return err
		}
	}
	ports, err := pickPorts("127.0.0.1", 5)
	if err != nil {
		return err
	}
	conf, err := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress":                  fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"managementListenAddress":        fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"certificate":                    filepath.Join(p.dir, "cert.pem"),
		"privateKey":                     filepath.Join(p.dir, "key.pem"),
		"httpPort":                       ports[2],
		"tlsPort":                        ports[3],
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
	}})
	if err != nil {
		return err
	}
	confPath := filepath.Join(p.dir, "pebble.json")
	if err := os.WriteFile(confPath, conf, 0o600); err != nil {
		return err
	}
	p.DirectoryURL = fmt.Sprintf("https://127.0.0.1:%d/dir", ports[0])
	p.ManagementURL = fmt.Sprintf("https://127.0.0.1:%d", ports[1])
	p.Client = &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, Proxy: nil},
		Timeout:   30 * time.Second,
	}
	p.exited = make(chan error, 1)
	p.log.Reset() // the log of this start-up only
	p.cmd = exec.Command(bin, "-config", confPath, "-dnsserver", fmt.Sprintf("127.0.0.1:%d", ports[4]))
	p.cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_VA_ALWAYS_VALID=1", "PEBBLE_WFE_NONCEREJECT=0")
	p.cmd.Stdout, p.cmd.Stderr = &p.log, &p.log
	if err := p.cmd.Start(); err != nil {
		return err
	}
	go func() { p.exited <- p.cmd.Wait() }()

	// Ready when both listeners answer over HTTPS with the certificate
	// written above, which no other process has: Pebble binds them one
	// after the other and exits when either is taken.
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for _, u := range []string{p.DirectoryURL, p.ManagementURL + "/roots/0"} {
		if err := p.waitAnswer(ctx, u); err != nil {
			return err
		}
	}
	// Both answer; an exit racing the second answer still counts.
	select {
	case err := <-p.exited:
		p.exited <- err
		return fmt.Errorf("testbed: pebble exited during start-up (%v): %w; log:\n%s", err, errPortTaken, p.Log())
	default:
		return nil
	}
}

// waitAnswer polls url until it answers 200 OK.
func (p *Pebble) waitAnswer(ctx context.Context, url string) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		res, err := p.Client.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			return fmt.Errorf("testbed: pebble exited during start-up (%v): %w; log:\n%s", err, errPortTaken, p.Log())
		case <-ctx.Done():
			return fmt.Errorf("testbed: pebble does not answer at %s: %w; log:\n%s", url, ctx.Err(), p.Log())
		case <-time.After(20 * time.Millisecond): // poll interval, not a timing assumption
		}
	}
}

// Log is what Pebble printed so far.
func (p *Pebble) Log() string { return p.log.String() }

// Roots returns the root that signs the certificates Pebble issues, as a
// pool for clients of the servers that got them.
func (p *Pebble) Roots(ctx context.Context) (*x509.CertPool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.ManagementURL+"/roots/0", nil)
	if err != nil {
		return nil, err
	}
	res, err := p.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if res.StatusCode != http.StatusOK || !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("testbed: pebble /roots/0: %s, no certificate", res.Status)
	}
	return pool, nil
}

// Close stops Pebble and removes its files.
func (p *Pebble) Close() error {
	p.stop()
	return os.RemoveAll(p.dir)
}

// stop kills the Pebble process, if one runs, and waits for it.
func (p *Pebble) stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
}

package dnssec

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// DefaultTimeout bounds one exchange with the server, connection set-up
// included.
const DefaultTimeout = 5 * time.Second

// maxIdle is how many idle connections a Client keeps for reuse, and
// idleTimeout how long: servers close idle connections after tens of
// seconds (RFC 7766 section 6.2.3 suggests that), and a query on one
// they closed costs a failed attempt first.
const (
	maxIdle     = 4
	idleTimeout = 20 * time.Second
)

// Client sends DNS queries to one Server: plain DNS, DNS over TCP, DNS
// over TLS (RFC 7858) or DNS over HTTPS (RFC 8484), keeping connections
// open between queries (RFC 7766 section 6.2.1, RFC 7858 section 3.4)
// and padding encrypted queries (RFC 8467). A Client is safe for
// concurrent use; do not change its fields after the first Exchange.
type Client struct {
	// Server is where queries go.
	Server Server

	// Roots verify the certificates of TLS and HTTPS servers; nil means
	// the system roots.
	Roots *x509.CertPool

	// DialContext, if set, opens every TCP connection (through a SOCKS
	// proxy, say); nil means a net.Dialer. UDP never goes through it.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// StreamOnly keeps plain DNS on TCP: no UDP packet leaves this
	// machine, as a SOCKS proxy carries TCP only (T1).
	StreamOnly bool

	// Timeout bounds each exchange; 0 means DefaultTimeout.
	Timeout time.Duration

	mu   sync.Mutex
	idle []idleConn

	once sync.Once
	hc   *http.Client
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

// Exchange sends m and returns the server's answer to it.
func (c *Client) Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	var r *dns.Msg
	var err error
	switch c.Server.Proto {
	case HTTPS:
		r, err = c.doh(ctx, m)
	case TLS, TCP:
		r, err = c.stream(ctx, m)
	case Plain, "":
		if c.StreamOnly {
			r, err = c.stream(ctx, m)
			break
		}
		r, err = c.udp(ctx, m)
		if err == nil && r.Truncated {
			r, err = c.stream(ctx, m)
		}
	default:
		err = fmt.Errorf("unknown protocol %q", c.Server.Proto)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (c *Client) udp(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	cl := &dns.Client{Net: "udp", Timeout: c.timeout()}
	r, _, err := cl.ExchangeContext(ctx, m, c.Server.Addr)
	if err != nil {
		return nil, err
	}
	if r.Id != m.Id {
		return nil, errors.New("answer ID mismatch")
	}
	return r, nil
}

// stream exchanges m over a TCP or TLS connection, an idle one if there
// is one; a reused connection the server has closed meanwhile is
// replaced once.
func (c *Client) stream(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	q := m
	if c.Server.Proto == TLS {
		q = padded(m)
	}
	for attempt := 0; ; attempt++ {
		co, reused := c.takeIdle()
		if co == nil {
			var err error
			if co, err = c.dialStream(ctx); err != nil {
				return nil, err
			}
		}
		r, pool, err := exchangeOn(ctx, co, q)
		if err == nil {
			if pool {
				c.putIdle(co)
			} else {
				co.Close()
			}
			r.Id = m.Id
			return r, nil
		}
		co.Close()
		if !reused || attempt > 0 || ctx.Err() != nil {
			return nil, err
		}
	}
}

// exchangeOn writes q to co and reads until the answer with q's ID; pool
// says whether co may be reused.
func exchangeOn(ctx context.Context, co *dns.Conn, q *dns.Msg) (*dns.Msg, bool, error) {
	if d, ok := ctx.Deadline(); ok {
		co.SetDeadline(d)
	}
	// Cancelling ctx unblocks the read at once.
	stop := context.AfterFunc(ctx, func() { co.SetDeadline(time.Unix(1, 0)) })
	if err := co.WriteMsg(q); err != nil {
		stop()
		return nil, false, err
	}
	for range 8 { // answers to queries of a cancelled exchange may come first
		r, err := co.ReadMsg()
		if err != nil {
			stop()
			if ctx.Err() != nil {
				return nil, false, context.Cause(ctx)
			}
			return nil, false, err
		}
		if r.Id == q.Id {
			pool := stop() // false: the deadline was already cut short
			co.SetDeadline(time.Time{})
			return r, pool, nil
		}
	}
	stop()
	return nil, false, errors.New("no answer with the query's ID")
}

// idleConn is a connection waiting for the next query, since when.
type idleConn struct {
	co    *dns.Conn
	since time.Time
}

func (c *Client) takeIdle() (*dns.Conn, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for n := len(c.idle); n > 0; n = len(c.idle) {
		ic := c.idle[n-1]
		c.idle = c.idle[:n-1]
		if time.Since(ic.since) < idleTimeout {
			return ic.co, true
		}
		ic.co.Close()
	}
	return nil, false
}

func (c *Client) putIdle(co *dns.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.idle) >= maxIdle {
		co.Close()
		return
	}
	c.idle = append(c.idle, idleConn{co, time.Now()})
}

func (c *Client) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if c.DialContext != nil {
		return c.DialContext(ctx, network, addr)
	}
	d := net.Dialer{Timeout: c.timeout()}
	return d.DialContext(ctx, network, addr)
}

func (c *Client) tlsConfig(alpn ...string) *tls.Config {
	return &tls.Config{
		ServerName: c.Server.Host, // an IP address is checked against the certificate's IP addresses
		RootCAs:    c.Roots,
		MinVersion: tls.VersionTLS12,
		NextProtos: alpn,
	}
}

func (c *Client) dialStream(ctx context.Context) (*dns.Conn, error) {
	conn, err := c.dial(ctx, "tcp", c.Server.Addr)
	if err != nil {
		return nil, err
	}
	if c.Server.Proto == TLS {
		tc := tls.Client(conn, c.tlsConfig("dot")) // RFC 7858's ALPN ID
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		conn = tc
	}
	return &dns.Conn{Conn: conn}, nil
}

// Close closes the idle connections.
func (c *Client) Close() error {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, ic := range idle {
		ic.co.Close()
	}
	if c.hc != nil {
		c.hc.CloseIdleConnections()
	}
	return nil
}

func (c *Client) httpClient() *http.Client {
	c.once.Do(func() {
		c.hc = &http.Client{
			Transport: &http.Transport{
				Proxy:               nil, // every connection through DialContext (T1)
				DialContext:         c.dial,
				TLSClientConfig:     c.tlsConfig(),
				ForceAttemptHTTP2:   true,
				MaxIdleConnsPerHost: 2,
				IdleConnTimeout:     90 * time.Second,
				TLSHandshakeTimeout: c.timeout(),
				DisableCompression:  true,
			},
			// A DoH endpoint answers; it does not send us elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	})
	return c.hc
}

// maxDoHBody is the largest DNS message (RFC 1035: 16-bit length).
const maxDoHBody = 65535

// doh exchanges m over HTTPS (RFC 8484): ID 0, as section 4.1 asks so
// that answers can be cached by HTTP, by POST or by GET.
func (c *Client) doh(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	q := padded(m)
	q.Id = 0
	wire, err := q.Pack()
	if err != nil {
		return nil, err
	}
	var req *http.Request
	if c.Server.GET {
		sep := "?"
		if strings.Contains(c.Server.URL, "?") {
			sep = "&"
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, c.Server.URL+sep+"dns="+base64.RawURLEncoding.EncodeToString(wire), nil)
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, c.Server.URL, bytes.NewReader(wire))
		if req != nil {
			req.Header.Set("Content-Type", "application/dns-message")
		}
	}
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/dns-message")
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("HTTP status %s", resp.Status)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "application/dns-message" {
		return nil, fmt.Errorf("answer of type %q, not application/dns-message", resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDoHBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxDoHBody {
		return nil, errors.New("answer larger than a DNS message can be")
	}
	r := new(dns.Msg)
	if err := r.Unpack(body); err != nil {
		return nil, fmt.Errorf("answer: %w", err)
	}
	if r.Id != 0 {
		return nil, errors.New("answer ID mismatch")
	}
	r.Id = m.Id
	return r, nil
}

// padBlock is the block length queries are padded to (RFC 8467 section
// 4.1 recommends 128 octets for queries), so that their length says
// little about the name asked.
const padBlock = 128

// padded returns a copy of m with an EDNS(0) padding option (RFC 7830)
// that makes its length a multiple of padBlock; m without EDNS(0) is
// returned as a copy unpadded.
func padded(m *dns.Msg) *dns.Msg {
	q := m.Copy()
	opt := q.IsEdns0()
	if opt == nil {
		return q
	}
	kept := opt.Option[:0]
	for _, o := range opt.Option {
		if _, ok := o.(*dns.EDNS0_PADDING); !ok {
			kept = append(kept, o)
		}
	}
	opt.Option = kept
	n := q.Len() + 4 // the padding option's own code and length
	opt.Option = append(opt.Option, &dns.EDNS0_PADDING{Padding: make([]byte, (padBlock-n%padBlock)%padBlock)})
	return q
}

// Command mellium logs in to an XMPP account with mellium.im/xmpp over the
// connection hacx dials, and sends one message.
//
// hacx finds the domain's routes (HACX document, Host Meta 2, XEP-0156,
// SRV), dials them with their exact SNI, ALPN and pins, and proves the
// stream comes from the right domain; mellium then does what it is good
// at: SASL, resource binding and stanzas. Conn.StreamConn is the seam: the
// same RFC 6120 byte stream whichever route won, direct TLS, STARTTLS,
// WebSocket or BOSH.
//
//	XMPP_PASSWORD=secret go run . -jid alice@example.org -to bob@example.org -body hello
//
// -resolver and -ca-file mean what they mean to the hacx command: the DNS
// server for every lookup, and extra trusted root certificates.
package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"hacx.dev/hacx"
	"hacx.dev/hacx/dial"
	"hacx.dev/hacx/discover"
	"hacx.dev/hacx/dnssec"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main with its arguments and outputs, and the exit code as result:
// 0 sent, 1 failed, 2 usage.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mellium", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("jid", "", "the account to log in as, user@domain")
	password := fs.String("password", "", "the account's password (default $XMPP_PASSWORD)")
	to := fs.String("to", "", "who gets the message (default the account itself)")
	body := fs.String("body", "hello over hacx", "the message text")
	timeout := fs.Duration("timeout", 30*time.Second, "time for dialing, logging in and sending")
	var resolver string
	fs.Func("resolver", "DNS `server` for every lookup: IP[:PORT] (port 53 if left out), tcp://, tls:// or https:// (default: the system resolver)", func(v string) (err error) {
		resolver, err = parseResolver(v)
		return err
	})
	caFile := fs.String("ca-file", "", "PEM `file` of extra trusted root certificates")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *password == "" {
		*password = os.Getenv("XMPP_PASSWORD")
	}
	j, err := jid.Parse(*addr)
	if err != nil || j.Localpart() == "" || *password == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: mellium -jid user@domain [-password P | $XMPP_PASSWORD] [-to jid] [-body text] [-resolver SERVER] [-ca-file FILE]")
		return 2
	}
	rcpt := j.Bare()
	if *to != "" {
		if rcpt, err = jid.Parse(*to); err != nil {
			fmt.Fprintln(stderr, "mellium: -to:", err)
			return 2
		}
	}
	d, err := dialer(resolver, *caFile)
	if err != nil {
		fmt.Fprintln(stderr, "mellium:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	s, conn, err := Login(ctx, d, j, *password)
	if err != nil {
		fmt.Fprintln(stderr, "mellium:", err)
		return 1
	}
	defer s.Conn().Close()
	if err := Send(ctx, s, rcpt, *body); err != nil {
		fmt.Fprintln(stderr, "mellium:", err)
		return 1
	}
	if err := s.Close(); err != nil {
		fmt.Fprintln(stderr, "mellium: closing the stream:", err)
		return 1
	}
	fmt.Fprintf(stdout, "sent to %s as %s over %s (verified by %s)\n", rcpt, s.LocalAddr(), conn.Route, conn.Verified)
	return 0
}

// dialer is the Dialer the flags describe: discovery (the HACX fetch, SRV,
// DANE) through resolver when one is named, and the roots of caFile
// added to the system's, for the HACX fetch and the routes alike.
func dialer(resolver, caFile string) (*dial.Dialer, error) {
	r := &discover.Resolver{DNSServer: resolver}
	d := &dial.Dialer{Routes: r}
	if caFile != "" {
		pemData, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("-ca-file: %w", err)
		}
		roots, err := x509.SystemCertPool()
		if err != nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pemData) {
			return nil, fmt.Errorf("-ca-file %s: no PEM certificate found", caFile)
		}
		r.Roots, d.Roots = roots, roots
	}
	return d, nil
}

// parseResolver reads -resolver as the hacx command reads --resolver:
// IP[:PORT] for plain DNS (port 53 if left out), tcp://, tls:// (DNS over
// TLS) or https:// (DNS over HTTPS). A plain host name is refused, since
// it would itself be looked up through the system resolver.
func parseResolver(v string) (string, error) {
	if _, err := dnssec.ParseServer(v); err != nil {
		return "", err
	}
	return v, nil
}

// Login dials j's domain with d and negotiates a client session (SASL,
// resource binding) over the verified connection, whichever route won.
// The session's Conn is the connection to close when done.
func Login(ctx context.Context, d *dial.Dialer, j jid.JID, password string) (*xmpp.Session, *dial.Conn, error) {
	conn, err := d.Dial(ctx, j.Domainpart())
	if err != nil {
		return nil, nil, err
	}
	sc, err := conn.StreamConn()
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	mechanisms := []sasl.Mechanism{sasl.ScramSha256, sasl.ScramSha1, sasl.Plain}
	if m := conn.Route.Method; m == hacx.MethodTLS || m == hacx.MethodStartTLS {
		// -PLUS first where the connection's TLS state is the server's
		// own: over direct TLS and STARTTLS channel binding works
		// through hacx. Over WebSocket and BOSH it would bind to the
		// web endpoint's HTTPS connection, which the XMPP server need
		// not see.
		mechanisms = append([]sasl.Mechanism{sasl.ScramSha256Plus, sasl.ScramSha1Plus}, mechanisms...)
	}
	features := []xmpp.StreamFeature{
		xmpp.SASL("", password, mechanisms...),
		xmpp.BindResource(),
	}
	// xmpp.Secure: hacx already did (and verified) TLS; mellium sees no
	// *tls.Conn, so it must be told, or it refuses SASL.
	s, err := xmpp.NewSession(ctx, j.Domain(), j, sc, xmpp.Secure, xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
		return xmpp.StreamConfig{Features: features}
	}))
	if err != nil {
		sc.Close()
		return nil, nil, fmt.Errorf("xmpp session with %s over %s: %w", j.Domain(), conn.Route, err)
	}
	return s, conn, nil
}

// Message is a message stanza with a body.
type Message struct {
	stanza.Message
	Body string `xml:"body"`
}

// Send sends one chat message.
func Send(ctx context.Context, s *xmpp.Session, to jid.JID, body string) error {
	if body == "" {
		return errors.New("empty message body")
	}
	return s.Encode(ctx, Message{Message: stanza.Message{To: to, Type: stanza.ChatMessage}, Body: body})
}

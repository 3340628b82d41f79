// Command mellium logs in to an XMPP account with mellium.im/xmpp over the
// connection hacx dials, and sends one message.
//
// hacx finds the domain's routes (HACX document, Host Meta 2, XEP-0156,
// SRV), dials them with their exact SNI, ALPN and pins, and proves the
// stream comes from the right domain; mellium then does what it is good
// at: SASL, resource binding and stanzas. Conn.StreamConn is the seam.
//
//	XMPP_PASSWORD=secret go run . -jid alice@example.org -to bob@example.org -body hello
package main

import (
	"context"
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

	"hacx.dev/hacx/dial"
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
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *password == "" {
		*password = os.Getenv("XMPP_PASSWORD")
	}
	j, err := jid.Parse(*addr)
	if err != nil || j.Localpart() == "" || *password == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: mellium -jid user@domain [-password P | $XMPP_PASSWORD] [-to jid] [-body text]")
		return 2
	}
	rcpt := j.Bare()
	if *to != "" {
		if rcpt, err = jid.Parse(*to); err != nil {
			fmt.Fprintln(stderr, "mellium: -to:", err)
			return 2
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var d dial.Dialer // discovery through the system resolver, system roots
	s, conn, err := Login(ctx, &d, j, *password)
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

// Login dials j's domain with d and negotiates a client session (SASL,
// resource binding) over the verified connection. The session's Conn is
// the connection to close when done.
func Login(ctx context.Context, d *dial.Dialer, j jid.JID, password string) (*xmpp.Session, *dial.Conn, error) {
	conn, err := d.Dial(ctx, j.Domainpart())
	if err != nil {
		return nil, nil, err
	}
	sc, err := conn.StreamConn()
	if err != nil {
		// A WebSocket or BOSH route won: mellium's own websocket package
		// or hacx proxy would be needed for it.
		conn.Close()
		return nil, nil, err
	}
	features := []xmpp.StreamFeature{
		// -PLUS first: the connection offers the server's TLS state,
		// so channel binding works through hacx.
		xmpp.SASL("", password, sasl.ScramSha256Plus, sasl.ScramSha1Plus, sasl.ScramSha256, sasl.ScramSha1, sasl.Plain),
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

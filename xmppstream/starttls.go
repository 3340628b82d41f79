package xmppstream

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"hacx.dev/hacx"
)

// NSTLS is the namespace of STARTTLS negotiation (RFC 6120 section 5).
const NSTLS = "urn:ietf:params:xml:ns:xmpp-tls"

// PhaseStartTLS names the exchange of <starttls/> and its answer.
const PhaseStartTLS = "starttls"

// STARTTLS failures (rule S1), found with errors.Is in an *Error's chain.
var (
	// ErrNoStartTLS: the plaintext features did not offer <starttls/>,
	// as after an on-path attacker stripped it. Going on in plaintext is
	// never an option.
	ErrNoStartTLS = errors.New("server offered no STARTTLS: refusing plaintext")
	// ErrStartTLSFailed: the server answered <starttls/> with <failure/>.
	ErrStartTLSFailed = errors.New("server answered STARTTLS with <failure/>")
)

// StartTLSCommand is what the initiating entity sends to ask for TLS.
const StartTLSCommand = "<starttls xmlns='" + NSTLS + "'/>"

// StartTLS runs the plaintext half of STARTTLS as the initiating entity
// (RFC 6120 section 5.4): it writes the stream header for domain (from as
// an initiating server names itself, "" for none), reads the server's
// header and features, requires <starttls/> among them, sends
// <starttls/> and reads the answer, which must be <proceed/>. On success
// the caller starts the TLS handshake on the same connection at once.
//
// Nothing read here is trusted (S1): the features are returned for
// reports only, and the stream restarts from scratch over TLS. Features
// without <starttls/> (ErrNoStartTLS), <failure/> (ErrStartTLSFailed), a
// stream error (*StreamError), EOF (ErrClosed) or anything else fail,
// with the same *Error shape as ReadOpen. StartTLS reads byte by byte and
// never past the '>' that ends <proceed/>: whatever the server sends
// after it stays unread for the TLS layer, which refuses it as the
// injection it is (CVE-2011-0411 class).
//
// rw should carry a deadline: a silent server makes StartTLS wait.
func StartTLS(rw io.ReadWriter, from, domain string, kind hacx.Kind) (features []byte, err error) {
	if err := WriteOpenFrom(rw, from, domain, kind); err != nil {
		return nil, err
	}
	s, _, feats, err := readOpen(rw, domain, kind)
	if err != nil {
		return nil, err
	}
	if feats.child(NSTLS, "starttls") == nil {
		return feats.Raw, &Error{Phase: PhaseFeatures, Reason: "the features offer no <starttls/>", Got: excerpt(feats.Raw), Err: ErrNoStartTLS}
	}
	if _, err := io.WriteString(rw, StartTLSCommand); err != nil {
		return feats.Raw, fmt.Errorf("xmppstream: write <starttls/>: %w", err)
	}
	// The answer may not exceed the features' bound either.
	s.br.limit = len(s.br.rec) + MaxHeaderBytes
	ans, err := s.next(PhaseStartTLS, "the answer to <starttls/>")
	if err != nil {
		return feats.Raw, err
	}
	switch ans.Name {
	case xml.Name{Space: NSTLS, Local: "proceed"}:
		return feats.Raw, nil
	case xml.Name{Space: NSTLS, Local: "failure"}:
		return feats.Raw, &Error{Phase: PhaseStartTLS, Reason: "the server refused to start TLS", Got: excerpt(ans.Raw), Err: ErrStartTLSFailed}
	case xml.Name{Space: NSStream, Local: "error"}:
		return feats.Raw, &Error{Phase: PhaseStartTLS, Reason: "the server sent a stream error instead of <proceed/>", Got: excerpt(ans.Raw), Err: streamError(ans)}
	}
	return feats.Raw, &Error{Phase: PhaseStartTLS, Reason: fmt.Sprintf("got <%s/> where <proceed/> was expected", ans.Name.Local), Got: excerpt(ans.Raw), Err: ErrNotXMPP}
}

// FeatureNames lists the features a <stream:features/> element offers,
// in order, for reports: the local name of each child, with
// "(required)" after one that says so (STARTTLS), and the SASL
// mechanisms as "mechanisms(PLAIN SCRAM-SHA-1)". Input that does not
// parse gives nil.
func FeatureNames(features []byte) []string {
	// Features read from a stream lean on the header's declaration of
	// the stream prefix: give them one.
	wrapped := append(append([]byte("<w xmlns:stream='"+NSStream+"'>"), features...), "</w>"...)
	w, err := parseMessage(wrapped, PhaseFeatures, "<stream:features/>")
	if err != nil || len(w.Children) != 1 || len(bytes.TrimSpace([]byte(w.Text))) > 0 {
		return nil
	}
	root := w.Children[0]
	names := make([]string, 0, len(root.Children))
	for _, c := range root.Children {
		n := c.Name.Local
		switch {
		case c.child(c.Name.Space, "required") != nil:
			n += "(required)"
		case n == "mechanisms":
			var ms []string
			for _, m := range c.Children {
				if m.Name.Local == "mechanism" {
					ms = append(ms, strings.TrimSpace(m.Text))
				}
			}
			n += "(" + strings.Join(ms, " ") + ")"
		}
		names = append(names, n)
	}
	return names
}

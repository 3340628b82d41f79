package dial

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"hacx.dev/hacx"
	"hacx.dev/hacx/xmppstream"
)

// BOSHSession is a created XEP-0206 session: the proxy drives the rest of
// the conversation through Post.
type BOSHSession struct {
	// URL is the connection manager's https:// URL.
	URL string
	// Session is the manager's session creation response: SID, wait,
	// hold, requests, and features if it sent them.
	Session *xmppstream.BOSHSession
	// Client sends every request to the route's ip:port with the route's
	// SNI and the same certificate checks as the first connection (A8).
	Client *http.Client

	rid atomic.Uint64 // the last rid used
}

// NextRID returns the request ID for the next request (XEP-0124 section
// 14: each request increments it by one).
func (s *BOSHSession) NextRID() uint64 { return s.rid.Add(1) }

// Post sends body (a complete <body/> element) and returns the response
// body, at most xmppstream.MaxBOSHBody: a connection manager that held a
// request while stanzas piled up answers with all of them in one body. A
// non-200 status is an error (XEP-0124 section 17: the session is gone).
func (s *BOSHSession) Post(ctx context.Context, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("bosh: %w", err)
	}
	req.Header.Set("Content-Type", xmppstream.BOSHContentType)
	resp, err := s.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bosh: POST %s: %w", s.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, xmppstream.MaxBOSHBody+1))
	if err != nil {
		return nil, fmt.Errorf("bosh: reading response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bosh: POST %s: HTTP %s (%q)", s.URL, resp.Status, excerpt(data))
	}
	if len(data) > xmppstream.MaxBOSHBody {
		return nil, fmt.Errorf("bosh: response larger than %d bytes", xmppstream.MaxBOSHBody)
	}
	return data, nil
}

// Close terminates the session (XEP-0124 section 13) within a short grace
// period and releases the connections.
func (s *BOSHSession) Close() error {
	defer s.Client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), closeGrace)
	defer cancel()
	_, err := s.Post(ctx, xmppstream.BOSHWrapTerminate(s.Session.SID, s.NextRID()))
	return err
}

// firstRID picks a random initial request ID below 2^52, leaving room to
// increment without passing 2^53 (XEP-0124 section 7.1).
func firstRID() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])>>12 | 1
}

// tryBOSH is XMPP over BOSH (XEP-0206): TLS to the route's ip:port (A8),
// a session creation request to the URL, and a response whose from must
// be domain (C4).
func (d *Dialer) tryBOSH(ctx context.Context, a *attempt, domain string, kind hacx.Kind) (*Conn, error) {
	hr, err := d.connectHTTPRoute(ctx, a, domain, "https")
	if err != nil {
		return nil, err
	}
	// No deferred release: a created session keeps the client and its
	// connections; BOSHSession.Close frees them.
	u, cs, client := hr.url, hr.tls, hr.client

	s := &BOSHSession{URL: u.String(), Client: client}
	rid := firstRID()
	s.rid.Store(rid)
	limit := d.streamTimeout()
	sctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	data, err := s.Post(sctx, xmppstream.BOSHSessionRequest(domain, rid, kind))
	if err == nil {
		s.Session, err = xmppstream.ParseBOSHSession(data, domain)
	}
	if err != nil {
		hr.release()
		return nil, streamErr(ctx, sctx, err, "bosh session creation", limit)
	}
	hdr := s.Session.Header
	return &Conn{
		Domain: domain, Kind: kind, Route: a.route,
		Header: &hdr, Features: s.Session.Features, Verified: a.how(),
		TLS: cs, BOSH: s,
	}, nil
}

// excerpt is a short, printable prefix of what a peer sent, for errors.
func excerpt(b []byte) string {
	const max = 64
	if len(b) > max {
		b = b[:max]
	}
	return string(b)
}

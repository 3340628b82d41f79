package dial

import (
	"context"
	"fmt"

	"github.com/coder/websocket"

	"hacx.dev/hacx"
	"hacx.dev/hacx/xmppstream"
)

// tryWebSocket is XMPP over WebSocket (RFC 7395): TLS to the route's
// ip:port (A8), the upgrade for the URL's host and path with subprotocol
// "xmpp" required, then our <open/> and the server's, whose from must be
// domain (C4).
func (d *Dialer) tryWebSocket(ctx context.Context, a *attempt, domain string, kind hacx.Kind) (*Conn, error) {
	hr, err := d.connectHTTPRoute(ctx, a, domain, "wss")
	if err != nil {
		return nil, err
	}
	defer hr.release()
	u, cs, client := hr.url, hr.tls, hr.client

	limit := d.streamTimeout()
	sctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	ws, resp, err := websocket.Dial(sctx, u.String(), &websocket.DialOptions{
		HTTPClient:   client,
		Subprotocols: []string{xmppstream.WSSubprotocol},
	})
	if err != nil {
		if te := timedOut(ctx, sctx, err, "websocket upgrade", "stream timeout", limit); te != nil {
			return nil, te
		}
		if resp != nil {
			return nil, fmt.Errorf("websocket upgrade %s: HTTP %s: %w", u.Redacted(), resp.Status, err)
		}
		return nil, fmt.Errorf("websocket upgrade %s: %w", u.Redacted(), err)
	}
	// coder/websocket accepts a reply without a subprotocol; RFC 7395
	// requires "xmpp" (C3).
	if p := ws.Subprotocol(); p != xmppstream.WSSubprotocol {
		ws.CloseNow()
		return nil, fmt.Errorf("%w (got %q)", ErrNoSubprotocol, p)
	}
	ws.SetReadLimit(xmppstream.MaxMessageBytes)
	hdr, err := wsOpen(sctx, ws, domain)
	if err != nil {
		ws.CloseNow()
		return nil, streamErr(ctx, sctx, err, "websocket <open/>", limit)
	}
	return &Conn{
		Domain: domain, Kind: kind, Route: a.route,
		Header: hdr, Verified: a.how(), TLS: cs, WebSocket: ws, WebSocketTLS: hr.last(),
	}, nil
}

func wsOpen(ctx context.Context, ws *websocket.Conn, domain string) (*xmppstream.Header, error) {
	if err := ws.Write(ctx, websocket.MessageText, xmppstream.WSOpen(domain)); err != nil {
		return nil, fmt.Errorf("websocket write <open/>: %w", err)
	}
	typ, msg, err := ws.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("websocket read <open/>: %w", err)
	}
	if typ != websocket.MessageText {
		// RFC 7395 section 3.2: XMPP messages are text frames.
		return nil, fmt.Errorf("websocket: binary message where <open/> was expected")
	}
	return xmppstream.CheckWSOpen(msg, domain)
}

package loopback

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
)

// SOCKS5 reply codes (RFC 1928 section 6) a SOCKSServer can be told to
// answer with.
const (
	SOCKSGeneralFailure    byte = 0x01
	SOCKSNotAllowed        byte = 0x02
	SOCKSHostUnreachable   byte = 0x04
	SOCKSConnectionRefused byte = 0x05
)

// SOCKSServer is a SOCKS5 proxy on a loopback port (RFC 1928, CONNECT
// only, with RFC 1929 user name and password), standing in for Tor in tests
// of rule T1. It records every CONNECT request as it arrived (a host name
// or an IP), resolves names only through the map the test gives, never the
// system resolver, and connects only to loopback addresses. It can be told
// to refuse every request or to stall.
type SOCKSServer struct {
	// Addr is "127.0.0.1:port".
	Addr string

	// e is the listener, its accept loop and the connections Close
	// closes. Not embedded: an endpoint's Contacts would stay empty here.
	e     *endpoint
	names map[string]string

	mu       sync.Mutex
	users    map[string]string
	refuse   byte
	stall    bool
	connects []SOCKSConnect
}

// SOCKSConnect is one CONNECT request the server received.
type SOCKSConnect struct {
	Host   string // the host name or IP literal as requested
	Port   uint16
	IsName bool   // Host is a domain name (ATYP 3), not an IP
	User   string // the RFC 1929 user name, "" without authentication
	// Reply is the reply code sent: 0 succeeded.
	Reply byte
}

// Target is host:port as requested.
func (c SOCKSConnect) Target() string {
	return net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port)))
}

func (c SOCKSConnect) String() string {
	s := "CONNECT " + c.Target()
	if c.User != "" {
		s += " user " + c.User
	}
	return s
}

// NewSOCKSServer starts a proxy on 127.0.0.1. names maps the host names
// (or "name:port") the proxy may resolve to loopback addresses: "ip" keeps
// the requested port, "ip:port" replaces it. A key "ip:port" redirects
// requests for that IP target too (tests cannot all listen on port 443);
// other IP targets are dialed as they are. Close it when done.
func NewSOCKSServer(names map[string]string) (*SOCKSServer, error) {
	e, err := listenLoopback("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &SOCKSServer{Addr: e.Addr().String(), e: e, names: map[string]string{}}
	for k, v := range names {
		s.names[k] = v
	}
	e.serve(s.serve)
	return s, nil
}

// SetUsers requires RFC 1929 authentication with one of these user names
// and passwords. Without it any user name and password are accepted (and
// recorded) when the client offers them, and none is required.
func (s *SOCKSServer) SetUsers(users map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users = users
}

// Refuse makes the server answer every CONNECT with reply code (for
// example SOCKSNotAllowed or SOCKSConnectionRefused); 0 restores normal
// service.
func (s *SOCKSServer) Refuse(code byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = code
}

// Stall makes the server accept connections and never answer.
func (s *SOCKSServer) Stall(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stall = on
}

// Connects returns a copy of every CONNECT request received so far.
func (s *SOCKSServer) Connects() []SOCKSConnect {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SOCKSConnect(nil), s.connects...)
}

// Close stops the server and closes every connection it holds; a second
// Close returns nil.
func (s *SOCKSServer) Close() error { return s.e.Close() }

func (s *SOCKSServer) serve(c net.Conn) {
	s.mu.Lock()
	stall, users, refuse := s.stall, s.users, s.refuse
	s.mu.Unlock()
	if stall {
		io.Copy(io.Discard, c) // until the client or Close hangs up
		return
	}
	br := bufio.NewReader(c)
	user, err := socksHandshake(br, c, users)
	if err != nil {
		return
	}
	req, err := ReadSOCKSRequest(br)
	if err != nil {
		socksReply(c, SOCKSGeneralFailure)
		return
	}
	req.User = user
	reply, upstream := s.connectTarget(req, refuse)
	req.Reply = reply
	s.mu.Lock()
	s.connects = append(s.connects, req)
	s.mu.Unlock()
	if upstream == nil {
		socksReply(c, reply)
		return
	}
	defer upstream.Close()
	if !s.e.track(upstream) {
		return
	}
	defer s.e.untrack(upstream)
	if socksReply(c, 0) != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		io.Copy(upstream, br)
		if tc, ok := upstream.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		close(done)
	}()
	io.Copy(c, upstream)
	c.Close()
	<-done
}

// connectTarget resolves and dials the request's target, loopback only.
func (s *SOCKSServer) connectTarget(req SOCKSConnect, refuse byte) (byte, net.Conn) {
	if refuse != 0 {
		return refuse, nil
	}
	port := strconv.Itoa(int(req.Port))
	host := req.Host
	to, ok := s.names[req.Target()]
	if !ok && req.IsName {
		to, ok = s.names[req.Host]
	}
	switch {
	case ok:
		if h, p, err := net.SplitHostPort(to); err == nil {
			host, port = h, p
		} else {
			host = to
		}
	case req.IsName:
		return SOCKSHostUnreachable, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return SOCKSNotAllowed, nil // this test proxy never leaves loopback
	}
	up, err := net.Dial("tcp", net.JoinHostPort(ip.String(), port))
	if err != nil {
		return SOCKSConnectionRefused, nil
	}
	return 0, up
}

// socksHandshake negotiates the method (RFC 1928 section 3) and runs the
// user name and password subnegotiation (RFC 1929) when offered or
// required; it returns the user name.
func socksHandshake(br *bufio.Reader, w io.Writer, users map[string]string) (string, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return "", err
	}
	if hdr[0] != 5 {
		return "", fmt.Errorf("socks: version %d", hdr[0])
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(br, methods); err != nil {
		return "", err
	}
	var noAuth, userPass bool
	for _, m := range methods {
		noAuth = noAuth || m == 0
		userPass = userPass || m == 2
	}
	switch {
	case userPass:
		// Chosen whenever offered, so tests see the user name even when
		// the server does not require one.
		if _, err := w.Write([]byte{5, 2}); err != nil {
			return "", err
		}
		user, pass, err := readUserPass(br)
		if err != nil {
			return "", err
		}
		want, known := users[user]
		ok := users == nil || (known && want == pass)
		status := byte(0)
		if !ok {
			status = 1
		}
		if _, err := w.Write([]byte{1, status}); err != nil || !ok {
			return "", errors.New("socks: authentication failed")
		}
		return user, nil
	case noAuth && users == nil:
		_, err := w.Write([]byte{5, 0})
		return "", err
	default:
		w.Write([]byte{5, 0xff})
		return "", errors.New("socks: no acceptable method")
	}
}

func readUserPass(br *bufio.Reader) (user, pass string, err error) {
	ver, err := br.ReadByte()
	if err != nil {
		return "", "", err
	}
	if ver != 1 {
		return "", "", fmt.Errorf("socks: auth version %d", ver)
	}
	field := func() (string, error) {
		n, err := br.ReadByte()
		if err != nil {
			return "", err
		}
		b := make([]byte, n)
		_, err = io.ReadFull(br, b)
		return string(b), err
	}
	if user, err = field(); err != nil {
		return "", "", err
	}
	pass, err = field()
	return user, pass, err
}

// ReadSOCKSRequest parses one RFC 1928 request (section 4); only CONNECT
// is accepted.
func ReadSOCKSRequest(r io.Reader) (SOCKSConnect, error) {
	var req SOCKSConnect
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return req, err
	}
	if hdr[0] != 5 || hdr[1] != 1 || hdr[2] != 0 {
		return req, fmt.Errorf("socks: unsupported request %x", hdr[:3])
	}
	switch hdr[3] {
	case 1, 4:
		b := make([]byte, 4)
		if hdr[3] == 4 {
			b = make([]byte, 16)
		}
		if _, err := io.ReadFull(r, b); err != nil {
			return req, err
		}
		ip, _ := netip.AddrFromSlice(b)
		req.Host = ip.String()
	case 3:
		var n [1]byte
		if _, err := io.ReadFull(r, n[:]); err != nil {
			return req, err
		}
		if n[0] == 0 {
			return req, errors.New("socks: empty host name")
		}
		b := make([]byte, n[0])
		if _, err := io.ReadFull(r, b); err != nil {
			return req, err
		}
		req.Host, req.IsName = string(b), true
	default:
		return req, fmt.Errorf("socks: address type %d", hdr[3])
	}
	var p [2]byte
	if _, err := io.ReadFull(r, p[:]); err != nil {
		return req, err
	}
	req.Port = binary.BigEndian.Uint16(p[:])
	return req, nil
}

// socksReply sends a reply with a zero IPv4 bound address.
func socksReply(w io.Writer, code byte) error {
	_, err := w.Write([]byte{5, code, 0, 1, 0, 0, 0, 0, 0, 0})
	return err
}

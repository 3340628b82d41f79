package socks_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"hacx.dev/hacx/internal/loopback"
	"hacx.dev/hacx/socks"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in, str   string
		remoteDNS bool
		user      string
		wantErr   bool
	}{
		{"socks5h://127.0.0.1:9050", "socks5h://127.0.0.1:9050", true, "", false},
		{"socks5://127.0.0.1:1080", "socks5://127.0.0.1:1080", false, "", false},
		{"socks5h://alice:s3cret@127.0.0.1:9050", "socks5h://127.0.0.1:9050", true, "alice", false},
		{"socks5h://[::1]", "socks5h://[::1]:1080", true, "", false},
		{"http://127.0.0.1:8080", "", false, "", true},
		{"socks4://127.0.0.1:1080", "", false, "", true},
		{"socks5h://", "", false, "", true},
		{"socks5h://127.0.0.1:9050/path", "", false, "", true},
		{"socks5h://:pw@127.0.0.1:9050", "", false, "", true},
		{"127.0.0.1:9050", "", false, "", true},
	}
	for _, tt := range tests {
		p, err := socks.Parse(tt.in)
		if tt.wantErr {
			if err == nil || !errors.Is(err, socks.ErrURL) {
				t.Errorf("Parse(%q) = %v, %v; want an ErrURL", tt.in, p, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if p.String() != tt.str || p.RemoteDNS() != tt.remoteDNS || p.Username != tt.user {
			t.Errorf("Parse(%q) = %s remoteDNS=%v user=%q", tt.in, p, p.RemoteDNS(), p.Username)
		}
	}
}

func TestParse_ErrorsHideThePassword(t *testing.T) {
	for _, in := range []string{"http://u:topsecret@127.0.0.1:1", "socks5h://u:topsecret@127.0.0.1:1/x", "socks5h://u:topsecret@[::1:1", "socks5h://:topsecret@h:1"} {
		_, err := socks.Parse(in)
		if err == nil || strings.Contains(err.Error(), "topsecret") {
			t.Errorf("Parse(%q) error %v", in, err)
		}
	}
}

// A password with '/', '?' or '#' in it, left unencoded, ends the URL's
// authority early: "tor:1234" reads as host:port and the secret as the
// path. The error must still hide it, and say what to do.
func TestParse_UnencodedPasswordNeverShown(t *testing.T) {
	for _, in := range []string{
		"socks5h://tor:1234/SECRETabc@127.0.0.1:9050",
		"socks5h://tor:1234?SECRETabc@127.0.0.1:9050",
		"socks5h://tor:1234#SECRETabc@127.0.0.1:9050",
		"socks5://tor:99/x/SECRETabc@[::1]:9050",
		"socks5h://tor:1234/SECRETabc@127.0.0.1:9050/",
	} {
		_, err := socks.Parse(in)
		if err == nil || !errors.Is(err, socks.ErrURL) {
			t.Errorf("Parse(%q) = %v; want an ErrURL", in, err)
			continue
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("Parse(%q) error shows the password: %v", in, err)
		}
		if !strings.Contains(err.Error(), "percent-encode") {
			t.Errorf("Parse(%q) error does not say to percent-encode the password: %v", in, err)
		}
	}
	t.Setenv("ALL_PROXY", "socks5h://tor:1234/SECRETabc@127.0.0.1:9050")
	if _, err := socks.FromEnvironment(); err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("ALL_PROXY: %v", err)
	}
	// Percent-encoded, the same password is fine.
	p, err := socks.Parse("socks5h://tor:1234%2FSECRETabc@127.0.0.1:9050")
	if err != nil || p.Password != "1234/SECRETabc" || p.Addr != "127.0.0.1:9050" {
		t.Errorf("encoded password: %+v, %v", p, err)
	}
}

func TestZeroSchemeIsRemoteDNS_T1(t *testing.T) {
	p := &socks.Proxy{Addr: "127.0.0.1:9050"}
	if !p.RemoteDNS() || p.String() != "socks5h://127.0.0.1:9050" {
		t.Errorf("zero scheme: %s remote=%v", p, p.RemoteDNS())
	}
}

func TestFromEnvironment(t *testing.T) {
	t.Setenv("ALL_PROXY", "")
	t.Setenv("all_proxy", "socks5://127.0.0.1:1")
	p, err := socks.FromEnvironment()
	if err != nil || p == nil || p.String() != "socks5://127.0.0.1:1" {
		t.Fatalf("all_proxy: %v, %v", p, err)
	}
	t.Setenv("ALL_PROXY", "socks5h://127.0.0.1:2")
	if p, _ := socks.FromEnvironment(); p == nil || p.String() != "socks5h://127.0.0.1:2" {
		t.Errorf("ALL_PROXY wins: %v", p)
	}
	t.Setenv("ALL_PROXY", "none")
	if p, err := socks.FromEnvironment(); p != nil || err != nil {
		t.Errorf("none: %v, %v", p, err)
	}
	t.Setenv("ALL_PROXY", "https://u:pw1234@127.0.0.1:3")
	if _, err := socks.FromEnvironment(); err == nil || strings.Contains(err.Error(), "pw1234") {
		t.Errorf("bad ALL_PROXY: %v", err)
	}
}

// echoServer answers each connection with "hello" and closes it.
func echoServer(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello"))
			c.Close()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

func read(t *testing.T, c net.Conn) string {
	t.Helper()
	defer c.Close()
	b, _ := io.ReadAll(c)
	return string(b)
}

func TestDialContext_RemoteDNSSendsTheName_T1(t *testing.T) {
	addr := echoServer(t)
	srv, err := loopback.NewSOCKSServer(map[string]string{"echo.test": addr.String()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	p := &socks.Proxy{Addr: srv.Addr, Username: "circuit-1", Password: "x",
		LookupHost: func(context.Context, string) ([]netip.Addr, error) {
			t.Error("socks5h resolved a name locally")
			return nil, errors.New("no")
		}}
	c, err := p.DialContext(context.Background(), "tcp", "echo.test:443")
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, c); got != "hello" {
		t.Errorf("read %q", got)
	}
	got := srv.Connects()
	if len(got) != 1 || !got[0].IsName || got[0].Target() != "echo.test:443" || got[0].User != "circuit-1" {
		t.Errorf("connects %v", got)
	}
}

func TestDialContext_LocalDNSSendsAnIP(t *testing.T) {
	addr := echoServer(t)
	srv, err := loopback.NewSOCKSServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var asked []string
	p := &socks.Proxy{Scheme: socks.SchemeLocalDNS, Addr: srv.Addr,
		LookupHost: func(_ context.Context, host string) ([]netip.Addr, error) {
			asked = append(asked, host)
			return []netip.Addr{addr.Addr()}, nil
		}}
	c, err := p.DialContext(context.Background(), "tcp", net.JoinHostPort("echo.test", strconv.Itoa(int(addr.Port()))))
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, c); got != "hello" {
		t.Errorf("read %q", got)
	}
	got := srv.Connects()
	if len(asked) != 1 || asked[0] != "echo.test" || len(got) != 1 || got[0].IsName || got[0].Target() != addr.String() {
		t.Errorf("asked %v, connects %v", asked, got)
	}
}

func TestDialContext_RefusedNamesTheProxyNotThePassword(t *testing.T) {
	srv, err := loopback.NewSOCKSServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, code := range []byte{loopback.SOCKSNotAllowed, loopback.SOCKSConnectionRefused} {
		srv.Refuse(code)
		p, _ := socks.Parse("socks5h://user:hunter22@" + srv.Addr)
		_, err := p.DialContext(context.Background(), "tcp", "example.test:443")
		var se *socks.Error
		if !errors.As(err, &se) || se.Proxy != "socks5h://"+srv.Addr {
			t.Fatalf("code %d: %v", code, err)
		}
		if msg := err.Error(); !strings.Contains(msg, srv.Addr) || strings.Contains(msg, "hunter22") || strings.Contains(msg, "user") {
			t.Errorf("error %q", msg)
		}
	}
}

func TestDialContext_StallEndsWithTheContext(t *testing.T) {
	srv, err := loopback.NewSOCKSServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.Stall(true)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	p := &socks.Proxy{Addr: srv.Addr}
	_, err = p.DialContext(ctx, "tcp", "example.test:443")
	var se *socks.Error
	if !errors.As(err, &se) || !strings.Contains(err.Error(), srv.Addr) {
		t.Fatalf("stalled proxy: %v", err)
	}
	if dl, _ := ctx.Deadline(); time.Now().Before(dl) {
		t.Errorf("returned before the deadline: %v", err)
	}
}

func TestDialContext_WrongPasswordRejected(t *testing.T) {
	srv, err := loopback.NewSOCKSServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.SetUsers(map[string]string{"alice": "right"})
	p := &socks.Proxy{Addr: srv.Addr, Username: "alice", Password: "wrong"}
	if _, err := p.DialContext(context.Background(), "tcp", "example.test:443"); err == nil || strings.Contains(err.Error(), "wrong") {
		t.Errorf("wrong password: %v", err)
	}
	if n := len(srv.Connects()); n != 0 {
		t.Errorf("%d CONNECTs after failed authentication", n)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"socks5h://127.0.0.1:9050", "socks5://u:p@[::1]:1080", "socks5h://%zz", "socks5h://a@b@c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := socks.Parse(s)
		if err != nil {
			return
		}
		if p.Password != "" && strings.Contains(p.String(), p.Password) && !strings.Contains(p.Addr, p.Password) {
			t.Errorf("String %q shows the password", p.String())
		}
	})
}

// FuzzParse_ErrorsHideThePassword: whatever surrounds it, a password in
// the URL (everything between the first ':' of the user information and
// the last '@') never shows in an error.
func FuzzParse_ErrorsHideThePassword(f *testing.F) {
	for _, s := range [][3]string{
		{"tor", "1234/", "127.0.0.1:9050"},
		{"tor", "12?x", "127.0.0.1:9050"},
		{"u", "#", "[::1]:1"},
		{"u", "", "h:1/p@q"},
		{"", "x", "127.0.0.1:9050"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	const marker = "Zq7PASSWORDq7Z"
	f.Fuzz(func(t *testing.T, user, pass, rest string) {
		raw := "socks5h://" + user + ":" + pass + marker + "@" + rest
		if strings.Count(raw, marker) != 1 {
			return
		}
		_, err := socks.Parse(raw)
		if err != nil && strings.Contains(err.Error(), marker) {
			t.Errorf("Parse(%q) error shows the password: %v", raw, err)
		}
	})
}

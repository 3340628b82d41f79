package serve

// This file checks the gateway settings of a configuration file: the
// [gateway] table and each domain's [domain.upstream] (G1-G4).

import (
	"crypto/x509"
	"fmt"
	"net/netip"
	"path/filepath"
	"time"
)

// The TOML shape of the gateway settings, as in examples/hacx-gateway.toml.
type fileGateway struct {
	PublicIPs        []string     `toml:"public-ips"`
	PublicPort       int64        `toml:"public-port"`
	XMPPSPort        int64        `toml:"xmpps-port"`
	QUICPort         int64        `toml:"quic-port"`
	MaxConns         *int64       `toml:"max-conns"`
	MaxConnsPerIP    *int64       `toml:"max-conns-per-ip"`
	HandshakeTimeout string       `toml:"handshake-timeout"`
	FirstByteTimeout string       `toml:"first-byte-timeout"`
	ConnectTimeout   string       `toml:"connect-timeout"`
	BOSHTimeout      string       `toml:"bosh-timeout"`
	IdleTimeout      fileIdleTime `toml:"idle-timeout"`
}

type fileIdleTime struct {
	C2S       string `toml:"c2s"`
	S2S       string `toml:"s2s"`
	WebSocket string `toml:"websocket"`
	HTTP      string `toml:"http"`
}

type fileUpstream struct {
	C2S           string `toml:"c2s"`
	S2S           string `toml:"s2s"`
	HTTP          string `toml:"http"`
	WebSocketPath string `toml:"websocket-path"`
	BOSHPath      string `toml:"bosh-path"`
	ProxyProtocol bool   `toml:"proxy-protocol"`
	CAFile        string `toml:"ca-file"`
}

func (c *checker) gateway(fg *fileGateway) Gateway {
	var g Gateway
	if fg == nil {
		return g
	}
	const key = "gateway"
	for i, s := range fg.PublicIPs {
		a, err := netip.ParseAddr(s)
		if err == nil {
			a = a.Unmap()
			err = checkPublicIP(a)
		} else {
			err = fmt.Errorf("%q is not an IPv4 or IPv6 address (records carry addresses, never names, A1)", s)
		}
		if err != nil {
			c.add(key+".public-ips", "G2", "entry %d: %v", i+1, err)
			continue
		}
		g.PublicIPs = append(g.PublicIPs, a)
	}
	port := func(k string, v int64) uint16 {
		if v < 0 || v > 65535 {
			c.add(key+"."+k, "G2", "port must be 1 to 65535, not %d", v)
			return 0
		}
		return uint16(v)
	}
	g.PublicPort = port("public-port", fg.PublicPort)
	g.XMPPSPort = port("xmpps-port", fg.XMPPSPort)
	g.QUICPort = port("quic-port", fg.QUICPort)
	limit := func(k string, v *int64) int {
		switch {
		case v == nil:
			return 0
		case *v == 0 || *v < -1 || *v > 1<<30:
			c.add(key+"."+k, "G4", "%s must be a positive number of connections, or -1 for no limit, not %d", k, *v)
			return 0
		}
		return int(*v)
	}
	g.MaxConns = limit("max-conns", fg.MaxConns)
	g.MaxConnsPerIP = limit("max-conns-per-ip", fg.MaxConnsPerIP)
	dur := func(k, v string, neverOK bool) time.Duration {
		if v == "" {
			return 0
		}
		if neverOK && v == "never" {
			return -1
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			hint := ""
			if neverOK {
				hint = `, or "never"`
			}
			c.add(key+"."+k, "G4", "%q is not a positive duration such as \"30s\" or \"10m\"%s", v, hint)
			return 0
		}
		return d
	}
	g.HandshakeTimeout = dur("handshake-timeout", fg.HandshakeTimeout, false)
	g.FirstByteTimeout = dur("first-byte-timeout", fg.FirstByteTimeout, false)
	g.ConnectTimeout = dur("connect-timeout", fg.ConnectTimeout, false)
	g.BOSHTimeout = dur("bosh-timeout", fg.BOSHTimeout, false)
	g.C2SIdleTimeout = dur("idle-timeout.c2s", fg.IdleTimeout.C2S, true)
	g.S2SIdleTimeout = dur("idle-timeout.s2s", fg.IdleTimeout.S2S, true)
	g.WebSocketIdleTimeout = dur("idle-timeout.websocket", fg.IdleTimeout.WebSocket, true)
	g.HTTPIdleTimeout = dur("idle-timeout.http", fg.IdleTimeout.HTTP, false)
	return g
}

func (c *checker) upstream(key string, fu *fileUpstream) *Upstream {
	u := &Upstream{
		C2S: fu.C2S, S2S: fu.S2S, HTTP: fu.HTTP,
		WebSocketPath: fu.WebSocketPath, BOSHPath: fu.BOSHPath,
		ProxyProtocol: fu.ProxyProtocol,
	}
	if u.C2S == "" && u.S2S == "" && u.HTTP == "" {
		c.add(key, "G1", "upstream has neither c2s, s2s nor http: nothing to forward")
	}
	encrypted := false
	for _, kv := range [][2]string{{"c2s", u.C2S}, {"s2s", u.S2S}} {
		if kv[1] == "" {
			continue
		}
		t, err := parseStreamTarget(kv[1])
		if err != nil {
			c.add(key+"."+kv[0], "G1", "%v", err)
		}
		encrypted = encrypted || t.tls
	}
	if u.HTTP != "" {
		hu, err := parseHTTPUpstream(u.HTTP)
		if err != nil {
			c.add(key+".http", "G1", "%v", err)
		} else {
			encrypted = encrypted || hu.Scheme == "https"
		}
	}
	for _, kv := range [][2]string{{"websocket-path", u.WebSocketPath}, {"bosh-path", u.BOSHPath}} {
		if kv[1] == "" {
			continue
		}
		if err := checkUpstreamPath(kv[1]); err != nil {
			c.add(key+"."+kv[0], "G1", "%v", err)
		}
	}
	if ws, bosh := u.paths(); ws == bosh {
		c.add(key+".bosh-path", "G1", "websocket-path and bosh-path are both %q", ws)
	}
	if u.ProxyProtocol && u.C2S == "" && u.S2S == "" {
		c.add(key+".proxy-protocol", "G3", "proxy-protocol applies to c2s and s2s upstreams, and there is neither (HTTP upstreams get X-Forwarded-For)")
	}
	if fu.CAFile != "" {
		if !encrypted {
			c.add(key+".ca-file", "G3", "ca-file verifies tls:// and https:// upstreams, and there is none")
		}
		path := fu.CAFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(c.dir, path)
		}
		data, err := readPEMFile(path)
		if err == nil {
			u.RootCAs = x509.NewCertPool()
			if !u.RootCAs.AppendCertsFromPEM(data) {
				err = fmt.Errorf("no PEM certificate in %s", path)
			}
		}
		if err != nil {
			c.add(key+".ca-file", "G3", "%v", err)
		}
	}
	return u
}

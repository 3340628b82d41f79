package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"hacx.dev/hacx"
)

func init() {
	register(&command{
		name:  "pin",
		args:  "FILE.pem|HOST:PORT [--hash sha-256,sha-512] [--sni NAME] [--json]",
		short: "print <public-key-pin/> elements for certificates or a live server",
		long: `Print a <public-key-pin/> element (rule A9) for every key in a PEM file
(certificate chain, public or private key), or for every certificate a TLS
server presents at HOST:PORT, leaf first. The server's chain is read, not
verified: check that you are talking to the right server.

Exit status: 0 pins printed, 2 bad usage or a file with no key, 1 the
server could not be reached.

--json prints [{"subject": ..., "spki": base64 DER, "pins": {"sha-256": base64 ...},
"element": "<public-key-pin .../>"}], leaf first.`,
		run: runPin,
	})
}

type pinJSON struct {
	Subject string            `json:"subject"`
	SPKI    string            `json:"spki"`
	Pins    map[string]string `json:"pins"`
	Element string            `json:"element"`
}

func runPin(ctx context.Context, sio *stdio, args []string) error {
	fs := newFlags(commands["pin"], sio)
	hashes := fs.String("hash", "sha-256", "comma-separated IANA hash `names`")
	sni := fs.String("sni", "", "server `name` to send (default: the host, unless it is an IP)")
	asJSON := fs.Bool("json", false, "print JSON")
	timeout := fs.Duration("timeout", 10*time.Second, "give up on the server after this `duration`")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("need one FILE.pem or HOST:PORT")
	}
	var names []string
	for _, h := range strings.Split(*hashes, ",") {
		if h = strings.TrimSpace(h); h != "" {
			if info := hacx.LookupHash(h); info == nil || info.Weak {
				return usagef("--hash: %q is not a usable IANA hash name (sha-256, sha-384, sha-512...)", h)
			}
			names = append(names, h)
		}
	}
	if len(names) == 0 {
		return usagef("--hash: no hash name given")
	}
	var kps []hacx.KeyPin
	if data, ferr := os.ReadFile(pos[0]); ferr == nil {
		if kps, err = hacx.PinsFromPEM(data, names...); err != nil {
			// "hacx pin: FILE: what is wrong": the file goes where the
			// package name would, which the command's prefix replaces.
			return exitErr(exitUsage, fmt.Errorf("%s: %s", pos[0], strings.TrimPrefix(err.Error(), "hacx: ")))
		}
	} else if _, _, serr := net.SplitHostPort(pos[0]); serr == nil {
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		if kps, err = pinsFromTLS(ctx, pos[0], *sni, names...); err != nil {
			return err
		}
	} else {
		return usagef("%q is neither a readable file nor HOST:PORT (%v)", pos[0], ferr)
	}
	if *asJSON {
		out := make([]pinJSON, 0, len(kps))
		for _, k := range kps {
			j := pinJSON{Subject: k.Subject, SPKI: base64.StdEncoding.EncodeToString(k.SPKI), Pins: map[string]string{}, Element: k.Pin.Element()}
			for _, d := range k.Pin.Digests {
				j.Pins[d.Hash] = hacx.EncodeDigest(d.Value)
			}
			out = append(out, j)
		}
		return writeJSON(sio.out, out)
	}
	for _, k := range kps {
		// The subject goes in a comment so the line pastes into a document;
		// "--" may not appear inside an XML comment.
		fmt.Fprintf(sio.out, "%s <!-- %s -->\n", k.Pin.Element(), strings.ReplaceAll(k.Subject, "--", "- -"))
	}
	return nil
}

// pinsFromTLS connects to addr (host:port), completes a TLS handshake and
// returns a pin for every certificate the server presents, leaf first. The
// chain is not verified: the point is to read keys, including those of
// self-signed servers that only pins will authenticate (A9). sni is sent
// when set; otherwise the host, unless it is an IP literal (A5).
func pinsFromTLS(ctx context.Context, addr, sni string, hashNames ...string) ([]hacx.KeyPin, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if sni == "" {
		if _, err := netip.ParseAddr(host); err != nil {
			sni = host
		}
	}
	d := tls.Dialer{Config: &tls.Config{
		ServerName:         sni,
		InsecureSkipVerify: true, // reading keys, not trusting them
	}}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	defer c.Close()
	certs := c.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s presented no certificate", addr)
	}
	return hacx.PinsFromCerts(certs, hashNames...)
}

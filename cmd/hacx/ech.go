package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"hacx.dev/hacx/ech"
)

func init() {
	register(&command{
		name:  "ech",
		args:  "keygen --public-name NAME --out FILE [--force] [--json]",
		short: "make an Encrypted Client Hello key file and print its ECHConfigList",
		long: `keygen makes an Encrypted Client Hello key (rule E4): an X25519 key with
HKDF-SHA256 and AES-128-GCM (RFC 9180) and its ECHConfig, whose public name
NAME is the only server name an observer sees (the outer ClientHello's SNI;
the server must hold a certificate for it, as a rejection is only believed
from NAME's certificate). The key file (PEM: the private key as PKCS #8,
the configuration as ECHCONFIG) is written atomically with mode 0600; an
existing file is kept unless --force.

On stdout: the base64 ECHConfigList to publish, as the ech attribute of
<tls>, <websocket> and <bosh> records or the ech of Host Meta 2 links. Give
the file to "hacx serve --ech-key" (repeatable: during a key rotation every
file is accepted and only the newest one is sent to clients as the retry
configuration, so publish the newest).

--json prints {"file": FILE, "public_name": NAME, "config_id": N, "ech": base64}.

Exit status: 0 written, 2 bad usage or an invalid NAME, 1 the file could not
be written.`,
		run: runECH,
	})
}

type echKeygenJSON struct {
	File       string `json:"file"`
	PublicName string `json:"public_name"`
	ConfigID   uint8  `json:"config_id"`
	ECH        string `json:"ech"`
}

func runECH(ctx context.Context, sio *stdio, args []string) error {
	fset := newFlags(commands["ech"], sio)
	name := fset.String("public-name", "", "the outer ClientHello's server `name` (a DNS name the server has a certificate for)")
	out := fset.String("out", "", "write the key to `FILE`")
	force := fset.Bool("force", false, "replace FILE if it exists")
	asJSON := fset.Bool("json", false, "print JSON")
	pos, err := parseFlags(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] != "keygen" {
		return usagef("want: hacx ech keygen --public-name NAME --out FILE")
	}
	if *name == "" || *out == "" {
		return usagef("keygen needs --public-name and --out")
	}
	k, err := ech.GenerateKey(strings.TrimSuffix(*name, "."))
	if err != nil {
		return exitErr(exitUsage, errors.New(strings.TrimPrefix(err.Error(), "ech: ")))
	}
	if !*force {
		if _, err := os.Lstat(*out); err == nil {
			return exitErr(exitFail, fmt.Errorf("%s exists (a key in use?); give --force to replace it", *out))
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := k.WriteFile(*out); err != nil {
		return err
	}
	list := base64.StdEncoding.EncodeToString(k.ConfigList())
	if *asJSON {
		enc := json.NewEncoder(sio.out)
		enc.SetIndent("", "  ")
		return enc.Encode(echKeygenJSON{File: *out, PublicName: k.Config.PublicName, ConfigID: k.Config.ConfigID, ECH: list})
	}
	fmt.Fprintln(sio.out, list)
	return nil
}

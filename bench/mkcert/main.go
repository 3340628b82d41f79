// Command mkcert writes a test CA and a certificate for the given names,
// for the benchmark servers: DIR/ca.pem, DIR/cert.pem (chain) and
// DIR/key.pem. The CA lives only in these files; trust it nowhere else.
//
//	go run ./bench/mkcert -out DIR example.test
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"hacx.dev/hacx/hacxtest"
)

func main() {
	out := flag.String("out", ".", "directory to write ca.pem, cert.pem and key.pem into")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: mkcert -out DIR NAME...")
		os.Exit(2)
	}
	if err := run(*out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "mkcert:", err)
		os.Exit(1)
	}
}

func run(dir string, names []string) error {
	ca, err := hacxtest.NewCAWithIntermediate("bench")
	if err != nil {
		return err
	}
	cert, err := ca.Issue(names...)
	if err != nil {
		return err
	}
	chain, key, err := hacxtest.CertPEM(cert)
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{"ca.pem": ca.PEM(), "cert.pem": chain, "key.pem": key} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

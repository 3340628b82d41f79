package serve

// This file reads configuration files: the TOML shape of
// examples/hacx.toml, decoding, and the files pins may name. What the
// decoded values must satisfy is checked in check.go.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// The TOML shape. Field names are the documented keys of examples/hacx.toml.
type fileConfig struct {
	TrustedProxies []string     `toml:"trusted-proxies"`
	ClientIPHeader string       `toml:"client-ip-header"`
	Gateway        *fileGateway `toml:"gateway"`
	ECHKeys        []string     `toml:"ech-keys"`
	Domains        []fileDomain `toml:"domain"`
}

type fileDomain struct {
	Name     string        `toml:"name"`
	TTL      *int64        `toml:"ttl"`
	CORS     *bool         `toml:"cors"`
	HostMeta *bool         `toml:"host-meta"`
	Redirect fileRedirect  `toml:"redirect"`
	HSTS     *fileHSTS     `toml:"hsts"`
	HPKP     *fileHPKP     `toml:"hpkp"`
	Client   []fileRecord  `toml:"client"`
	Server   []fileRecord  `toml:"server"`
	Variants []fileVariant `toml:"variant"`
	Upstream *fileUpstream `toml:"upstream"`
}

type fileRedirect struct {
	Client string `toml:"client"`
	Server string `toml:"server"`
}

type fileHSTS struct {
	MaxAge            *int64 `toml:"max-age"`
	IncludeSubDomains bool   `toml:"include-subdomains"`
}

type fileHPKP struct {
	Pins              []string `toml:"pins"`
	MaxAge            int64    `toml:"max-age"`
	IncludeSubDomains bool     `toml:"include-subdomains"`
	ReportURI         string   `toml:"report-uri"`
}

type fileVariant struct {
	Name   string       `toml:"name"`
	CIDRs  []string     `toml:"cidrs"`
	TTL    *int64       `toml:"ttl"`
	Client []fileRecord `toml:"client"`
	Server []fileRecord `toml:"server"`
}

type fileRecord struct {
	Method   string   `toml:"method"`
	IP       string   `toml:"ip"`
	Port     int64    `toml:"port"`
	Priority int64    `toml:"priority"`
	Weight   int64    `toml:"weight"`
	SNI      *string  `toml:"sni"`
	ALPN     *string  `toml:"alpn"`
	URL      string   `toml:"url"`
	Pins     []string `toml:"pins"`
	ECH      string   `toml:"ech"`
}

// maxConfigSize bounds what LoadConfig reads: a configuration is written by
// hand and a huge file is a mistake.
const maxConfigSize = 4 << 20

// LoadConfig reads and validates a TOML configuration file (see
// examples/hacx.toml). Relative pin file paths are resolved against the
// file's directory. Any problem gives a *ConfigError listing all of them.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	cfg, err := ParseConfig(data, filepath.Dir(path))
	var ce *ConfigError
	if errors.As(err, &ce) {
		ce.File = path
	}
	if cfg != nil {
		cfg.file = path
	}
	return cfg, err
}

// ParseConfig is LoadConfig on data; dir resolves relative pin file paths.
func ParseConfig(data []byte, dir string) (*Config, error) {
	if len(data) > maxConfigSize {
		return nil, &ConfigError{Problems: []ConfigProblem{{Msg: fmt.Sprintf("file is larger than %d bytes", maxConfigSize)}}}
	}
	var fc fileConfig
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&fc)
	if err != nil {
		return nil, &ConfigError{Problems: []ConfigProblem{tomlProblem(err)}}
	}
	c := &checker{loc: newLocator(string(data)), dir: dir}
	for _, k := range md.Undecoded() {
		c.addLine(c.loc.lineAny(k.String()), k.String(), "", "unknown setting (misspelt, or in the wrong table?)")
	}
	cfg := c.config(&fc)
	if len(c.problems) > 0 {
		sort.SliceStable(c.problems, func(i, j int) bool { return c.problems[i].Line < c.problems[j].Line })
		return nil, &ConfigError{Problems: c.problems}
	}
	return cfg, nil
}

func tomlProblem(err error) ConfigProblem {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return ConfigProblem{Line: pe.Position.Line, Key: pe.LastKey, Msg: "not valid TOML: " + pe.Message}
	}
	msg := strings.TrimPrefix(err.Error(), "toml: ")
	// Type mismatches come as "line N (last key "k"): ..." without a
	// structured position.
	line := 0
	if strings.HasPrefix(msg, "line ") {
		rest := msg[len("line "):]
		if i := strings.IndexAny(rest, " :"); i > 0 {
			line, _ = strconv.Atoi(rest[:i])
		}
	}
	return ConfigProblem{Line: line, Msg: "wrong type: " + msg}
}

// maxPEMSize bounds a pin file: certificate chains are a few KiB.
const maxPEMSize = 1 << 20

// readPEMFile reads a regular file of at most maxPEMSize bytes, so that a
// pin naming /dev/zero or a FIFO cannot hang loading.
func readPEMFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxPEMSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxPEMSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxPEMSize)
	}
	return data, nil
}

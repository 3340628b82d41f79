package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"hacx.dev/hacx"
)

// The configuration file of hacx exporter (--config): the targets it may
// probe and the probe modules. examples/exporter.toml documents every key.

// exporterFile is the TOML shape.
type exporterFile struct {
	Targets []string                `toml:"targets"`
	Modules map[string]exporterFMod `toml:"module"`
}

type exporterFMod struct {
	Kind             string   `toml:"kind"`
	Timeout          string   `toml:"timeout"`
	FetchTimeout     string   `toml:"fetch-timeout"`
	ConnectTimeout   string   `toml:"connect-timeout"`
	HandshakeTimeout string   `toml:"handshake-timeout"`
	StreamTimeout    string   `toml:"stream-timeout"`
	Methods          []string `toml:"methods"`
	Resolver         string   `toml:"resolver"`
	All              *bool    `toml:"all"`
	Audit            bool     `toml:"audit"`
	Cache            bool     `toml:"cache"`
}

// probeModule is one way of probing, chosen with &module=NAME.
type probeModule struct {
	Name string
	Kind hacx.Kind
	// Timeout bounds the whole probe (lookup, dials, audit), and is
	// lowered to fit Prometheus' scrape timeout.
	Timeout time.Duration
	// FetchTimeout, ConnectTimeout, HandshakeTimeout and StreamTimeout
	// are the discover.Resolver's and dial.Dialer's; 0 means theirs.
	FetchTimeout, ConnectTimeout, HandshakeTimeout, StreamTimeout time.Duration
	// Methods restricts the methods tried (C1); empty means all.
	Methods []hacx.Method
	// Resolver is the DNS server (IP:PORT), "" for --resolver or the
	// system's.
	Resolver string
	// All tries every route (hacx_route_up for each), not only until one
	// works.
	All bool
	// Audit adds the findings of hacx check --audit.
	Audit bool
	// Cache keeps documents between probes for their ttl, as a client
	// does (H5): a probe within the ttl fetches nothing, and one whose
	// refetch fails uses the stale copy (hacx_source_fresh 0). Without
	// it every probe fetches anew.
	Cache bool
}

// defaultProbeTimeout bounds a probe whose module names no timeout.
const defaultProbeTimeout = 20 * time.Second

// defaultModule is the module of a probe that names none, and the only one
// without a configuration file: client-to-server, every route tried.
func defaultModule() *probeModule {
	return &probeModule{Name: "default", Kind: hacx.Client, Timeout: defaultProbeTimeout, All: true}
}

// exporterConfig is a loaded configuration.
type exporterConfig struct {
	// Targets are the domains that may be probed (lower case); nil means
	// none, unless --any-target.
	Targets []string
	Modules map[string]*probeModule
}

// probeMethods are the methods a module may name.
var probeMethods = []hacx.Method{hacx.MethodTLS, hacx.MethodStartTLS, hacx.MethodWebSocket, hacx.MethodBOSH}

// loadExporterConfig reads file; "" gives the default module and no target.
// Every problem is reported, one per line.
func loadExporterConfig(file string) (*exporterConfig, error) {
	cfg := &exporterConfig{Modules: map[string]*probeModule{"default": defaultModule()}}
	if file == "" {
		return cfg, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	c, err := parseExporterConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return c, nil
}

func parseExporterConfig(data []byte) (*exporterConfig, error) {
	var f exporterFile
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&f)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("line %d: not valid TOML: %s", pe.Position.Line, pe.Message)
		}
		return nil, errors.New(strings.TrimPrefix(err.Error(), "toml: "))
	}
	var problems []string
	for _, k := range md.Undecoded() {
		problems = append(problems, k.String()+": unknown setting (misspelt, or in the wrong table?)")
	}
	cfg := &exporterConfig{Modules: map[string]*probeModule{}}
	for i, t := range f.Targets {
		d := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(t), "."))
		if err := domainArg(d); err != nil || d == "" || strings.ContainsAny(d, " /:@") {
			problems = append(problems, fmt.Sprintf("targets[%d]: %q is not a domain", i, t))
			continue
		}
		cfg.Targets = append(cfg.Targets, d)
	}
	names := make([]string, 0, len(f.Modules))
	for n := range f.Modules {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		fm := f.Modules[name]
		m := &probeModule{Name: name, Kind: hacx.Client, Timeout: defaultProbeTimeout, All: true, Audit: fm.Audit, Cache: fm.Cache}
		at := func(key string) string { return "module." + name + "." + key }
		switch fm.Kind {
		case "", "client":
		case "server":
			m.Kind = hacx.Server
		default:
			problems = append(problems, fmt.Sprintf("%s: %q is neither \"client\" nor \"server\"", at("kind"), fm.Kind))
		}
		for _, d := range []struct {
			key string
			v   string
			to  *time.Duration
		}{{"timeout", fm.Timeout, &m.Timeout}, {"fetch-timeout", fm.FetchTimeout, &m.FetchTimeout},
			{"connect-timeout", fm.ConnectTimeout, &m.ConnectTimeout}, {"handshake-timeout", fm.HandshakeTimeout, &m.HandshakeTimeout},
			{"stream-timeout", fm.StreamTimeout, &m.StreamTimeout}} {
			if d.v == "" {
				continue
			}
			v, err := time.ParseDuration(d.v)
			if err != nil || v <= 0 {
				problems = append(problems, fmt.Sprintf("%s: %q is not a positive duration such as \"5s\"", at(d.key), d.v))
				continue
			}
			*d.to = v
		}
		for _, s := range fm.Methods {
			meth := hacx.Method(strings.ToLower(s))
			if !slices.Contains(probeMethods, meth) {
				problems = append(problems, fmt.Sprintf("%s: unknown method %q (tls, starttls, websocket, bosh)", at("methods"), s))
				continue
			}
			m.Methods = append(m.Methods, meth)
		}
		if fm.Resolver != "" {
			r, err := parseResolver(fm.Resolver)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", at("resolver"), err))
			}
			m.Resolver = r
		}
		if fm.All != nil {
			m.All = *fm.All
		}
		cfg.Modules[name] = m
	}
	if _, ok := cfg.Modules["default"]; !ok {
		cfg.Modules["default"] = defaultModule()
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	return cfg, nil
}

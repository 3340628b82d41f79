package serve

// This file holds the error LoadConfig and ParseConfig return: every
// problem of a configuration, each located by line.

import (
	"fmt"
	"strings"
)

// ConfigError lists everything wrong with a configuration file, each
// problem located by line so that an operator can fix them all in one go.
type ConfigError struct {
	File     string // path as given, or "" for in-memory data
	Problems []ConfigProblem
}

// ConfigProblem is one thing wrong in a configuration file.
type ConfigProblem struct {
	Line int    // 1-based; 0 when unknown
	Key  string // the setting, e.g. "domain[0].client[1].port"; may be empty
	Rule string // rule ID such as "P2", when the problem breaks one
	Msg  string
}

func (p ConfigProblem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Msg)
	if p.Rule != "" {
		fmt.Fprintf(&b, " [%s]", p.Rule)
	}
	return b.String()
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	name := e.File
	if name == "" {
		name = "config"
	}
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString("serve: " + name + ": " + p.String())
	}
	return b.String()
}

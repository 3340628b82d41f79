package serve

import (
	"strconv"
	"strings"
)

// locator maps TOML key paths to the line that defines them. The TOML
// decoder knows key positions but keys them without array indexes, so every
// [[domain.client]] entry would share one position; operators need the line
// of the entry that is wrong, so we index the source ourselves. The input has
// already parsed as TOML, so a line-oriented scan is enough: it only has to
// find table headers and "key =" lines.
type locator struct {
	lines map[string]int // "domain[1].client[0].ip" -> line
}

func newLocator(src string) *locator {
	l := &locator{lines: map[string]int{}}
	counts := map[string]int{} // instance path of an array of tables -> entries so far
	cur := ""                  // instance path of the current table
	depth := 0                 // open brackets of a multi-line array value
	inMulti := ""              // closing delimiter of a multi-line string
	for i, line := range strings.Split(src, "\n") {
		n := i + 1
		t := strings.TrimSpace(line)
		if inMulti != "" {
			if strings.Contains(t, inMulti) {
				inMulti = ""
			}
			continue
		}
		if depth > 0 {
			depth += bracketDelta(t)
			continue
		}
		if t == "" || t[0] == '#' {
			continue
		}
		if strings.HasPrefix(t, "[[") {
			name := headerName(t[2:], "]]")
			parent, last := splitParent(name)
			base := l.instance(cur, parent)
			key := joinPath(base, last)
			idx := counts[key]
			counts[key] = idx + 1
			cur = key + "[" + strconv.Itoa(idx) + "]"
			l.lines[cur] = n
			continue
		}
		if t[0] == '[' {
			name := headerName(t[1:], "]")
			parent, last := splitParent(name)
			cur = joinPath(l.instance(cur, parent), last)
			l.lines[cur] = n
			continue
		}
		eq := strings.IndexByte(t, '=')
		if eq <= 0 {
			continue
		}
		key := unquoteKey(strings.TrimSpace(t[:eq]))
		l.lines[joinPath(cur, key)] = n
		val := strings.TrimSpace(t[eq+1:])
		switch {
		case strings.HasPrefix(val, `"""`) && strings.Count(val, `"""`) == 1:
			inMulti = `"""`
		case strings.HasPrefix(val, `'''`) && strings.Count(val, `'''`) == 1:
			inMulti = `'''`
		case strings.HasPrefix(val, "["):
			depth = bracketDelta(val)
		}
	}
	return l
}

// instance resolves a header's parent path ("domain") to the instance it
// refers to ("domain[2]"), using the current table path: in TOML a
// sub-table header always belongs to the latest entry of its parent array.
func (l *locator) instance(cur, parent string) string {
	if parent == "" {
		return ""
	}
	// Walk cur's components; keep those that match parent's components.
	want := strings.Split(parent, ".")
	var out []string
	parts := splitInstance(cur)
	for i, w := range want {
		if i < len(parts) && stripIndex(parts[i]) == w {
			out = append(out, parts[i])
			continue
		}
		out = append(out, w)
	}
	return strings.Join(out, ".")
}

// line returns the line of path, or of its closest defined ancestor; 0 when
// nothing is known.
func (l *locator) line(path string) int {
	if l == nil {
		return 0
	}
	for path != "" {
		if n, ok := l.lines[path]; ok {
			return n
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// lineAny finds a key path given without indexes ("domain.client.prot", as
// the decoder reports undecoded keys): the first matching line.
func (l *locator) lineAny(plain string) int {
	best := 0
	for k, n := range l.lines {
		if stripAllIndexes(k) == plain && (best == 0 || n < best) {
			best = n
		}
	}
	return best
}

func headerName(s, closing string) string {
	if i := strings.Index(s, closing); i >= 0 {
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	for i, p := range parts {
		parts[i] = unquoteKey(strings.TrimSpace(p))
	}
	return strings.Join(parts, ".")
}

func unquoteKey(k string) string {
	if len(k) >= 2 && (k[0] == '"' || k[0] == '\'') && k[len(k)-1] == k[0] {
		return k[1 : len(k)-1]
	}
	return k
}

func splitParent(name string) (parent, last string) {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[:i], name[i+1:]
	}
	return "", name
}

func joinPath(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

func splitInstance(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, ".")
}

func stripIndex(s string) string {
	if i := strings.IndexByte(s, '['); i >= 0 {
		return s[:i]
	}
	return s
}

func stripAllIndexes(p string) string {
	parts := strings.Split(p, ".")
	for i := range parts {
		parts[i] = stripIndex(parts[i])
	}
	return strings.Join(parts, ".")
}

// bracketDelta counts [ minus ] outside strings, enough to follow a
// multi-line array.
func bracketDelta(s string) int {
	d := 0
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == '\\' && q == '"' {
				i++
			} else if c == q {
				q = 0
			}
		case c == '"' || c == '\'':
			q = c
		case c == '#':
			return d
		case c == '[':
			d++
		case c == ']':
			d--
		}
	}
	return d
}

// Package docs holds the project's reference documents; its test keeps
// RULES.md complete: every rule ID cited anywhere in the repository is
// defined there, with its source.
package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// ruleDef is a definition in RULES.md: "- **A5** text", optionally
// "**A5 Decision**".
var ruleDef = regexp.MustCompile(`(?m)^- \*\*([A-Z][0-9]+)[ *]`)

// definedRules returns each rule defined in RULES.md with its text, up to
// the next rule or heading.
func definedRules(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile("RULES.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	defs := map[string]string{}
	locs := ruleDef.FindAllStringSubmatchIndex(text, -1)
	for i, l := range locs {
		end := len(text)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		if h := strings.Index(text[l[0]:end], "\n#"); h >= 0 {
			end = l[0] + h
		}
		id := text[l[2]:l[3]]
		if _, dup := defs[id]; dup {
			t.Errorf("RULES.md defines %s twice", id)
		}
		defs[id] = text[l[0]:end]
	}
	return defs
}

// citedRules finds rule IDs (a letter the rules use, one or two digits)
// in text, skipping ones inside longer words or base64 (a pin such as
// "...+A1/..." is not a citation); an underscore separates, as in test
// names ending in _H3.
func citedRules(text string) []string {
	var ids []string
	isWord := func(c byte) bool {
		return c == '+' || c == '/' || c == '=' ||
			'0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
	}
	for i := 0; i < len(text); i++ {
		if !strings.ContainsRune("HEACPXTSFQDG", rune(text[i])) || i > 0 && isWord(text[i-1]) {
			continue
		}
		j := i + 1
		for j < len(text) && j-i <= 3 && '0' <= text[j] && text[j] <= '9' {
			j++
		}
		if j == i+1 || j-i > 3 || j < len(text) && isWord(text[j]) {
			continue
		}
		ids = append(ids, text[i:j])
	}
	return ids
}

// notRules look like rule IDs and are something else.
var notRules = map[string]bool{
	"P50": true, "P90": true, "P95": true, "P99": true, // latency percentiles
	"X86": true, // the CPU (elf.EM_X86_64)
}

func TestCitedRules(t *testing.T) {
	got := citedRules("rules A5-A10, (C4) [E3] TestX_H3 sha-256=ab+A1/cd X509 H12x P256 G1.")
	want := []string{"A5", "A10", "C4", "E3", "H3", "G1"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestRules_EveryCitedRuleIsDefined: each rule ID in the code, tests,
// help texts and documents of the repository has a definition in
// RULES.md, and each definition names its source.
func TestRules_EveryCitedRuleIsDefined(t *testing.T) {
	defs := definedRules(t)
	if len(defs) < 40 {
		t.Fatalf("RULES.md defines only %d rules", len(defs))
	}
	for id, text := range defs {
		if !strings.Contains(text, "*Source: ") {
			t.Errorf("RULES.md: %s names no source", id)
		}
	}

	where := map[string][]string{} // undefined ID -> files citing it
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name != ".." && (strings.HasPrefix(name, ".") || name == "dist") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".go", ".md", ".toml", ".sh", ".xml", ".service", ".yaml", ".txt":
		default:
			return nil
		}
		if path == filepath.Join("..", "docs", "RULES.md") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, id := range citedRules(string(data)) {
			if _, ok := defs[id]; !ok && !notRules[id] {
				where[id] = append(where[id], path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for id := range where {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		t.Errorf("%s is cited but not defined in docs/RULES.md (in %s)", id, strings.Join(dedup(where[id]), ", "))
	}
}

func dedup(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// TestRules_Linked: README.md and every package's doc.go point readers
// at docs/RULES.md.
func TestRules_Linked(t *testing.T) {
	docs, err := filepath.Glob("../*/doc.go")
	if err != nil {
		t.Fatal(err)
	}
	files := append([]string{"../README.md", "../doc.go"}, docs...)
	if len(files) < 10 {
		t.Fatalf("only %d files to check: %v", len(files), files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Error(err)
			continue
		}
		if !strings.Contains(string(data), "docs/RULES.md") {
			t.Errorf("%s does not link docs/RULES.md", f)
		}
	}
}

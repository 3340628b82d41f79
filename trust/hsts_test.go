package trust

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseHSTS_X5(t *testing.T) {
	const year = 31536000 * time.Second
	tests := []struct {
		header string
		want   HSTSPolicy
		bad    string // substring of the error reason; "" = valid
	}{
		// RFC 6797 §6.2 examples.
		{"max-age=31536000", HSTSPolicy{MaxAge: year}, ""},
		{"max-age=15768000 ; includeSubDomains", HSTSPolicy{MaxAge: 15768000 * time.Second, IncludeSubDomains: true}, ""},
		// §6.1.1: max-age may be quoted.
		{`max-age="31536000"`, HSTSPolicy{MaxAge: year}, ""},
		{`max-age="31536000"; includeSubDomains`, HSTSPolicy{MaxAge: year, IncludeSubDomains: true}, ""},
		// §6.1 rule 1: directive names are case-insensitive.
		{"MAX-AGE=5; INCLUDESUBDOMAINS", HSTSPolicy{MaxAge: 5 * time.Second, IncludeSubDomains: true}, ""},
		{"Max-Age=5;IncludeSubdomains", HSTSPolicy{MaxAge: 5 * time.Second, IncludeSubDomains: true}, ""},
		// order does not matter; implied LWS around tokens and separators.
		{"includeSubDomains; max-age=5", HSTSPolicy{MaxAge: 5 * time.Second, IncludeSubDomains: true}, ""},
		{"  max-age = 5 ;\tincludeSubDomains  ", HSTSPolicy{MaxAge: 5 * time.Second, IncludeSubDomains: true}, ""},
		// the grammar allows empty directives.
		{"max-age=5;;", HSTSPolicy{MaxAge: 5 * time.Second}, ""},
		{";max-age=5", HSTSPolicy{MaxAge: 5 * time.Second}, ""},
		// max-age=0: "cease to regard the host as a Known HSTS Host".
		{"max-age=0", HSTSPolicy{}, ""},
		{"max-age=007", HSTSPolicy{MaxAge: 7 * time.Second}, ""},
		// §6.1 rule 4: unknown directives are ignored, with any valid value.
		{"max-age=5; preload", HSTSPolicy{MaxAge: 5 * time.Second}, ""},
		{`max-age=5; foo=bar; baz="a;b=c"`, HSTSPolicy{MaxAge: 5 * time.Second}, ""},
		{`max-age=5; foo="a\"b\\"`, HSTSPolicy{MaxAge: 5 * time.Second}, ""},
		// delta-seconds overflow is capped (RFC 2616 §14.6), not an error.
		{"max-age=99999999999999999999999", HSTSPolicy{MaxAge: maxDeltaSeconds * time.Second}, ""},

		// §6.1 rule 3: max-age is required.
		{"", HSTSPolicy{}, "missing max-age"},
		{"includeSubDomains", HSTSPolicy{}, "missing max-age"},
		{"   ;  ", HSTSPolicy{}, "missing max-age"},
		// §6.1 rule 2: each directive once, case-insensitively.
		{"max-age=5; max-age=6", HSTSPolicy{}, "more than once"},
		{"max-age=5; MAX-AGE=5", HSTSPolicy{}, "more than once"},
		{"max-age=5; includeSubDomains; includesubdomains", HSTSPolicy{}, "more than once"},
		{"max-age=5; foo; foo", HSTSPolicy{}, "more than once"},
		// delta-seconds = 1*DIGIT.
		{"max-age=-1", HSTSPolicy{}, "delta-seconds"},
		{"max-age=1.5", HSTSPolicy{}, "delta-seconds"},
		{"max-age=+5", HSTSPolicy{}, "delta-seconds"},
		{"max-age=0x10", HSTSPolicy{}, "delta-seconds"},
		{`max-age=""`, HSTSPolicy{}, "delta-seconds"},
		{`max-age=" 5"`, HSTSPolicy{}, "delta-seconds"},
		{"max-age", HSTSPolicy{}, "delta-seconds"},
		{"max-age=", HSTSPolicy{}, "empty value"},
		{"max-age=5 6", HSTSPolicy{}, "unexpected"},
		// §6.1.2: includeSubDomains is valueless.
		{"max-age=5; includeSubDomains=true", HSTSPolicy{}, "takes no value"},
		{`max-age=5; includeSubDomains=""`, HSTSPolicy{}, "takes no value"},
		// grammar errors.
		{"max-age=5, includeSubDomains", HSTSPolicy{}, "unexpected"},
		{`max-age="5`, HSTSPolicy{}, "quoted-string"},
		{`max-age=5; foo="a\`, HSTSPolicy{}, "quoted-string"},
		{"max-age=5; foo=\"a\x01\"", HSTSPolicy{}, "quoted-string"},
		{"max-age=5; =x", HSTSPolicy{}, "unexpected"},
		{"max-age=5; fo(o", HSTSPolicy{}, "unexpected"},
		{"max-age=5; föo", HSTSPolicy{}, "unexpected"},
		{"max-age=5\x00", HSTSPolicy{}, "unexpected"},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			got, err := ParseHSTS(tt.header)
			if tt.bad == "" {
				if err != nil {
					t.Fatalf("ParseHSTS(%q): %v", tt.header, err)
				}
				if got != tt.want {
					t.Fatalf("ParseHSTS(%q) = %+v, want %+v", tt.header, got, tt.want)
				}
				return
			}
			var he *HeaderError
			if !errors.As(err, &he) {
				t.Fatalf("ParseHSTS(%q) = %+v, %v; want *HeaderError", tt.header, got, err)
			}
			if he.Header != "Strict-Transport-Security" || !strings.Contains(he.Reason, tt.bad) {
				t.Errorf("error %q, want reason containing %q", err, tt.bad)
			}
		})
	}
}

func TestHSTSStore_KnownAndSubdomains_X5(t *testing.T) {
	clk := newClock()
	s := &HSTSStore{Now: clk.Now}
	mustObserve := func(host, h string) {
		t.Helper()
		if err := s.Observe(host, h); err != nil {
			t.Fatalf("Observe(%q, %q): %v", host, h, err)
		}
	}
	mustObserve("example.org", "max-age=3600; includeSubDomains")
	mustObserve("plain.example.net", "max-age=3600")
	tests := []struct {
		host string
		want bool
	}{
		{"example.org", true},
		{"EXAMPLE.ORG.", true},           // case and trailing dot normalized
		{"example.org:443", true},        // port ignored
		{"chat.example.org", true},       // superdomain match with includeSubDomains (RFC 6797 §8.2)
		{"a.b.chat.example.org", true},   // at any depth
		{"badexample.org", false},        // label boundary
		{"org", false},                   // parents are not covered
		{"plain.example.net", true},      // congruent match
		{"sub.plain.example.net", false}, // no includeSubDomains
		{"example.net", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := s.Known(tt.host); got != tt.want {
			t.Errorf("Known(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

func TestHSTSStore_Lifecycle_X5(t *testing.T) {
	clk := newClock()
	s := &HSTSStore{Now: clk.Now}
	if err := s.Observe("example.org", "max-age=60; includeSubDomains"); err != nil {
		t.Fatal(err)
	}
	// RFC 6797 §8.1.1: a later header replaces both values.
	if err := s.Observe("example.org", "max-age=120"); err != nil {
		t.Fatal(err)
	}
	if s.Known("sub.example.org") {
		t.Error("includeSubDomains kept after a header without it")
	}
	clk.Advance(119 * time.Second)
	if !s.Known("example.org") {
		t.Error("expired 1 s early")
	}
	clk.Advance(time.Second)
	if s.Known("example.org") {
		t.Error("still known at expiry")
	}
	// max-age=0 deletes.
	if err := s.Observe("example.org", "max-age=600"); err != nil {
		t.Fatal(err)
	}
	if err := s.Observe("example.org", "max-age=0"); err != nil {
		t.Fatal(err)
	}
	if s.Known("example.org") {
		t.Error("max-age=0 did not delete the host")
	}
	// An invalid header is ignored: the stored policy stays.
	if err := s.Observe("example.org", "max-age=600"); err != nil {
		t.Fatal(err)
	}
	var he *HeaderError
	if err := s.Observe("example.org", "max-age=0; max-age=0"); !errors.As(err, &he) {
		t.Fatalf("invalid header: err = %v, want *HeaderError", err)
	}
	if !s.Known("example.org") {
		t.Error("an invalid header changed the store")
	}
}

func TestHSTSStore_IPLiteralsIgnored_X5(t *testing.T) {
	s := &HSTSStore{}
	for _, h := range []string{"192.0.2.1", "[2001:db8::1]", "2001:db8::1", "192.0.2.1:443", "[2001:db8::1]:443", "fe80::1%eth0"} {
		if err := s.Observe(h, "max-age=600; includeSubDomains"); err != nil {
			t.Errorf("Observe(%q): %v", h, err)
		}
		if s.Known(h) {
			t.Errorf("IP literal %q became a Known HSTS Host (RFC 6797 §8.1)", h)
		}
	}
	if s.Known("0.2.1") || s.Known("1") {
		t.Error("an IP literal's labels leaked into the store")
	}
}

func TestHSTSStore_Upgrade_X5(t *testing.T) {
	s := &HSTSStore{}
	if err := s.Observe("example.org", "max-age=600; includeSubDomains"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in, want string
		upgraded bool
	}{
		{"http://example.org/.well-known/xmpp-client.xml", "https://example.org/.well-known/xmpp-client.xml", true},
		{"http://chat.example.org/x?y=1#z", "https://chat.example.org/x?y=1#z", true},
		{"http://example.org:80/", "https://example.org:443/", true}, // RFC 6797 §8.3 item 5
		{"http://example.org:8080/", "https://example.org:8080/", true},
		{"HTTP://Example.ORG/", "https://Example.ORG/", true}, // host case kept, match is case-insensitive
		{"ws://example.org/xmpp", "wss://example.org/xmpp", true},
		{"https://example.org/", "https://example.org/", false},
		{"http://example.net/", "http://example.net/", false},
		{"http://192.0.2.1/", "http://192.0.2.1/", false},
		{"ftp://example.org/", "ftp://example.org/", false},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := s.Upgrade(u)
		if ok != tt.upgraded || got.String() != tt.want {
			t.Errorf("Upgrade(%s) = %s, %v; want %s, %v", tt.in, got, ok, tt.want, tt.upgraded)
		}
		if ok && u.String() == got.String() {
			t.Errorf("Upgrade(%s) modified its argument", tt.in)
		}
	}
	if got, ok := s.Upgrade(nil); got != nil || ok {
		t.Error("Upgrade(nil) should be a no-op")
	}
}

func TestHSTSStore_ObserveResponse_FirstFieldOnly_X5(t *testing.T) {
	s := &HSTSStore{}
	h := http.Header{}
	h.Add("Strict-Transport-Security", "max-age=600")
	h.Add("Strict-Transport-Security", "max-age=600; includeSubDomains")
	if err := s.ObserveResponse("example.org", h); err != nil {
		t.Fatal(err)
	}
	if !s.Known("example.org") || s.Known("sub.example.org") {
		t.Error("RFC 6797 §8.1: only the first header field counts")
	}
	if err := s.ObserveResponse("example.net", http.Header{}); err != nil || s.Known("example.net") {
		t.Errorf("no header: err=%v known=%v", err, s.Known("example.net"))
	}
}

func TestHSTSStore_Persistence_X5(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state", "hsts.json") // directory is created
	clk := newClock()
	a := &HSTSStore{Path: path, Now: clk.Now}
	if err := a.Observe("example.org", "max-age=600; includeSubDomains"); err != nil {
		t.Fatal(err)
	}
	if err := a.Observe("gone.example.net", "max-age=600"); err != nil {
		t.Fatal(err)
	}
	if err := a.Observe("gone.example.net", "max-age=0"); err != nil {
		t.Fatal(err)
	}
	b := &HSTSStore{Path: path, Now: clk.Now}
	if !b.Known("chat.example.org") {
		t.Error("a new store on the same file does not know example.org")
	}
	if b.Known("gone.example.net") {
		t.Error("deletion not persisted")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	// b sees what a writes later (cache invalidated by the rename).
	if err := a.Observe("late.example.com", "max-age=600"); err != nil {
		t.Fatal(err)
	}
	if !b.Known("late.example.com") {
		t.Error("b did not see a's later write")
	}
	// Expiry survives the round trip.
	clk.Advance(601 * time.Second)
	if b.Known("example.org") {
		t.Error("expired entry still known after reload")
	}
}

func TestHSTSStore_CorruptFileNotOverwritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hsts.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &HSTSStore{Path: path}
	var se *StoreError
	if err := s.Observe("example.org", "max-age=600"); !errors.As(err, &se) || se.Path != path {
		t.Fatalf("err = %v, want *StoreError for %s", err, path)
	}
	if s.Known("example.org") {
		t.Error("known despite failed write")
	}
	if b, _ := os.ReadFile(path); string(b) != "{not json" {
		t.Error("corrupt file was overwritten")
	}
	// A store file of the other kind is refused too.
	hp := &HPKPStore{Path: filepath.Join(t.TempDir(), "x.json")}
	if err := hp.st.update(hp.Path, "hpkp", time.Now(), func(map[string]entry) {}); err != nil {
		t.Fatal(err)
	}
	if err := (&HSTSStore{Path: hp.Path}).Observe("example.org", "max-age=5"); !errors.As(err, &se) {
		t.Errorf("HSTS store accepted an HPKP file: %v", err)
	}
}

// TestHSTSStore_ConcurrentWritersLoseNothing_X5 has two stores in this
// process and two child processes write distinct hosts to one file at the
// same time; every host must survive.
func TestHSTSStore_ConcurrentWritersLoseNothing_X5(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hsts.json")
	const perWriter = 25
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for p := range 2 {
		wg.Go(func() {
			cmd := exec.Command(exe, "-test.run=^TestHelperHSTSWriter$", "-test.count=1")
			cmd.Env = append(os.Environ(), "TRUST_HELPER_PATH="+path, "TRUST_HELPER_PREFIX=proc"+strconv.Itoa(p), "TRUST_HELPER_N="+strconv.Itoa(perWriter))
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("child %d: %v\n%s", p, err, out)
			}
		})
	}
	for g := range 2 {
		s := &HSTSStore{Path: path}
		wg.Go(func() {
			for i := range perWriter {
				if err := s.Observe(fmt.Sprintf("h%d.store%d.example", i, g), "max-age=600"); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	check := &HSTSStore{Path: path}
	missing := 0
	for i := range perWriter {
		for _, w := range []string{"store0", "store1", "proc0", "proc1"} {
			if h := fmt.Sprintf("h%d.%s.example", i, w); !check.Known(h) {
				missing++
				t.Logf("lost %s", h)
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d hosts lost", missing, 4*perWriter)
	}
}

// TestHelperHSTSWriter is the child process of the concurrency test.
func TestHelperHSTSWriter(t *testing.T) {
	path := os.Getenv("TRUST_HELPER_PATH")
	if path == "" {
		t.Skip("helper process only")
	}
	n, _ := strconv.Atoi(os.Getenv("TRUST_HELPER_N"))
	s := &HSTSStore{Path: path}
	for i := range n {
		if err := s.Observe(fmt.Sprintf("h%d.%s.example", i, os.Getenv("TRUST_HELPER_PREFIX")), "max-age=600"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHSTSStore_ConcurrentMemory(t *testing.T) {
	s := &HSTSStore{}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				host := fmt.Sprintf("h%d.g%d.example", i, g)
				if err := s.Observe(host, "max-age=60"); err != nil {
					t.Error(err)
				}
				if !s.Known(host) {
					t.Errorf("%s not known right after Observe", host)
				}
			}
		})
	}
	wg.Wait()
}

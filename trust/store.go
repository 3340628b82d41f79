package trust

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"time"

	"hacx.dev/hacx/internal/atomicfile"
)

// entry is what a store remembers about one host.
type entry struct {
	Expires           time.Time `json:"expires"`
	IncludeSubDomains bool      `json:"include_subdomains,omitempty"`
	Pins              []string  `json:"pins_sha256,omitempty"` // HPKP only, base64
	ReportURI         string    `json:"report_uri,omitempty"`  // HPKP only
}

// fileFormat is the JSON layout of a store file.
type fileFormat struct {
	Version int              `json:"version"`
	Kind    string           `json:"kind"` // "hsts" or "hpkp"
	Hosts   map[string]entry `json:"hosts"`
}

const fileVersion = 1

// maxStoreFile bounds what is read from a store file, which is local but
// may have been filled by many hostile servers' headers.
const maxStoreFile = 16 << 20

// StoreError reports a store file that cannot be read or written.
type StoreError struct {
	Path string
	Op   string // "read", "write", "lock"
	Err  error
}

func (e *StoreError) Error() string {
	return "trust: " + e.Op + " store " + e.Path + ": " + e.Err.Error()
}

func (e *StoreError) Unwrap() error { return e.Err }

// store is the state shared by HSTSStore and HPKPStore. Maps it hands out
// are never mutated afterwards (updates build a new map), so readers need
// no lock once they hold one.
type store struct {
	mu  sync.Mutex
	mem map[string]entry // Path == ""

	// Last file read, reused while the file is unchanged.
	cachePath string
	cacheInfo os.FileInfo
	cache     map[string]entry
}

// update applies fn to the current state and saves it. With a file, it
// holds an exclusive flock on path+".lock" across read-modify-write and
// re-reads the file first, so changes other processes made meanwhile are
// merged rather than overwritten.
func (st *store) update(path, kind string, now time.Time, fn func(map[string]entry)) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if path == "" {
		m := maps.Clone(st.mem)
		if m == nil {
			m = map[string]entry{}
		}
		prune(m, now)
		fn(m)
		st.mem = m
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return &StoreError{Path: path, Op: "write", Err: err}
	}
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return &StoreError{Path: path, Op: "lock", Err: err}
	}
	defer unlock()
	m, _, err := readStore(path, kind)
	if err != nil {
		// A corrupt file is left for a human to inspect rather than
		// overwritten: it may hold pins that still protect hosts.
		return err
	}
	prune(m, now)
	fn(m)
	if err := writeStore(path, kind, m); err != nil {
		return err
	}
	if fi, err := os.Stat(path); err == nil {
		st.cachePath, st.cacheInfo, st.cache = path, fi, m
	}
	return nil
}

// snapshot returns the current state, which the caller must not modify.
func (st *store) snapshot(path, kind string) (map[string]entry, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if path == "" {
		return st.mem, nil
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &StoreError{Path: path, Op: "read", Err: err}
	}
	if st.cachePath == path && st.cacheInfo != nil && os.SameFile(fi, st.cacheInfo) &&
		fi.ModTime().Equal(st.cacheInfo.ModTime()) && fi.Size() == st.cacheInfo.Size() {
		return st.cache, nil
	}
	// Writers replace the file by rename, so reading needs no lock: we see
	// either the old or the new file, never half of one.
	m, fi, err := readStore(path, kind)
	if err != nil {
		return nil, err
	}
	if fi != nil {
		st.cachePath, st.cacheInfo, st.cache = path, fi, m
	}
	return m, nil
}

func prune(m map[string]entry, now time.Time) {
	for h, e := range m {
		if !now.Before(e.Expires) {
			delete(m, h)
		}
	}
}

// readStore reads a store file; a missing file is an empty store.
func readStore(path, kind string) (map[string]entry, os.FileInfo, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]entry{}, nil, nil
	}
	if err != nil {
		return nil, nil, &StoreError{Path: path, Op: "read", Err: err}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, &StoreError{Path: path, Op: "read", Err: err}
	}
	if fi.Size() > maxStoreFile {
		return nil, nil, &StoreError{Path: path, Op: "read", Err: fmt.Errorf("file larger than %d bytes", maxStoreFile)}
	}
	var ff fileFormat
	if err := json.NewDecoder(f).Decode(&ff); err != nil {
		return nil, nil, &StoreError{Path: path, Op: "read", Err: err}
	}
	if ff.Version != fileVersion || ff.Kind != kind {
		return nil, nil, &StoreError{Path: path, Op: "read",
			Err: fmt.Errorf("not a version %d %s store (version %d, kind %q)", fileVersion, kind, ff.Version, ff.Kind)}
	}
	if ff.Hosts == nil {
		ff.Hosts = map[string]entry{}
	}
	return ff.Hosts, fi, nil
}

// writeStore replaces path atomically: temp file in the same directory,
// fsync, rename. Mode 0600: the file reveals which hosts were visited.
func writeStore(path, kind string, m map[string]entry) error {
	data, err := json.MarshalIndent(fileFormat{Version: fileVersion, Kind: kind, Hosts: m}, "", "  ")
	if err != nil {
		return &StoreError{Path: path, Op: "write", Err: err}
	}
	if err := atomicfile.Write(path, append(data, '\n'), 0o600); err != nil {
		return &StoreError{Path: path, Op: "write", Err: err}
	}
	return nil
}

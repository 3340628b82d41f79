package discover

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"hacx.dev/hacx/internal/atomicfile"
)

// ErrCacheMiss is returned by a Cache's Get when the key is not stored.
var ErrCacheMiss = errors.New("discover: cache miss")

// Cache stores fetched discovery documents between lookups and, for a
// persistent implementation, between runs (H5). Keys are short strings of
// letters, digits, '.', '-', '_' and '+'. Implementations must be safe for
// concurrent use.
type Cache interface {
	// Get returns the data stored under key, or ErrCacheMiss.
	Get(ctx context.Context, key string) ([]byte, error)
	// Put stores data under key, replacing any previous value.
	Put(ctx context.Context, key string, data []byte) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// DirCache is a Cache in a directory of the file system, one file per key.
// The directory is created with mode 0700 when first written, files are
// written with mode 0600 to a temporary file that is then renamed over the
// old one, so readers in this or another process never see half a file.
type DirCache string

func (d DirCache) path(key string) (string, error) {
	if key == "" || key == "." || key == ".." || strings.ContainsAny(key, `/\`+"\x00") {
		return "", fmt.Errorf("discover: invalid cache key %q", key)
	}
	return filepath.Join(string(d), key), nil
}

// Get reads the file named key.
func (d DirCache) Get(ctx context.Context, key string) ([]byte, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrCacheMiss
	}
	if err != nil {
		return nil, fmt.Errorf("discover: cache: %w", err)
	}
	return data, nil
}

// Put writes the file named key atomically (temporary file + rename).
func (d DirCache) Put(ctx context.Context, key string, data []byte) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		return fmt.Errorf("discover: cache: %w", err)
	}
	if err := atomicfile.Write(p, data, 0o600); err != nil {
		return fmt.Errorf("discover: cache: %w", err)
	}
	return nil
}

// Delete removes the file named key.
func (d DirCache) Delete(ctx context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("discover: cache: %w", err)
	}
	return nil
}

// MemCache is a Cache in memory. The zero value is empty and ready to use.
type MemCache struct {
	mu sync.Mutex
	m  map[string][]byte
}

// Get returns a copy of the value stored under key.
func (c *MemCache) Get(_ context.Context, key string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	if !ok {
		return nil, ErrCacheMiss
	}
	return append([]byte(nil), v...), nil
}

// Put stores a copy of data under key.
func (c *MemCache) Put(_ context.Context, key string, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string][]byte)
	}
	c.m[key] = append([]byte(nil), data...)
	return nil
}

// Delete removes key.
func (c *MemCache) Delete(_ context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
	return nil
}

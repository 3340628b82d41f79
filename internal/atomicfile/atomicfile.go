// Package atomicfile replaces files so that a reader, or a process that
// crashes half-way, only ever sees the old content or the new one: the
// document cache, the HSTS/HPKP stores, "hacx fmt -w" and "hacx gen" all
// write through it.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data and mode perm: a temporary file in the same
// directory (so the rename cannot cross file systems), synced, then renamed
// over path. The directory must exist. On error path is untouched and no
// temporary file is left behind.
func Write(path string, data []byte, perm os.FileMode) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err == nil {
		if err = tmp.Chmod(perm); err == nil {
			err = tmp.Sync()
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

//go:build !unix

package trust

import "sync"

// Without flock(2), stores serialize writers within this process only.
var processLock sync.Mutex

func lockFile(string) (func(), error) {
	processLock.Lock()
	return processLock.Unlock, nil
}

package testbed

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// sbinPath is where the Debian program name is: on PATH, or in /usr/sbin,
// which is not on a non-root user's PATH; an error naming the package to
// install when it is in neither.
func sbinPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join("/usr/sbin", name)
	if _, err := os.Stat(p); err != nil {
		return "", errors.New("testbed: " + name + " is not installed (apt-get install " + name + ")")
	}
	return p, nil
}

// sbinProgram is sbinPath for a program known to be there (its
// Available function said so); the bare name otherwise, so that the
// start fails with exec's own error.
func sbinProgram(name string) string {
	if p, err := sbinPath(name); err == nil {
		return p
	}
	return name
}

// runAs is who to run a server that refuses root (Prosody, ejabberd) as:
// the user name when we are root, nil when we are that user already. It
// is set on the process itself, not through runuser or su, so the server
// is the process a test waits for and stays in the process group Close
// kills.
func runAs(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, errors.New("testbed: there is no " + name + " user to run " + name + " as")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	switch os.Geteuid() {
	case uid:
		return nil, nil
	case 0:
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
	}
	return nil, errors.New("testbed: " + name + " runs only as root or as the " + name + " user")
}

// giveTree makes cred's user the owner of everything under dir, so a
// server run as that user can write its data there; nil cred changes
// nothing.
func giveTree(dir string, cred *syscall.Credential) error {
	if cred == nil {
		return nil
	}
	return filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(cred.Uid), int(cred.Gid))
	})
}

// SyncBuffer is a bytes.Buffer that a running process (or command) may
// write to while a test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *SyncBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *SyncBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Reset empties the buffer, for a program started again.
func (l *SyncBuffer) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}

// stopGroup ends a program started in its own process group: SIGTERM to
// the group, SIGKILL after 5 s, then waits for exited.
func stopGroup(cmd *exec.Cmd, exited <-chan error) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
}

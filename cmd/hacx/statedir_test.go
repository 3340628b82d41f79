package main

import (
	"path/filepath"
	"testing"
)

func TestUserStateDir_XDGThenHome(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)

	t.Setenv("XDG_STATE_HOME", "/var/tmp/xdg-state")
	if got, err := userStateDir(); err != nil || got != "/var/tmp/xdg-state" {
		t.Errorf("with XDG_STATE_HOME: %q, %v", got, err)
	}
	// The XDG spec says a relative value is invalid and must be ignored.
	for _, v := range []string{"", "relative/state"} {
		t.Setenv("XDG_STATE_HOME", v)
		if got, err := userStateDir(); err != nil || got != filepath.Join(home, ".local", "state") {
			t.Errorf("XDG_STATE_HOME=%q: %q, %v", v, got, err)
		}
	}
	if got := orUserDir("", userStateDir); got != filepath.Join(home, ".local", "state", "hacx") {
		t.Errorf("default state dir = %q", got)
	}
}

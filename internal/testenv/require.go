package testenv

import (
	"os"
	"testing"
)

// Require skips the test with err's message when err is not nil (a
// Debian program an integration test drives is missing), except in CI
// (the CI environment variable set, as .ci/run does), where a missing
// program fails the test: CI installs every program, so a skip there
// would hide a broken setup.
func Require(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%v (required when CI is set)", err)
	}
	t.Skip(err)
}

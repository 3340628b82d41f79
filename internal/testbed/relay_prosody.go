package testbed

import "path/filepath"

// DataDir is Prosody's data directory: accounts, rosters and the offline
// message store (DOMAIN with dots as %2e, then offline/USER.list), where a
// relay test can see that a message sent to an offline user arrived.
func (p *Prosody) DataDir() string { return filepath.Join(p.dir, "data") }

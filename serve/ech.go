package serve

// This file is Encrypted Client Hello on the Server's TLS listeners (E4):
// the key files it decrypts with, loaded with the configuration and
// replaced only by a set that loads whole.

import (
	"crypto/tls"
	"slices"

	"hacx.dev/hacx/ech"
)

// echInService is the key set the listeners decrypt with: every key
// accepted, the newest sent as retry configuration (ech.Keys.TLS).
type echInService struct {
	keys ech.Keys
	tls  []tls.EncryptedClientHelloKey
}

// loadECH reads the key files of the Server and of cfg; nothing changes
// when one fails, so a broken file never takes ECH away from clients that
// hold a published configuration.
func (s *Server) loadECH(cfg *Config) error {
	files := slices.Clone(s.ECHKeyFiles)
	if cfg != nil {
		files = append(files, cfg.ECHKeyFiles...)
	}
	var ks ech.Keys
	for _, f := range files {
		k, err := ech.ReadKeyFile(f)
		if err != nil {
			return err
		}
		ks = append(ks, k)
	}
	if len(ks) == 0 {
		s.ech.Store(nil)
		return nil
	}
	s.ech.Store(&echInService{keys: ks, tls: ks.TLS()})
	return nil
}

// echKeys is tls.Config.GetEncryptedClientHelloKeys: the keys in service,
// none (no ECH) when no file is configured.
func (s *Server) echKeys(*tls.ClientHelloInfo) ([]tls.EncryptedClientHelloKey, error) {
	if e := s.ech.Load(); e != nil {
		return e.tls, nil
	}
	return nil, nil
}

// ECHConfigList is the ECHConfigList of the newest key in service, the
// one to publish in records' ech (E4); nil when the Server has no ECH key.
func (s *Server) ECHConfigList() []byte {
	if e := s.ech.Load(); e != nil {
		return e.keys.Newest().ConfigList()
	}
	return nil
}

package loopback

import "crypto/tls"

// withECH makes cfg a server configuration that decrypts Encrypted Client
// Hello with keys (E4) and sends their retry configurations; nil keys
// leave cfg as it is. crypto/tls decrypts with the base configuration's
// keys before GetConfigForClient (which then sees the inner ClientHello)
// and builds retry configurations from the configuration that function
// returns, so both carry the keys.
func withECH(cfg *tls.Config, keys []tls.EncryptedClientHelloKey) *tls.Config {
	if keys == nil {
		return cfg
	}
	cfg.EncryptedClientHelloKeys = keys
	if get := cfg.GetConfigForClient; get != nil {
		cfg.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			c, err := get(h)
			if c != nil {
				c.EncryptedClientHelloKeys = keys
			}
			return c, err
		}
	}
	return cfg
}

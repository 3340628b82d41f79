-- Prosody 0.12 behind "hacx serve" (examples/hacx-gateway.toml): the
-- settings to add to the global section of prosody.cfg.lua. hacx serve
-- takes port 443; Prosody listens on loopback only, in plaintext, and
-- hacx's tests run Prosody with exactly these lines (ports changed).
--
-- Also add "hacx_gateway", "websocket" and "bosh" to modules_enabled.

-- mod_hacx_gateway.lua (beside this file) lives here.
plugin_paths = { "/etc/prosody/hacx" }

-- Client-to-server streams from hacx serve: plain, on loopback.
c2s_ports = { 5222 }
c2s_interfaces = { "127.0.0.1" }
-- The addresses hacx serve connects from: their streams count as secure.
hacx_gateway_addresses = { "127.0.0.1" }

-- WebSocket and BOSH from hacx serve: plain HTTP, on loopback.
http_ports = { 5280 }
http_interfaces = { "127.0.0.1" }
consider_websocket_secure = true
consider_bosh_secure = true
-- Believe X-Forwarded-For from hacx serve, so that logs show clients.
trusted_proxies = { "127.0.0.1" }

-- mod_hacx_gateway: Prosody 0.12 behind "hacx serve" (rules G1, G3 of
-- hacx's docs/RULES.md).
--
-- hacx serve ends the client's TLS on port 443 and relays the stream to
-- Prosody's plain c2s port. Prosody 0.12 has no secure_interfaces option,
-- so with c2s_require_encryption (the default) it would offer STARTTLS and
-- refuse to authenticate these streams. This module marks the c2s streams
-- that come from the gateway's addresses as secure, and offers them no
-- STARTTLS: their TLS already happened, between the client and hacx serve.
--
-- Install: copy this file into a directory of plugin_paths, add
-- "hacx_gateway" to modules_enabled, and list the addresses hacx serve
-- connects from (default: loopback only). Bind c2s_interfaces to loopback
-- too: any program that can reach the port from a listed address is
-- trusted as if it had used TLS.
--
--   plugin_paths = { "/etc/prosody/hacx" }
--   hacx_gateway_addresses = { "127.0.0.1", "::1" }
--
-- Alternatively, point hacx serve at Prosody's direct-TLS port
-- (--c2s tls://127.0.0.1:5223, c2s_direct_tls_ports) and load nothing.

local addresses = module:get_option_set("hacx_gateway_addresses", { "127.0.0.1", "::1" });

module:hook("stream-features", function (event)
	local session = event.origin;
	if session.type ~= "c2s_unauthed" or session.secure then
		return;
	end
	if not addresses:contains(session.ip) then
		return;
	end
	session.secure = true;
	-- mod_tls offers STARTTLS while ssl_ctx is nil; false means "none".
	session.ssl_ctx = false;
	session.log("debug", "c2s stream from hacx serve at %s: TLS ended at the gateway, treated as secure", session.ip);
end, 1000); -- before mod_tls and mod_saslauth add their features

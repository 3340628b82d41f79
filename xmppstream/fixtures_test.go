package xmppstream

// Server-side messages the readers' tests read: what a WebSocket server
// or BOSH connection manager sends (the writers of hacx's own test
// endpoints are in internal/loopback, which imports this package).

// saslInner is the inner XML of typical client-to-server features.
const saslInner = "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms>"

// wsFeatures is a <stream:features/> WebSocket message with SASL
// mechanisms, declaring its stream prefix (RFC 7395 section 3.3.3).
const wsFeatures = "<stream:features xmlns:stream='" + NSStream + "'>" + saslInner + "</stream:features>"

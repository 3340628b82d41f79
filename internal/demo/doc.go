// Package demo plays scenarios of what hacx is for on a test bed that lives
// entirely on loopback (testbed.Bed): a publisher serving the HACX
// document through the serve package, a DNS server, good XMPP endpoints and
// hostile ones. Each Scenario is one line of story (what the network or an
// attacker does) and the exact outcome hacx must reach: the route that
// wins, with its source, method and how its certificate was accepted, or
// the kind of failure; and the phase every attempt ended in.
//
// The same table is the reliability harness: "go test ./demo" plays every
// scenario and asserts its outcome, and "hacx demo" plays them for a human
// (a short Tour by default) with the document fetched, the ordered routes,
// every attempt with its latency, and the winner.
//
// A proxy scenario (tor-only, T1) gives its client nothing but a socks5h
// proxy, an in-process loopback.SOCKSServer (reached through Runner.Via
// when one is set), and checks the proxy's CONNECT log and the DNS
// server's query log as well as the outcome.
//
// Scenarios share the bed's publisher and DNS zone, so a Runner plays them
// one after the other; each gets its own client (firewall, cache, clock).
//
// Rule IDs in comments and test names are defined in docs/RULES.md.
package demo

// Package hacxtest is an offline test bed for HACX: a certificate authority
// made at run time, and (as it grows) a DNS server, a HACX publisher and
// good and hostile XMPP endpoints, all bound to loopback addresses only.
//
// Tests of every package, the benchmarks and "hacx demo" use it, so each
// layer is exercised against the same realistic world.
package hacxtest

// Package hacxtest provides what a program that uses hacx needs to test
// against it offline, in the manner of net/http/httptest: a certificate
// authority made at run time ([NewCA]), an HTTPS publisher that answers
// for every domain of a test ([StartPublisher], whose DialContext a
// discover.Resolver takes), and a direct-TLS XMPP endpoint that records
// what each client sent ([StartXMPP]). Everything binds to loopback
// addresses only.
//
//	ca, _ := hacxtest.NewCA("my test")
//	cert, _ := ca.Issue("example.test")
//	xmpp, _ := hacxtest.StartXMPP("127.0.0.2:0", cert, hacxtest.XMPPConfig{})
//	pub, _ := hacxtest.StartPublisher("127.0.0.1:0", cert, nil)
//	pub.Publish(hacx.Client, doc) // a document naming xmpp.Addr()
//	r := &discover.Resolver{Roots: ca.Pool(), DialContext: pub.DialContext}
//	d := &dial.Dialer{Roots: ca.Pool(), Routes: r}
//
// Rule IDs in comments are defined in docs/RULES.md.
package hacxtest

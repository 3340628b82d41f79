package dnssec

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Exchanger sends one DNS query and returns the response: a *Client, a
// *Cache, or a test's stand-in.
type Exchanger interface {
	Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error)
}

// badTTL is how long a bogus or indeterminate outcome is remembered
// (RFC 4035 section 4.7 asks validators to cache bad data for a while,
// rather than ask again at every use).
const badTTL = time.Minute

// Validator answers DNS questions and proves the answers from trust
// anchors (D1). Its zero value is not usable: Exchanger is required. A
// Validator is safe for concurrent use; do not change its fields after
// the first Lookup. It remembers validated answers and zone keys for
// their TTLs.
type Validator struct {
	// Exchanger sends every query, normally a *Cache in front of a *Client.
	Exchanger Exchanger

	// Anchors are the DS or DNSKEY records validation starts from; a name
	// is validated from the anchor closest above it. Nil means
	// RootAnchors(), IANA's root keys.
	Anchors []dns.RR

	// Skew is the clock-skew allowance on signature validity periods;
	// 0 means DefaultSkew.
	Skew time.Duration

	// Now is the clock for signature validity and TTLs; nil means time.Now.
	Now func() time.Time

	once    sync.Once
	anchors anchorSet

	mu      sync.Mutex
	zones   map[string]zoneState  // zone apex -> keys and security
	steps   map[string]step       // name -> what the DS query there proved
	answers map[answerKey]*Answer // validated answers
}

// Answer is the validated answer to one question.
type Answer struct {
	// Name and Type are the question, Name lower-cased and fully qualified.
	Name string
	Type uint16
	// Rcode is dns.RcodeSuccess or dns.RcodeNameError (of the last name
	// of the CNAME chain).
	Rcode int
	// Records are the records of Type at the end of the CNAME chain,
	// without signatures; none for a denial, and none when Bogus.
	Records []dns.RR
	// CNAMEs are the names the chain went through after Name, in order.
	CNAMEs []string
	// Security is the outcome; Reason says why it is not Secure.
	Security Security
	Reason   string
	// Queries is how many queries this answer cost on the network: with
	// a *Cache as Exchanger the ones it forwarded, else every query; 0
	// when the answer was remembered from an earlier lookup.
	Queries int

	expires time.Time
}

type answerKey struct {
	name  string
	qtype uint16
}

// zoneState is what is known of one zone: its validated keys when
// Secure, else why not.
type zoneState struct {
	name    string
	sec     Security
	reason  string
	keys    []*dns.DNSKEY
	tags    []uint16 // key tags of keys, computed once
	expires time.Time
}

// stepKind is what a DS query at a name proved about a zone cut there.
type stepKind uint8

const (
	stepCut      stepKind = iota // a DS set: a signed child zone (zone holds its state)
	stepNone                     // proven not a zone cut: the parent's zone goes on
	stepNX                       // proven not to exist: nothing lies below
	stepInsecure                 // an unsigned delegation, proven
	stepBogus                    // the proof itself failed
)

type step struct {
	kind    stepKind
	zone    zoneState // stepCut, stepInsecure, stepBogus
	expires time.Time
}

// lookup is the state of one Lookup call: its budget and clock.
type lookup struct {
	ctx           context.Context
	v             *Validator
	now           time.Time
	queries       int
	verifications int
	expires       time.Time // when what this lookup used expires
	asked         map[answerKey]*dns.Msg
}

func (v *Validator) init() {
	v.once.Do(func() {
		a := v.Anchors
		if a == nil {
			a = RootAnchors()
		}
		v.anchors = newAnchorSet(a)
		v.zones = map[string]zoneState{}
		v.steps = map[string]step{}
		v.answers = map[answerKey]*Answer{}
	})
}

func (v *Validator) skew() time.Duration {
	if v.Skew > 0 {
		return v.Skew
	}
	return DefaultSkew
}

func (v *Validator) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Lookup asks for the records of qtype at name and validates the answer
// (D1). An error means no answer could be had (the server failed or
// answered with an error rcode, *RcodeError); a Bogus answer is not an
// error but an Answer whose Security says so, with Records left empty.
func (v *Validator) Lookup(ctx context.Context, name string, qtype uint16) (*Answer, error) {
	if v.Exchanger == nil {
		return nil, errors.New("dnssec: Validator without Exchanger")
	}
	v.init()
	name = dns.CanonicalName(name)
	if _, ok := dns.IsDomainName(name); !ok {
		return nil, fmt.Errorf("dnssec: invalid name %q", name)
	}
	now := v.now()
	key := answerKey{name, qtype}
	v.mu.Lock()
	if a, ok := v.answers[key]; ok && now.Before(a.expires) {
		v.mu.Unlock()
		c := *a
		c.Records = copyRRs(a.Records)
		c.Queries = 0
		return &c, nil
	}
	v.mu.Unlock()

	nc := &networkCounter{}
	ctx = context.WithValue(ctx, networkKey{}, nc)
	l := &lookup{ctx: ctx, v: v, now: now, asked: map[answerKey]*dns.Msg{}}
	a, err := l.resolve(name, qtype)
	if err != nil {
		return nil, err
	}
	a.Queries = l.queries
	if _, ok := v.Exchanger.(*Cache); ok {
		a.Queries = nc.n // what the cache did not answer
	}
	a.expires = l.expires
	if a.Security == Bogus {
		a.Records = nil // never hand out what failed validation (fail closed)
	}
	if a.Security == Bogus || a.Security == Indeterminate {
		a.expires = minTime(a.expires, now.Add(badTTL))
	}
	if a.expires.IsZero() {
		a.expires = now.Add(badTTL)
	}
	v.mu.Lock()
	if len(v.answers) > maxMemo {
		v.answers = map[answerKey]*Answer{}
	}
	v.answers[key] = a
	v.mu.Unlock()
	c := *a
	c.Records = copyRRs(a.Records)
	return &c, nil
}

// maxMemo bounds the remembered answers, zones and steps: when full, the
// memory starts again empty (the Cache still holds the raw answers).
const maxMemo = 4096

func copyRRs(rrs []dns.RR) []dns.RR {
	if rrs == nil {
		return nil
	}
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
	}
	return out
}

// worse records a part's outcome on a: the weakest part decides.
func (a *Answer) worse(sec Security, reason string) {
	if sec.rank() > a.Security.rank() {
		a.Security, a.Reason = sec, reason
	}
}

// resolve follows the CNAME chain from name and validates every step.
func (l *lookup) resolve(name string, qtype uint16) (*Answer, error) {
	a := &Answer{Name: name, Type: qtype, Security: Secure}
	cur := name
	for hop := 0; ; hop++ {
		if hop > maxCNAMEs {
			a.worse(Bogus, fmt.Sprintf("more than %d CNAME hops from %s", maxCNAMEs, name))
			return a, nil
		}
		msg, err := l.query(cur, qtype)
		if err != nil {
			return nil, err
		}
		// The answer is remembered no longer than its own records live,
		// signed or not (RFC 2308 for a denial).
		l.expireByTTL(msg)
		if rrset := rrsetOf(msg.Answer, cur, qtype); len(rrset) > 0 {
			sec, reason, err := l.positive(cur, qtype, rrset, msg)
			if err != nil {
				return nil, err
			}
			a.worse(sec, reason)
			a.Records = copyRRs(rrset)
			a.Rcode = dns.RcodeSuccess
			return a, nil
		}
		if qtype != dns.TypeCNAME {
			if target, ok, err := l.redirect(a, cur, msg); err != nil {
				return nil, err
			} else if ok {
				if a.Security == Bogus {
					return a, nil // never follow a forged redirect
				}
				a.CNAMEs = append(a.CNAMEs, target)
				cur = target
				continue
			}
		}
		sec, reason, err := l.negative(cur, qtype, msg)
		if err != nil {
			return nil, err
		}
		a.worse(sec, reason)
		a.Rcode = msg.Rcode
		return a, nil
	}
}

// redirect validates a CNAME at cur, or a DNAME above it, and returns
// where the answer continues.
func (l *lookup) redirect(a *Answer, cur string, msg *dns.Msg) (string, bool, error) {
	if cn := rrsetOf(msg.Answer, cur, dns.TypeCNAME); len(cn) == 1 {
		sec, reason, err := l.positive(cur, dns.TypeCNAME, cn, msg)
		if err != nil {
			return "", false, err
		}
		a.worse(sec, reason)
		return dns.CanonicalName(cn[0].(*dns.CNAME).Target), true, nil
	}
	for _, rr := range msg.Answer {
		d, ok := rr.(*dns.DNAME)
		if !ok || equalNames(d.Hdr.Name, cur) || !inZone(cur, d.Hdr.Name) {
			continue
		}
		owner := dns.CanonicalName(d.Hdr.Name)
		sec, reason, err := l.positive(owner, dns.TypeDNAME, rrsetOf(msg.Answer, owner, dns.TypeDNAME), msg)
		if err != nil {
			return "", false, err
		}
		a.worse(sec, reason)
		// RFC 6672 section 2.2: replace the DNAME owner by its target.
		prefix := strings.TrimSuffix(cur, owner)
		target := dns.CanonicalName(prefix + dns.Fqdn(d.Target))
		if _, ok := dns.IsDomainName(target); !ok || len(target) > 255 {
			a.worse(Bogus, "DNAME substitution of "+cur+" is too long")
			return "", false, nil
		}
		return target, true, nil
	}
	return "", false, nil
}

// RcodeError is an answer with an rcode other than NOERROR and NXDOMAIN.
type RcodeError struct {
	Name  string
	Type  uint16
	Rcode int
	// EDE is the server's extended DNS error (RFC 8914), "" if none.
	EDE string
}

func (e *RcodeError) Error() string {
	s := fmt.Sprintf("%s %s: %s", e.Name, dns.TypeToString[e.Type], dns.RcodeToString[e.Rcode])
	if e.EDE != "" {
		s += ", extended error " + e.EDE
	}
	return s
}

// QueryError is a query of the chain of trust that got no answer.
type QueryError struct {
	Name string
	Type uint16
	Err  error
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("%s %s: %v", e.Name, dns.TypeToString[e.Type], e.Err)
}

func (e *QueryError) Unwrap() error { return e.Err }

// query asks name/qtype with DO and CD set (RFC 4035 sections 3.2.1 and
// 3.2.2): the upstream returns signatures, and does not withhold what it
// finds bogus, so that this validator reaches its own verdict with a
// reason.
func (l *lookup) query(name string, qtype uint16) (*dns.Msg, error) {
	k := answerKey{name, qtype}
	if m, ok := l.asked[k]; ok {
		return m, nil
	}
	if l.queries++; l.queries > maxQueries {
		return nil, &QueryError{Name: name, Type: qtype, Err: errBudget}
	}
	m := newQuery(name, qtype, true)
	resp, err := l.v.Exchanger.Exchange(l.ctx, m)
	if err != nil {
		return nil, &QueryError{Name: name, Type: qtype, Err: err}
	}
	if len(resp.Question) != 1 || !equalNames(resp.Question[0].Name, name) || resp.Question[0].Qtype != qtype {
		return nil, &QueryError{Name: name, Type: qtype, Err: errors.New("answer to another question")}
	}
	if resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError {
		return nil, &RcodeError{Name: name, Type: qtype, Rcode: resp.Rcode, EDE: ExtendedError(resp)}
	}
	l.asked[k] = resp
	return resp, nil
}

// newQuery is a recursive query for name/qtype with EDNS0 and DO (a
// 1232-byte UDP size, the DNS flag day 2020 value that avoids IP
// fragmentation); cd sets the CD bit.
func newQuery(name string, qtype uint16, cd bool) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	m.CheckingDisabled = cd
	m.SetEdns0(1232, true)
	return m
}

// NewQuery is the query hacx sends for name/qtype: recursion desired,
// EDNS0 with the DO bit; cd sets the CD bit (a validating client does).
func NewQuery(name string, qtype uint16, cd bool) *dns.Msg { return newQuery(name, qtype, cd) }

// ExtendedError formats the first RFC 8914 extended DNS error of resp,
// or "" when there is none.
func ExtendedError(resp *dns.Msg) string {
	opt := resp.IsEdns0()
	if opt == nil {
		return ""
	}
	for _, o := range opt.Option {
		if e, ok := o.(*dns.EDNS0_EDE); ok {
			s := fmt.Sprint(e.InfoCode)
			if name, ok := dns.ExtendedErrorCodeToString[e.InfoCode]; ok {
				s += " (" + name + ")"
			}
			if e.ExtraText != "" {
				s += ": " + e.ExtraText
			}
			return s
		}
	}
	return ""
}

func (l *lookup) expireBy(t time.Time) { l.expires = minTime(l.expires, t) }

// expireByTTL limits the lookup's lifetime to the TTLs of msg's answer
// records, or, for a denial, its SOA's negative TTL (RFC 2308 section 5;
// none: not remembered beyond badTTL).
func (l *lookup) expireByTTL(msg *dns.Msg) {
	ttl, seen := uint32(0), false
	for _, rr := range msg.Answer {
		if h := rr.Header(); h.Rrtype != dns.TypeRRSIG && (!seen || h.Ttl < ttl) {
			ttl, seen = h.Ttl, true
		}
	}
	if !seen {
		for _, rr := range msg.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				ttl, seen = min(soa.Hdr.Ttl, soa.Minttl), true
			}
		}
	}
	if !seen {
		ttl = uint32(badTTL / time.Second)
	}
	l.expireBy(l.now.Add(time.Duration(ttl) * time.Second))
}

// positive validates an RRset of the answer section.
func (l *lookup) positive(name string, qtype uint16, rrset []dns.RR, msg *dns.Msg) (Security, string, error) {
	sigs := sigsOf(msg.Answer, name, qtype)
	signer, ok := signerOf(sigs, name)
	if !ok {
		zs, err := l.zoneOf(name, false)
		if err != nil {
			return 0, "", err
		}
		if zs.sec == Secure {
			return Bogus, fmt.Sprintf("%s %s has no signature, but zone %s is signed", name, dns.TypeToString[qtype], zs.name), nil
		}
		return zs.sec, zs.reason, nil
	}
	zs, err := l.zoneOf(signer, true)
	if err != nil {
		return 0, "", err
	}
	if zs.sec != Secure {
		return zs.sec, zs.reason, nil
	}
	v, err := l.verifyRRset(rrset, sigs, &zs)
	if err != nil {
		return Bogus, err.Error(), nil
	}
	if v.wild {
		// RFC 4035 section 5.3.4: an expanded wildcard is only genuine
		// if the name itself provably does not exist.
		insecure, err := l.wildcardProof(name, v.labels, msg, &zs)
		if err != nil {
			return Bogus, fmt.Sprintf("%s %s expanded from a wildcard without proof that %s does not exist: %v", name, dns.TypeToString[qtype], name, err), nil
		}
		if insecure != "" {
			return Insecure, insecure, nil
		}
	}
	return Secure, "", nil
}

// negative validates an answer without the data asked for: NXDOMAIN or
// NODATA, proven by NSEC or NSEC3 records of the authority section.
func (l *lookup) negative(name string, qtype uint16, msg *dns.Msg) (Security, string, error) {
	var sigs []*dns.RRSIG
	for _, rr := range msg.Ns {
		if s, ok := rr.(*dns.RRSIG); ok {
			switch s.TypeCovered {
			case dns.TypeSOA, dns.TypeNSEC, dns.TypeNSEC3:
				sigs = append(sigs, s)
			}
		}
	}
	what := "no " + dns.TypeToString[qtype] + " at " + name
	if msg.Rcode == dns.RcodeNameError {
		what = name + " does not exist"
	}
	signer, ok := signerOf(sigs, name)
	if !ok {
		zs, err := l.zoneOf(name, false)
		if err != nil {
			return 0, "", err
		}
		if zs.sec == Secure {
			return Bogus, fmt.Sprintf("answer says %s without signed proof, but zone %s is signed", what, zs.name), nil
		}
		return zs.sec, zs.reason, nil
	}
	zs, err := l.zoneOf(signer, true)
	if err != nil {
		return 0, "", err
	}
	if zs.sec != Secure {
		return zs.sec, zs.reason, nil
	}
	d, err := l.denial(name, qtype, msg, &zs)
	if err != nil {
		// No proof, but the name may lie below a delegation proven
		// unsigned (a referral from a server that does not serve the
		// child): then nothing about it can be proven, and it is
		// insecure, not bogus.
		if below, zerr := l.zoneOf(name, false); zerr == nil && below.sec == Insecure {
			return Insecure, below.reason, nil
		}
		return Bogus, fmt.Sprintf("answer says %s: %v", what, err), nil
	}
	if d.insecure != "" {
		return Insecure, d.insecure, nil
	}
	return Secure, "", nil
}

// zoneOf returns the state of the zone that holds target. With exact,
// target is a signer name and must itself be a zone apex (a signature
// naming anything else is bogus); without, target is any name and the
// state is that of the deepest zone above it. It walks from the closest
// trust anchor down, one label at a time, with a DS query per label
// (RFC 4035 section 5.2).
func (l *lookup) zoneOf(target string, exact bool) (zoneState, error) {
	target = dns.CanonicalName(target)
	top, ok := l.v.anchors.closest(target)
	if !ok {
		return zoneState{sec: Indeterminate, reason: "no trust anchor covers " + target + " (anchors: " + l.v.anchors.describe() + ")"}, nil
	}
	cur, err := l.anchorZone(top)
	if err != nil {
		return zoneState{}, err
	}
walk:
	for _, n := range below(top, target) {
		if cur.sec != Secure {
			return cur, nil
		}
		st, err := l.step(n, &cur)
		if err != nil {
			return zoneState{}, err
		}
		switch st.kind {
		case stepCut, stepInsecure, stepBogus:
			cur = st.zone
		case stepNX:
			break walk // nothing below exists
		}
	}
	if exact && cur.sec == Secure && cur.name != target {
		return zoneState{sec: Bogus, reason: fmt.Sprintf("signer %s is not a zone (no DS there in zone %s)", target, cur.name)}, nil
	}
	return cur, nil
}

// zoneMemo returns a remembered zone state that has not expired.
func (l *lookup) zoneMemo(name string) (zoneState, bool) {
	l.v.mu.Lock()
	defer l.v.mu.Unlock()
	z, ok := l.v.zones[name]
	if !ok || !l.now.Before(z.expires) {
		return zoneState{}, false
	}
	return z, true
}

func (l *lookup) rememberZone(z zoneState) {
	if z.expires.IsZero() || z.sec == Bogus || z.sec == Indeterminate {
		z.expires = minTime(z.expires, l.now.Add(badTTL))
	}
	l.v.mu.Lock()
	defer l.v.mu.Unlock()
	if len(l.v.zones) > maxMemo {
		l.v.zones = map[string]zoneState{}
	}
	l.v.zones[z.name] = z
}

// anchorZone returns the keys of the anchored zone name: its DNSKEY set,
// signed by a key the anchor names.
func (l *lookup) anchorZone(name string) (zoneState, error) {
	if z, ok := l.zoneMemo(name); ok {
		l.expireBy(z.expires)
		return z, nil
	}
	anchors := l.v.anchors[name]
	var ds []*dns.DS
	var keys []*dns.DNSKEY
	for _, a := range anchors {
		switch a := a.(type) {
		case *dns.DS:
			ds = append(ds, a)
		case *dns.DNSKEY:
			keys = append(keys, a)
		}
	}
	z, err := l.keysFor(name, ds, keys, true)
	if err != nil {
		return zoneState{}, err
	}
	l.rememberZone(z)
	return z, nil
}

// keysFor fetches the DNSKEY set of zone and accepts it when a key that
// matches one of ds (or equals one of anchorKeys) signs it (RFC 4035
// section 5.2).
func (l *lookup) keysFor(zone string, ds []*dns.DS, anchorKeys []*dns.DNSKEY, isAnchor bool) (zoneState, error) {
	zs := zoneState{name: zone}
	var usableDS []*dns.DS
	for _, d := range ds {
		if supportedDigest(d.DigestType) && supportedAlgorithm(d.Algorithm) {
			usableDS = append(usableDS, d)
		}
	}
	var usableAnchors []*dns.DNSKEY
	for _, k := range anchorKeys {
		if usableKey(k) {
			usableAnchors = append(usableAnchors, k)
		}
	}
	if len(usableDS) == 0 && len(usableAnchors) == 0 {
		// RFC 6840 section 5.2 (and 4035 section 5.2): a zone whose DS
		// records all name algorithms or digests the validator does not
		// use is treated as unsigned.
		zs.sec = Insecure
		zs.reason = fmt.Sprintf("zone %s is signed only with algorithms or digests treated as insecure (%s)", zone, describeDS(ds, anchorKeys))
		zs.expires = l.now.Add(badTTL)
		return zs, nil
	}
	msg, err := l.query(zone, dns.TypeDNSKEY)
	if err != nil {
		return zoneState{}, err
	}
	var set []dns.RR
	var all []*dns.DNSKEY
	for _, rr := range rrsetOf(msg.Answer, zone, dns.TypeDNSKEY) {
		set = append(set, rr)
		all = append(all, rr.(*dns.DNSKEY))
	}
	sigs := sigsOf(msg.Answer, zone, dns.TypeDNSKEY)
	if len(set) == 0 || len(sigs) == 0 {
		if isAnchor {
			// Decision (D1): the server gives no signed key set for the
			// anchor's own zone, so it passes no DNSSEC records at all.
			// Nothing can be proven, for or against.
			zs.sec = Indeterminate
			zs.reason = fmt.Sprintf("the DNS server returns no signed DNSKEY set for trust anchor %s (it passes no DNSSEC records)", zone)
			return zs, nil
		}
		zs.sec = Bogus
		zs.reason = fmt.Sprintf("zone %s has a DS record but no signed DNSKEY set", zone)
		return zs, nil
	}
	if len(all) > maxKeys {
		zs.sec, zs.reason = Bogus, fmt.Sprintf("zone %s publishes %d keys, more than %d", zone, len(all), maxKeys)
		return zs, nil
	}
	// The keys the parent (or anchor) vouches for.
	var entry []*dns.DNSKEY
	for _, k := range all {
		if !usableKey(k) {
			continue
		}
		if matchesAnchor(k, usableDS, usableAnchors) {
			entry = append(entry, k)
		}
	}
	if len(entry) == 0 {
		zs.sec = Bogus
		zs.reason = fmt.Sprintf("no DNSKEY of zone %s matches its %s (%s)", zone, map[bool]string{true: "trust anchor", false: "DS records"}[isAnchor], describeDS(usableDS, usableAnchors))
		return zs, nil
	}
	entryState := zoneState{name: zone, keys: entry, tags: keyTags(entry)}
	v, err := l.verifyRRset(set, sigs, &entryState)
	if err != nil {
		zs.sec = Bogus
		zs.reason = fmt.Sprintf("DNSKEY set of zone %s is not signed by the key its %s names: %v", zone, map[bool]string{true: "trust anchor", false: "DS"}[isAnchor], err)
		return zs, nil
	}
	for _, k := range all {
		if usableKey(k) {
			zs.keys = append(zs.keys, k)
		}
	}
	zs.tags = keyTags(zs.keys)
	zs.sec = Secure
	zs.expires = v.expires
	return zs, nil
}

func keyTags(keys []*dns.DNSKEY) []uint16 {
	out := make([]uint16, len(keys))
	for i, k := range keys {
		out[i] = k.KeyTag()
	}
	return out
}

// matchesAnchor reports whether k is named by one of ds or equals one of
// anchors.
func matchesAnchor(k *dns.DNSKEY, ds []*dns.DS, anchors []*dns.DNSKEY) bool {
	tag := k.KeyTag()
	for _, d := range ds {
		if d.KeyTag != tag || d.Algorithm != k.Algorithm {
			continue
		}
		if c := k.ToDS(d.DigestType); c != nil && strings.EqualFold(c.Digest, d.Digest) {
			return true
		}
	}
	for _, a := range anchors {
		if a.Algorithm == k.Algorithm && a.Flags == k.Flags && a.PublicKey == k.PublicKey {
			return true
		}
	}
	return false
}

func describeDS(ds []*dns.DS, keys []*dns.DNSKEY) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, fmt.Sprintf("DS %d %s digest %d", d.KeyTag, algName(d.Algorithm), d.DigestType))
	}
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("DNSKEY %d %s", k.KeyTag(), algName(k.Algorithm)))
	}
	return strings.Join(parts, ", ")
}

// step finds out what lies at name, one label below a zone cur already
// known: the DS query there, answered and signed by cur (RFC 4035
// section 5.2; RFC 5155 section 8.6 for NSEC3).
func (l *lookup) step(name string, cur *zoneState) (step, error) {
	l.v.mu.Lock()
	st, ok := l.v.steps[name]
	l.v.mu.Unlock()
	if ok && l.now.Before(st.expires) {
		l.expireBy(st.expires)
		return st, nil
	}
	before := l.expires
	l.expires = time.Time{}
	st, err := l.stepFresh(name, cur)
	if err != nil {
		l.expires = minTime(before, l.expires)
		return step{}, err
	}
	st.expires = l.expires
	if st.expires.IsZero() || st.kind == stepBogus {
		st.expires = minTime(st.expires, l.now.Add(badTTL))
	}
	l.expires = minTime(before, st.expires)
	l.v.mu.Lock()
	if len(l.v.steps) > maxMemo {
		l.v.steps = map[string]step{}
	}
	l.v.steps[name] = st
	l.v.mu.Unlock()
	return st, nil
}

func (l *lookup) stepFresh(name string, cur *zoneState) (step, error) {
	bogus := func(format string, args ...any) (step, error) {
		return step{kind: stepBogus, zone: zoneState{name: name, sec: Bogus, reason: fmt.Sprintf(format, args...)}}, nil
	}
	msg, err := l.query(name, dns.TypeDS)
	if err != nil {
		return step{}, err
	}
	if rrset := rrsetOf(msg.Answer, name, dns.TypeDS); len(rrset) > 0 {
		sigs := sigsOf(msg.Answer, name, dns.TypeDS)
		if _, err := l.verifyRRset(rrset, sigs, cur); err != nil {
			return bogus("DS of %s: %v", name, err)
		}
		var ds []*dns.DS
		for _, rr := range rrset {
			ds = append(ds, rr.(*dns.DS))
		}
		if z, ok := l.zoneMemo(name); ok {
			l.expireBy(z.expires)
			return step{kind: stepCut, zone: z}, nil
		}
		z, err := l.keysFor(name, ds, nil, false)
		if err != nil {
			return step{}, err
		}
		if z.sec == Secure {
			l.expireBy(z.expires)
		}
		l.rememberZone(z)
		return step{kind: stepCut, zone: z}, nil
	}
	if len(rrsetOf(msg.Answer, name, dns.TypeCNAME)) > 0 {
		// A CNAME owner cannot be a zone cut, and nothing exists below it.
		return step{kind: stepNX}, nil
	}
	d, err := l.denial(name, dns.TypeDS, msg, cur)
	if err != nil {
		return bogus("no DS at %s claimed without valid proof from zone %s: %v", name, cur.name, err)
	}
	switch {
	case d.insecure != "":
		return step{kind: stepInsecure, zone: zoneState{name: name, sec: Insecure, reason: d.insecure}}, nil
	case d.nx:
		return step{kind: stepNX}, nil
	case d.delegation:
		return step{kind: stepInsecure, zone: zoneState{name: name, sec: Insecure,
			reason: fmt.Sprintf("zone %s is delegated from %s without DS: unsigned", name, cur.name)}}, nil
	}
	return step{kind: stepNone}, nil
}

// rrsetOf returns the records of type t owned by name in section.
func rrsetOf(section []dns.RR, name string, t uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range section {
		h := rr.Header()
		if h.Rrtype == t && h.Class == dns.ClassINET && equalNames(h.Name, name) {
			out = append(out, rr)
		}
	}
	return out
}

// sigsOf returns the signatures in section over name's RRset of type t.
func sigsOf(section []dns.RR, name string, t uint16) []*dns.RRSIG {
	var out []*dns.RRSIG
	for _, rr := range section {
		if s, ok := rr.(*dns.RRSIG); ok && s.TypeCovered == t && equalNames(s.Hdr.Name, name) {
			out = append(out, s)
		}
	}
	return out
}

// signerOf picks the signer to validate sigs with: the deepest signer
// name that is at or above name (RFC 4035 section 5.3.1: a signer is
// the zone holding the data; anything else cannot have signed it).
func signerOf(sigs []*dns.RRSIG, name string) (string, bool) {
	best := ""
	for _, s := range sigs {
		sn := dns.CanonicalName(s.SignerName)
		if !inZone(name, sn) {
			continue
		}
		if best == "" || dns.CountLabel(sn) > dns.CountLabel(best) {
			best = sn
		}
	}
	return best, best != ""
}

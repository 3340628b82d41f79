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

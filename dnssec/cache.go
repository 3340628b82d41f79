package dnssec

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Store keeps cached DNS answers between runs, for example on disk. Its
// method set is that of discover.Cache (and autocert.Cache), so a
// discover.DirCache or MemCache serves. Keys are letters, digits, '.',
// '-', '_' and '+'. Any error from Get counts as a miss.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, data []byte) error
}

// DefaultMaxTTL caps how long any answer is cached.
const DefaultMaxTTL = 24 * time.Hour

// maxEntries bounds the answers a Cache holds in memory.
const maxEntries = 4096

// Cache is an Exchanger that answers from memory, then from its Store,
// and asks its Exchanger only for what is missing or expired: within
// their TTLs (RFC 1035, RFC 2308 for denials) a repeated lookup makes no
// query at all. It caches raw answers, signatures included, so a
// Validator in front of it validates them again when they are used: a
// Store that was tampered with can cause bogus answers, never secure
// ones. Errors, truncated answers and denials without an SOA record are
// not cached. A Cache is safe for concurrent use; do not change its
// fields after the first Exchange.
type Cache struct {
	// Exchanger answers what the cache does not hold; required.
	Exchanger Exchanger

	// Store, if set, keeps answers across runs.
	Store Store

	// Prefix begins every Store key. It should name the server and how
	// its answers are used, so that one server's answers (and the AD
	// bits it set) are never taken for another's.
	Prefix string

	// MaxTTL caps the TTL of every answer; 0 means DefaultMaxTTL.
	MaxTTL time.Duration

	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu  sync.Mutex
	mem map[cacheKey]*cacheEntry
}

type cacheKey struct {
	name  string
	qtype uint16
	cd    bool
}

type cacheEntry struct {
	msg     *dns.Msg
	at      time.Time
	expires time.Time
}

// stored is the form of an answer in the Store.
type stored struct {
	Version int       `json:"v"`
	At      time.Time `json:"at"`
	TTL     uint32    `json:"ttl"`
	Msg     []byte    `json:"msg"`
}

// networkKey carries a counter of the queries a Cache forwarded, so that
// a Validator can say whether an answer needed the network.
type networkKey struct{}

type networkCounter struct {
	mu sync.Mutex
	n  int
}

func (c *Cache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Exchange answers m from the cache or, failing that, its Exchanger.
func (c *Cache) Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	r, _, err := c.ExchangeCached(ctx, m)
	return r, err
}

// ExchangeCached is Exchange that also says whether the answer came from
// the cache (memory or Store) rather than the network.
func (c *Cache) ExchangeCached(ctx context.Context, m *dns.Msg) (*dns.Msg, bool, error) {
	if len(m.Question) != 1 {
		r, err := c.forward(ctx, m)
		return r, false, err
	}
	q := m.Question[0]
	k := cacheKey{dns.CanonicalName(q.Name), q.Qtype, m.CheckingDisabled}
	now := c.now()
	c.mu.Lock()
	e, ok := c.mem[k]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.aged(now, m.Id), true, nil
	}
	skey, persist := c.storeKey(k)
	if persist && c.Store != nil {
		if e, ok := c.load(ctx, skey, now); ok {
			c.remember(k, e)
			return e.aged(now, m.Id), true, nil
		}
	}
	r, err := c.forward(ctx, m)
	if err != nil {
		return nil, false, err
	}
	ttl := c.answerTTL(r, now)
	if ttl <= 0 {
		return r, false, nil
	}
	e = &cacheEntry{msg: r.Copy(), at: now, expires: now.Add(ttl)}
	c.remember(k, e)
	if persist && c.Store != nil {
		if wire, err := r.Pack(); err == nil {
			data, _ := json.Marshal(stored{Version: 1, At: now, TTL: uint32(ttl / time.Second), Msg: wire})
			c.Store.Put(ctx, skey, data) // a failed write costs only a later query
		}
	}
	return r, false, nil
}

func (c *Cache) forward(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	if nc, ok := ctx.Value(networkKey{}).(*networkCounter); ok {
		nc.mu.Lock()
		nc.n++
		nc.mu.Unlock()
	}
	return c.Exchanger.Exchange(ctx, m)
}

func (c *Cache) remember(k cacheKey, e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mem == nil {
		c.mem = map[cacheKey]*cacheEntry{}
	}
	if len(c.mem) >= maxEntries {
		now := c.now()
		for k, e := range c.mem {
			if !now.Before(e.expires) {
				delete(c.mem, k)
			}
		}
		if len(c.mem) >= maxEntries {
			c.mem = map[cacheKey]*cacheEntry{}
		}
	}
	c.mem[k] = e
}

func (c *Cache) load(ctx context.Context, key string, now time.Time) (*cacheEntry, bool) {
	data, err := c.Store.Get(ctx, key)
	if err != nil {
		return nil, false
	}
	var s stored
	if json.Unmarshal(data, &s) != nil || s.Version != 1 {
		return nil, false
	}
	exp := s.At.Add(time.Duration(s.TTL) * time.Second)
	if !now.Before(exp) || now.Before(s.At) {
		return nil, false
	}
	m := new(dns.Msg)
	if m.Unpack(s.Msg) != nil {
		return nil, false
	}
	return &cacheEntry{msg: m, at: s.At, expires: exp}, true
}

// storeKey is the Store key of k, and whether k may be stored at all
// (names with other characters than a key allows stay in memory).
func (c *Cache) storeKey(k cacheKey) (string, bool) {
	name := strings.TrimSuffix(k.name, ".")
	if name == "" {
		name = "."
	}
	for _, ch := range name {
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '-' || ch == '_') {
			return "", false
		}
	}
	t, ok := dns.TypeToString[k.qtype]
	if !ok {
		return "", false
	}
	if k.cd {
		t += "-cd"
	}
	return c.Prefix + "+" + t + "+" + name, true
}

// answerTTL is how long r may be cached: the smallest TTL of its
// records, for a denial the SOA's negative TTL (RFC 2308 section 5),
// never past a signature's expiration; 0 for what is not cached.
func (c *Cache) answerTTL(r *dns.Msg, now time.Time) time.Duration {
	if r.Truncated || (r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError) {
		return 0
	}
	maxTTL := c.MaxTTL
	if maxTTL <= 0 {
		maxTTL = DefaultMaxTTL
	}
	ttl := uint32(maxTTL / time.Second)
	negative := r.Rcode == dns.RcodeNameError || len(r.Answer) == 0
	sawSOA := false
	for _, sec := range [][]dns.RR{r.Answer, r.Ns} {
		for _, rr := range sec {
			ttl = min(ttl, rr.Header().Ttl)
			switch x := rr.(type) {
			case *dns.SOA:
				sawSOA = true
				ttl = min(ttl, x.Minttl)
			case *dns.RRSIG:
				exp := serialTime(x.Expiration, now.Unix()) - now.Unix()
				if exp <= 0 {
					return 0
				}
				if exp < int64(ttl) {
					ttl = uint32(exp)
				}
			}
		}
	}
	if negative && !sawSOA {
		return 0
	}
	return time.Duration(ttl) * time.Second
}

// aged is a copy of the cached answer with its TTLs lowered by the time
// spent in the cache, under the asker's ID.
func (e *cacheEntry) aged(now time.Time, id uint16) *dns.Msg {
	m := e.msg.Copy()
	m.Id = id
	age := uint32(now.Sub(e.at) / time.Second)
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			h := rr.Header()
			if h.Rrtype == dns.TypeOPT {
				continue
			}
			if h.Ttl > age {
				h.Ttl -= age
			} else {
				h.Ttl = 0
			}
		}
	}
	return m
}

// Package readcache keeps the results of a tenant's recent catalog reads (pages with their
// totals, facet counts) in process, each under the tenant's data version: a number in the
// tenant's schema that every write of the catalog raises in its own transaction. A reader
// reads the current version first and takes a result cached under that version: the result
// was computed from data read after that version was (so at least as new), and no write has
// committed since (it would have raised the version). A write on any replica therefore ends
// every replica's cached results of that tenant at once, with no message between them.
//
// Why: a portal asks the same few questions over and over (the catalog's first page and
// its facets, each time someone opens it), and answering them from Postgres costs a
// tenant transaction of several milliseconds and the decoding of every entity of the page.
//
// Fairness: one byte budget for the process, and each tenant may hold at most a quarter of
// it; a tenant over its share evicts its own oldest results, never another tenant's.
package readcache

import (
	"container/list"
	"sync"
)

// DefaultBytes is the process's budget when none is configured.
const DefaultBytes = 64 << 20

// Cache is safe for concurrent use. A nil *Cache caches nothing.
type Cache struct {
	mu      sync.Mutex
	max     int64
	share   int64
	used    int64
	all     *list.List // of *entry, most recently used first
	items   map[key]*list.Element
	tenants map[string]*tenant

	hits, misses int64
}

type key struct{ tenant, query string }

type entry struct {
	key     key
	version int64
	value   any
	size    int64
	mine    *list.Element // in its tenant's list
}

type tenant struct {
	used    int64
	entries *list.List // of *list.Element of all, most recently used first
	version int64      // the newest version of its entries
}

// New returns a cache of at most maxBytes (0: DefaultBytes; negative: none, New returns nil).
func New(maxBytes int64) *Cache {
	if maxBytes < 0 {
		return nil
	}
	if maxBytes == 0 {
		maxBytes = DefaultBytes
	}
	return &Cache{max: maxBytes, share: maxBytes / 4, all: list.New(), items: map[key]*list.Element{}, tenants: map[string]*tenant{}}
}

// Get returns the value cached for the tenant's query under version. A value cached under
// another version is dropped: versions only grow, so it cannot be asked for again.
func (c *Cache) Get(tenantID, query string, version int64) (any, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key{tenantID, query}]
	if !ok {
		c.misses++
		return nil, false
	}
	e := el.Value.(*entry)
	if e.version != version {
		c.remove(el)
		c.misses++
		return nil, false
	}
	c.all.MoveToFront(el)
	c.tenants[tenantID].entries.MoveToFront(e.mine)
	c.hits++
	return e.value, true
}

// Peek returns the version under which the tenant's query has a value cached, without
// counting a hit or a miss or marking it used: a reader may check that version against the
// current one before it takes the value with Get.
func (c *Cache) Peek(tenantID, query string) (int64, bool) {
	if c == nil {
		return 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key{tenantID, query}]
	if !ok {
		return 0, false
	}
	return el.Value.(*entry).version, true
}

// Put caches value, of about size bytes, for the tenant's query under version. The value
// must not change afterwards: every Get shares it. A value over the tenant's share is not
// kept.
func (c *Cache) Put(tenantID, query string, version int64, value any, size int64) {
	if c == nil || size > c.share {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := key{tenantID, query}
	if el, ok := c.items[k]; ok {
		if el.Value.(*entry).version > version {
			return // a newer result is already here
		}
		c.remove(el)
	}
	t := c.tenants[tenantID]
	if t == nil {
		t = &tenant{entries: list.New()}
		c.tenants[tenantID] = t
	}
	for t.used+size > c.share {
		c.remove(t.entries.Back().Value.(*list.Element))
	}
	for c.used+size > c.max {
		c.remove(c.all.Back())
	}
	if t = c.tenants[tenantID]; t == nil { // its last entry may just have gone
		t = &tenant{entries: list.New()}
		c.tenants[tenantID] = t
	}
	t.version = max(t.version, version)
	e := &entry{key: k, version: version, value: value, size: size}
	el := c.all.PushFront(e)
	e.mine = t.entries.PushFront(el)
	c.items[k] = el
	t.used += size
	c.used += size
}

// Version returns the newest data version under which the tenant has results cached, and
// false when it has none. A reader may look results up under it before it has read the
// current version, if it then checks in the same transaction that the version is still this
// one (versions only grow, so it is the current version or older).
func (c *Cache) Version(tenantID string) (int64, bool) {
	if c == nil {
		return 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tenants[tenantID]
	if t == nil {
		return 0, false
	}
	return t.version, true
}

// remove drops one entry; the caller holds mu.
func (c *Cache) remove(el *list.Element) {
	e := el.Value.(*entry)
	c.all.Remove(el)
	delete(c.items, e.key)
	c.used -= e.size
	t := c.tenants[e.key.tenant]
	t.entries.Remove(e.mine)
	if t.used -= e.size; t.entries.Len() == 0 {
		delete(c.tenants, e.key.tenant)
	}
}

// Stats are the cache's counters.
type Stats struct {
	Hits, Misses, Bytes int64
	Entries, Tenants    int
}

// Stats returns the counters so far.
func (c *Cache) Stats() Stats {
	if c == nil {
		return Stats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Hits: c.hits, Misses: c.misses, Bytes: c.used, Entries: len(c.items), Tenants: len(c.tenants)}
}

package store

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"atrium.dev/platform/authn"
	"atrium.dev/services/catalog/internal/entity"
	"github.com/jackc/pgx/v5"
)

// Encoder is one form in which a handler writes an entity (Backstage's JSON under a
// projection, a protobuf Struct): Name tells the forms apart in the read cache, so it must
// differ for every Encode whose output differs (it includes the projection's fields).
// Encode must not return nil for an entity (nil stands for none).
type Encoder struct {
	Name   string
	Encode func(entity.Entity) ([]byte, error)
	// Raw, when set, writes the same bytes as Encode of DecodeRaw's entity, straight from
	// the stored text. An error (text it does not handle) makes the store decode the entity
	// and call Encode, whose result and errors are then the answer.
	Raw func(Raw) ([]byte, error)
}

// encodeRaw encodes r through enc.Raw, or by decoding it when enc has none or it fails.
func encodeRaw(enc Encoder, r Raw) ([]byte, error) {
	if enc.Raw != nil {
		if b, err := enc.Raw(r); err == nil {
			return b, nil
		}
	}
	e, err := DecodeRaw(r)
	if err != nil {
		return nil, fmt.Errorf("store: load entities: %w", err)
	}
	return enc.Encode(e)
}

// maxPageForms bounds the forms one cached page keeps (its size is charged for them up
// front); a page asked for more encodes the others on every call.
const maxPageForms = 2

// maxPageAnswers bounds the whole answers one cached page keeps (AnswerPage; its size is
// charged for them up front), and maxPageSeen the calls it remembers having answered once.
const (
	maxPageAnswers = 2
	maxPageSeen    = 8
)

// pageForms keeps a cached page's entities encoded, per Encoder name, made on first use and
// shared by every later hit of the page: the page's entities never change, so neither do
// their encodings, nor a handler's whole answer of them.
type pageForms struct {
	mu      sync.Mutex
	forms   map[string][][]byte
	answers map[string][]byte
	seen    map[string]bool
	// decoded are the entities of a page cached as rows (Query.Encoded), decoded once for
	// the callers that read Page.Entities (the cached page's size counts them).
	decoded []entity.Entity
}

// entities returns the entities of raws, the page's rows, decoding them once per cached page.
func (f *pageForms) entities(raws []Raw) ([]entity.Entity, error) {
	if f == nil {
		return decodeRaws(raws)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.decoded == nil {
		d, err := decodeRaws(raws)
		if err != nil {
			return nil, err
		}
		f.decoded = d
	}
	return slices.Clone(f.decoded), nil
}

// EncodePage returns the page's entities in enc's form. A page from the read cache (or just
// put in it) keeps the result, so a repeated page is encoded once per data version.
func EncodePage(p Page, enc Encoder) ([][]byte, error) {
	f := p.forms
	if f != nil {
		f.mu.Lock()
		defer f.mu.Unlock()
		if out, ok := f.forms[enc.Name]; ok {
			return out, nil
		}
	}
	var out [][]byte
	if p.raws != nil {
		out = make([][]byte, len(p.raws))
		for i, r := range p.raws {
			b, err := encodeRaw(enc, r)
			if err != nil {
				return nil, err
			}
			out[i] = b
		}
	} else {
		out = make([][]byte, len(p.Entities))
		for i, e := range p.Entities {
			b, err := enc.Encode(e)
			if err != nil {
				return nil, err
			}
			out[i] = b
		}
	}
	if f != nil && len(f.forms) < maxPageForms {
		if f.forms == nil {
			f.forms = map[string][][]byte{}
		}
		f.forms[enc.Name] = out
	}
	return out, nil
}

// AnswerPage is the whole answer a handler kept for a page from the read cache under key,
// which must name everything the answer holds beside the page's entities and total (the
// encoder, the response's coding, the cursors, the fields written). Without one, keep is set
// when the handler should hand over the answer it builds: from the key's second call on a
// cached page, while the page holds fewer than maxPageAnswers. A page not from the read cache
// keeps nothing. So a page a portal asks for again and again (its first page, on every visit)
// is assembled and compressed once per data version, and a call made once costs nothing more.
func AnswerPage(p Page, key string) (answer []byte, keep func([]byte)) {
	f := p.forms
	if f == nil {
		return nil, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if b, ok := f.answers[key]; ok {
		return b, nil
	}
	if !f.seen[key] {
		if len(f.seen) < maxPageSeen {
			if f.seen == nil {
				f.seen = map[string]bool{}
			}
			f.seen[key] = true
		}
		return nil, nil
	}
	if len(f.answers) >= maxPageAnswers {
		return nil, nil
	}
	return nil, func(b []byte) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.answers) < maxPageAnswers {
			if f.answers == nil {
				f.answers = map[string][]byte{}
			}
			f.answers[key] = b
		}
	}
}

// GetEncodedByRefs is GetByRefsWhere returning each entity in enc's form (nil where no
// entity exists or, with a filter, where it does not match). With a read cache each entity's
// encoding is kept under the tenant's data version, keyed by its ref and enc.Name, so an
// entity read again before the next write costs a map lookup instead of its relations,
// decoding and encoding; the filter still runs in SQL for cached entities. Without a filter it
// costs one round trip (encodedByRefs).
func (s *Store) GetEncodedByRefs(ctx context.Context, refs []string, filter Expr, enc Encoder) ([][]byte, error) {
	out, _, err := s.getEncodedByRefs(ctx, refs, filter, enc)
	return out, err
}

// AnswerByRefs is GetEncodedByRefs for a handler that writes a whole answer from the
// entities' encodings, and may keep it: key must name everything the answer depends on (refs,
// filter, encoder, the response's coding). With a read cache, the answer of a call made twice
// under one data version is kept under it, and later repeats get it back as answer, at the
// cost of the version's round trip alone (a client repeating a by-refs of an entity page's
// relations, say, no longer pays for assembling and compressing the same bytes each time).
// Otherwise AnswerByRefs returns the items, and keep when the handler should hand it the
// answer it builds from them. The first time a call is seen only a mark is kept, so that
// calls never repeated (a script walking a catalog in batches) neither wait for a whole
// answer to be built before it is sent nor push the tenant's entities out of its share.
func (s *Store) AnswerByRefs(ctx context.Context, refs []string, filter Expr, enc Encoder, key string) (answer []byte, items [][]byte, keep func([]byte), err error) {
	sum := sha256.Sum256([]byte(key))
	whole, seen := "answer\x00"+string(sum[:]), "answer seen\x00"+string(sum[:])
	if v, ok, err := s.fresh(ctx, whole); err != nil || ok {
		if err != nil {
			return nil, nil, nil, err
		}
		return v.([]byte), nil, nil, nil
	}
	items, version, err := s.getEncodedByRefs(ctx, refs, filter, enc)
	if err != nil || version < 0 {
		return nil, items, nil, err
	}
	id, _ := s.caching(ctx)
	if _, again := s.cache.Get(id.Schema, seen, version); !again {
		s.keep(ctx, seen, version, true, int64(len(seen))+64)
		return nil, items, nil, nil
	}
	return nil, items, func(b []byte) { s.keep(ctx, whole, version, b, int64(cap(b)+len(whole))+64) }, nil
}

// getEncodedByRefs is GetEncodedByRefs and the data version its answer was read after (-1
// when it read none: no read cache).
func (s *Store) getEncodedByRefs(ctx context.Context, refs []string, filter Expr, enc Encoder) ([][]byte, int64, error) {
	out := make([][]byte, len(refs))
	if len(refs) == 0 {
		return out, -1, nil
	}
	if filter == nil {
		return s.encodedByRefs(ctx, refs, enc)
	}
	id, useCache := s.caching(ctx)
	var (
		version int64
		keep    []string
	)
	found := make(map[string][]byte, len(refs))
	err := s.shards.InReadTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		// encode loads refs that match the filter and encodes them into found.
		encode := func(refs []string) error {
			raws, err := loadRawByRefs(ctx, tx, refs, filter)
			if err != nil {
				return err
			}
			for _, r := range raws {
				if found[r.Ref], err = encodeRaw(enc, r); err != nil {
					return err
				}
				keep = append(keep, r.Ref)
			}
			return nil
		}
		if !useCache {
			return encode(refs)
		}
		// The version first, then the filter over cached and loaded refs: what is loaded is
		// at least as new as the version it is cached under.
		if err := tx.QueryRow(ctx, versionSQL).Scan(&version); err != nil {
			return fmt.Errorf("store: data version: %w", err)
		}
		hits, missing := s.lookupEncoded(id, refs, enc, version, true, found)
		if len(hits) > 0 {
			if err := dropUnmatched(ctx, tx, hits, filter, found); err != nil {
				return err
			}
		}
		if len(missing) > 0 {
			return encode(missing)
		}
		return nil
	})
	if err != nil {
		return nil, -1, err
	}
	for i, r := range refs {
		out[i] = found[r]
	}
	if !useCache {
		return out, -1, nil
	}
	s.keepEncoded(id, enc, version, keep, found)
	return out, version, nil
}

// encodedByRefs is GetEncodedByRefs without a filter, in one round trip. The refs are looked
// up under the newest version the cache holds for the tenant; when every one is there, the
// current version alone is read (tenantdb.ReadInt), else the others are loaded with it
// (loadEncoded, one pipelined transaction). When the version moved on since what was found
// was cached, everything is loaded again, so that the answer is one version's.
func (s *Store) encodedByRefs(ctx context.Context, refs []string, enc Encoder) ([][]byte, int64, error) {
	id, useCache := s.caching(ctx)
	var (
		guess int64
		known bool
	)
	if useCache {
		guess, known = s.cache.Version(id.Schema)
	}
	found := make(map[string][]byte, len(refs))
	hits, missing := s.lookupEncoded(id, refs, enc, guess, known, found)
	var (
		version int64
		err     error
	)
	if len(missing) == 0 {
		version, err = s.shards.ReadInt(ctx, versionSQL)
		if err != nil {
			return nil, -1, fmt.Errorf("store: data version: %w", err)
		}
	} else if version, err = s.loadEncoded(ctx, missing, enc, found); err != nil {
		return nil, -1, err
	}
	loaded := missing
	if len(hits) > 0 && version != guess { // a write since: what was found is stale
		loaded = append(hits, missing...)
		clear(found)
		if version, err = s.loadEncoded(ctx, loaded, enc, found); err != nil {
			return nil, -1, err
		}
	}
	out := make([][]byte, len(refs))
	for i, r := range refs {
		out[i] = found[r]
	}
	if !useCache {
		return out, -1, nil
	}
	s.keepEncoded(id, enc, version, loaded, found)
	return out, version, nil
}

// lookupEncoded takes what the cache holds for refs' encodings under version into found
// (nothing unless known: the tenant has something cached); it returns the refs found and the
// others, each once.
func (s *Store) lookupEncoded(id *authn.Identity, refs []string, enc Encoder, version int64, known bool, found map[string][]byte) (hits, missing []string) {
	seen := make(map[string]bool, len(refs))
	for _, r := range refs {
		if seen[r] {
			continue
		}
		seen[r] = true
		if known {
			if b, ok := s.cache.Get(id.Schema, encodedKey(enc.Name, r), version); ok {
				found[r] = b.([]byte)
				hits = append(hits, r)
				continue
			}
		}
		missing = append(missing, r)
	}
	return hits, missing
}

// loadEncoded loads refs (without a filter) and the tenant's data version in one pipelined
// transaction (tenantdb.InReadBatch: one round trip), the version first, so that the rows are
// at least as new as it; it encodes what it finds into found and returns the version.
func (s *Store) loadEncoded(ctx context.Context, refs []string, enc Encoder, found map[string][]byte) (int64, error) {
	sql, args, err := byRefsQuery(refs, nil)
	if err != nil {
		return 0, err
	}
	var version int64
	b := &pgx.Batch{}
	b.Queue(versionSQL).QueryRow(func(row pgx.Row) error { return row.Scan(&version) })
	// Each entity is encoded as its row arrives, while Postgres prints the next ones' bodies:
	// on a miss of 100 refs the two took about as long as each other, one after the other.
	var encErr error
	b.Queue(sql, args...).Query(func(rows pgx.Rows) error {
		return eachByRefs(rows, func(r Raw) error {
			found[r.Ref], encErr = encodeRaw(enc, r)
			return encErr
		})
	})
	if err := s.shards.InReadBatch(ctx, b); err != nil {
		if encErr != nil {
			return 0, encErr
		}
		return 0, fmt.Errorf("store: load entities: %w", err)
	}
	return version, nil
}

// keepEncoded caches the encodings in found of the refs loaded under version.
func (s *Store) keepEncoded(id *authn.Identity, enc Encoder, version int64, loaded []string, found map[string][]byte) {
	for _, r := range loaded {
		if b, ok := found[r]; ok && b != nil {
			key := encodedKey(enc.Name, r)
			s.cache.Put(id.Schema, key, version, b, int64(cap(b)+len(key))+64)
		}
	}
}

// dropUnmatched removes from found the refs of hits whose entities do not match filter.
func dropUnmatched(ctx context.Context, tx pgx.Tx, hits []string, filter Expr, found map[string][]byte) error {
	var b sqlb
	refsArg := b.arg(hits)
	c, err := b.cond(filter)
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `SELECT e.ref FROM catalog_entities e WHERE e.ref = ANY(`+refsArg+`) AND `+c, customPlan(b.args)...)
	if err != nil {
		return fmt.Errorf("store: match entities: %w", err)
	}
	matched := make(map[string]bool, len(hits))
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			rows.Close()
			return fmt.Errorf("store: match entities: %w", err)
		}
		matched[r] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: match entities: %w", err)
	}
	for _, r := range hits {
		if !matched[r] {
			found[r] = nil
		}
	}
	return nil
}

// encodedKey is the read cache's key of one entity's encoding; it cannot collide with a
// list's or facets' key (those start with their kind), nor two names and refs with another.
func encodedKey(name, ref string) string {
	return "entity\x00" + strconv.Itoa(len(name)) + "\x00" + name + ref
}

package store

import (
	"context"
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

// pageForms keeps a cached page's entities encoded, per Encoder name, made on first use and
// shared by every later hit of the page: the page's entities never change, so neither do
// their encodings.
type pageForms struct {
	mu    sync.Mutex
	forms map[string][][]byte
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

// GetEncodedByRefs is GetByRefsWhere returning each entity in enc's form (nil where no
// entity exists or, with a filter, where it does not match). With a read cache each entity's
// encoding is kept under the tenant's data version, keyed by its ref and enc.Name, so an
// entity read again before the next write costs a map lookup instead of its relations,
// decoding and encoding; the filter still runs in SQL for cached entities.
//
// Without a filter it costs one query, as without the cache: the refs are looked up under
// the newest version the cache holds for the tenant, and the query that loads the others
// returns the current version with them (or, when every ref was found, is only the
// version); when the version moved on, what was found is loaded again.
func (s *Store) GetEncodedByRefs(ctx context.Context, refs []string, filter Expr, enc Encoder) ([][]byte, error) {
	out := make([][]byte, len(refs))
	if len(refs) == 0 {
		return out, nil
	}
	id, idOK := authn.FromContext(ctx)
	useCache := s.cache != nil && idOK
	type loaded struct {
		key string
		b   []byte
	}
	var (
		version int64
		keep    []loaded
	)
	err := s.shards.InReadTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		found := make(map[string][]byte, len(refs))
		// encode loads refs and encodes what it finds into found, returning the data
		// version its query read (-1 when it found nothing).
		encode := func(refs []string, filter Expr) (int64, error) {
			raws, v, err := loadRawByRefs(ctx, tx, refs, filter, useCache)
			if err != nil {
				return 0, err
			}
			for _, r := range raws {
				b, err := encodeRaw(enc, r)
				if err != nil {
					return 0, err
				}
				found[r.Ref] = b
				if useCache {
					keep = append(keep, loaded{encodedKey(enc.Name, r.Ref), b})
				}
			}
			return v, nil
		}
		if !useCache {
			_, err := encode(refs, filter)
			if err == nil {
				for i, r := range refs {
					out[i] = found[r]
				}
			}
			return err
		}
		guess, known := s.cache.Version(id.Schema)
		if filter != nil { // the version first, then the filter over cached and loaded refs
			if err := tx.QueryRow(ctx, `SELECT data_version FROM catalog_state`).Scan(&version); err != nil {
				return fmt.Errorf("store: data version: %w", err)
			}
			guess, known = version, true
		}
		var hits, missing []string
		seen := make(map[string]bool, len(refs))
		for _, r := range refs {
			if seen[r] {
				continue
			}
			seen[r] = true
			if known {
				if v, ok := s.cache.Get(id.Schema, encodedKey(enc.Name, r), guess); ok {
					found[r] = v.([]byte)
					hits = append(hits, r)
					continue
				}
			}
			missing = append(missing, r)
		}
		if filter != nil {
			if len(hits) > 0 {
				if err := dropUnmatched(ctx, tx, hits, filter, found); err != nil {
					return err
				}
			}
			if len(missing) > 0 {
				if _, err := encode(missing, filter); err != nil {
					return err
				}
			}
		} else {
			version = -1
			if len(missing) > 0 {
				v, err := encode(missing, nil)
				if err != nil {
					return err
				}
				version = v
			}
			if version < 0 {
				if err := tx.QueryRow(ctx, `SELECT data_version FROM catalog_state`).Scan(&version); err != nil {
					return fmt.Errorf("store: data version: %w", err)
				}
			}
			if len(hits) > 0 && version != guess { // a write since: what was found is stale
				for _, r := range hits {
					delete(found, r)
				}
				if _, err := encode(hits, nil); err != nil {
					return err
				}
			}
		}
		for i, r := range refs {
			out[i] = found[r]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, l := range keep {
		s.cache.Put(id.Schema, l.key, version, l.b, int64(cap(l.b)+len(l.key))+64)
	}
	return out, nil
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

package service

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/catalog/internal/bundle"
	"atrium.dev/services/catalog/internal/entity"
	"atrium.dev/services/catalog/internal/ingest"
	"atrium.dev/services/catalog/internal/source"
	"atrium.dev/services/catalog/internal/store"
)

// Backstage's annotations for entities that come from a Location.
const (
	AnnotationOrphan = "backstage.io/orphan"
	maxTargetLength  = 2048
)

// Sources registers Locations and refreshes them: the work behind the REST Locations API,
// LocationService and the source worker.
type Sources struct {
	catalog *Catalog
	store   *store.Store
	fetch   *source.Fetcher
	secrets *Secrets
	limits  bundle.Limits
	// checked remembers when each location was last checked, so a refresh that finds
	// nothing new needs no write (see store.Location.RefreshedAt).
	checked sync.Map // location id -> time.Time
}

// NewSources returns the Locations service core.
func NewSources(c *Catalog, st *store.Store, f *source.Fetcher, secrets *Secrets) *Sources {
	return &Sources{catalog: c, store: st, fetch: f, secrets: secrets, limits: bundle.DefaultLimits}
}

// SetLimits sets the bounds of reading one Location (zero fields: bundle.DefaultLimits).
func (s *Sources) SetLimits(l bundle.Limits) { s.limits = l }

// Secrets returns the sealer (nil without a key).
func (s *Sources) Secrets() *Secrets { return s.secrets }

// Policy is the tenant's ingestion policy for entities from files.
func (s *Sources) Policy(ctx context.Context) (*entity.Policy, error) {
	return s.catalog.Policy(ctx, false)
}

// Store returns the store.
func (s *Sources) Store() *store.Store { return s.store }

// CheckedAt is when this process last checked a location (zero: not since it started).
func (s *Sources) CheckedAt(id string) time.Time {
	if v, ok := s.checked.Load(id); ok {
		return v.(time.Time)
	}
	return time.Time{}
}

// LocationEntityName is Backstage's name for a location's generated Location entity.
func LocationEntityName(typ, target string) string {
	sum := sha1.Sum([]byte(typ + ":" + target))
	return "generated-" + hex.EncodeToString(sum[:])
}

// LocationEntityRef is the ref of that entity.
func LocationEntityRef(typ, target string) string {
	return "location:default/" + LocationEntityName(typ, target)
}

// CheckInput validates a location input as Backstage does (type "url", an http(s) target).
func CheckInput(typ, target string) (source.Target, error) {
	if typ != "url" {
		return source.Target{}, rpcerr.InvalidField("type", "Registered locations must be of type 'url'")
	}
	if target == "" {
		return source.Target{}, rpcerr.InvalidField("target", "must not be empty")
	}
	if len(target) > maxTargetLength {
		return source.Target{}, rpcerr.InvalidField("target", fmt.Sprintf("at most %d characters", maxTargetLength))
	}
	t, err := source.ParseTarget(target)
	if err != nil {
		return t, rpcerr.InvalidField("target", err.Error())
	}
	return t, nil
}

// locationEntity is the Location entity Backstage generates for a registered location.
func locationEntity(typ, target string) entity.Entity {
	ref := typ + ":" + target
	return entity.Entity{
		"apiVersion": "backstage.io/v1alpha1",
		"kind":       "Location",
		"metadata": map[string]any{
			"name":      LocationEntityName(typ, target),
			"namespace": "default",
			"annotations": map[string]any{
				bundle.AnnotationLocation:       ref,
				bundle.AnnotationOriginLocation: ref,
			},
		},
		"spec": map[string]any{"type": typ, "target": target},
	}
}

// Read is what reading a location yields.
type Read struct {
	Snapshot *source.Snapshot
	Docs     []ingest.Doc
	Drafts   []store.Draft
	Kept     []ingest.Doc
	Problems []rpcerr.Violation
	Skipped  []bundle.Skipped
	// Revision is what the refresh stores: the registered source's revision, then those of
	// the other sources its Locations named.
	Revision string
	// keep: location refs whose stored entities are not orphaned; noOrphans: none is.
	keep      []string
	noOrphans bool
}

// auth returns the tenant's credential for a host.
func (s *Sources) auth(ctx context.Context) source.Auth {
	return func(host string) (string, error) {
		sealed, err := s.store.SealedCredential(ctx, host)
		if err != nil || sealed == nil {
			return "", err
		}
		id, _ := authn.FromContext(ctx)
		return s.secrets.Open(id.Schema, host, sealed)
	}
}

// maxRemoteSources bounds the other repositories and URLs one Location's files may name
// (each is one more fetch of the refresh), and maxRemoteDepth how far such targets chain.
const (
	maxRemoteSources = 20
	maxRemoteDepth   = 3
)

// read fetches a target and validates its entities one by one, following Location targets in
// other repositories and URLs as Backstage does (each is fetched with the tenant's
// credentials and the same outbound policy). known is the revision already imported
// (source.ErrNotModified when neither the target nor any source it names has changed).
func (s *Sources) read(ctx context.Context, typ, target, known string) (*Read, error) {
	t, err := CheckInput(typ, target)
	if err != nil {
		return nil, err
	}
	rootKnown, remoteKnown := splitRevision(known)
	auth := s.auth(ctx)
	snap, err := s.fetch.Fetch(ctx, t, auth, rootKnown)
	if errors.Is(err, source.ErrNotModified) && len(remoteKnown) > 0 {
		// The root is unchanged; read it again only when a source it names has changed.
		if s.remotesUnchanged(ctx, remoteKnown, auth) {
			return &Read{Snapshot: snap}, err
		}
		snap, err = s.fetch.Fetch(ctx, t, auth, "")
	}
	if err != nil {
		return &Read{Snapshot: snap}, err
	}
	roots := snap.Roots()
	if len(roots) == 0 {
		return nil, fmt.Errorf("no file in %s matches %s", t.Repo, t.Path)
	}
	// One file named by the target: when it cannot be read the refresh fails as a whole (and
	// keeps what it imported before). A glob's files are reported one by one.
	if !t.IsGlob() {
		if _, err := snap.Read(roots[0]); err != nil {
			return nil, fmt.Errorf("%s: %w", target, err)
		}
	}
	res, err := s.resolve(ctx, snap, roots, nil)
	if err != nil {
		return nil, err
	}
	revision := snap.Revision
	// Targets in other sources, breadth first: each source is read once (a cycle or a second
	// mention is reported as already read), within maxRemoteSources and maxRemoteDepth.
	seen := map[string]bool{sourceKey(t): true}
	pending := res.Remote
	res.Remote = nil
	var remoteRevs []string
	for depth := 1; len(pending) > 0; depth++ {
		var next []bundle.Remote
		for _, rt := range pending {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			rtgt, err := source.ParseTarget(rt.Target)
			switch {
			case err != nil:
				res.Problems = append(res.Problems, rpcerr.Violation{Field: rt.Field, Description: err.Error()})
				continue
			case seen[sourceKey(rtgt)]:
				res.Skipped = append(res.Skipped, bundle.Skipped{Location: rt.File, Target: rt.Target, Reason: "already read"})
				continue
			case depth > maxRemoteDepth:
				res.Problems = append(res.Problems, rpcerr.Violation{Field: rt.Field, Description: fmt.Sprintf("not read: Locations in other repositories chain more than %d deep", maxRemoteDepth)})
				continue
			case len(seen) > maxRemoteSources:
				res.Problems = append(res.Problems, rpcerr.Violation{Field: rt.Field, Description: fmt.Sprintf("not read: the Location names more than %d other repositories or URLs", maxRemoteSources)})
				continue
			}
			seen[sourceKey(rtgt)] = true
			rsnap, err := s.fetch.Fetch(ctx, rtgt, auth, "")
			if err != nil {
				res.Problems = append(res.Problems, rpcerr.Violation{Field: rt.Field, Description: strings.TrimPrefix(err.Error(), "source: ")})
				continue
			}
			remoteRevs = append(remoteRevs, rt.Target+"\t"+rsnap.Revision)
			rroots := rsnap.Roots()
			if len(rroots) == 0 {
				res.Problems = append(res.Problems, rpcerr.Violation{Field: rt.Field, Description: fmt.Sprintf("no file in %s matches %s", rtgt.Repo, rtgt.Path)})
				continue
			}
			if _, err := rsnap.Read(rroots[0]); err != nil && !rtgt.IsGlob() {
				res.Problems = append(res.Problems, rpcerr.Violation{Field: rt.Field, Description: err.Error()})
				continue
			}
			sub, err := s.resolve(ctx, rsnap, rroots, rtgt.FileURL)
			if err != nil {
				if rpcerr.KindOf(err) == kindNone {
					return nil, err // the caller is gone
				}
				res.Problems = append(res.Problems, rpcerr.Violation{Field: rt.Field, Description: err.Error()})
				continue
			}
			for _, d := range sub.Docs {
				d.Index = len(res.Docs)
				res.Docs = append(res.Docs, d)
			}
			res.Problems = append(res.Problems, sub.Problems...)
			res.Skipped = append(res.Skipped, sub.Skipped...)
			if sub.Truncated {
				snap.Truncated = true
			}
			next = append(next, sub.Remote...)
		}
		pending = next
	}
	if len(remoteRevs) > 0 {
		revision += "\n" + strings.Join(remoteRevs, "\n")
	}
	if snap.Truncated {
		res.Problems = append(res.Problems, rpcerr.Violation{Field: "target", Description: fmt.Sprintf(
			"the repository has more than %d files; only the first %d were looked at, and no entity was marked an orphan", source.MaxTreeFiles, source.MaxTreeFiles)})
	}
	origin := typ + ":" + target
	docs := make([]ingest.Doc, 0, len(res.Docs)+1)
	docs = append(docs, ingest.Doc{Index: 0, Path: "location", Entity: locationEntity(typ, target)})
	for _, d := range res.Docs {
		// Every entity's origin is the registered location, as in Backstage.
		if meta, ok := d.Entity["metadata"].(map[string]any); ok {
			if ann, ok := meta["annotations"].(map[string]any); ok {
				ann[bundle.AnnotationOriginLocation] = origin
			}
		}
		d.Index = len(docs)
		docs = append(docs, d)
	}
	pol, err := s.catalog.Policy(ctx, false)
	if err != nil {
		return nil, err
	}
	drafts, kept, problems := ingest.PrepareEach(docs, pol)
	rd := &Read{Snapshot: snap, Revision: revision, Docs: docs, Drafts: drafts, Kept: kept, Problems: append(res.Problems, problems...), Skipped: res.Skipped}
	ref := snap.Ref
	rd.keep, rd.noOrphans = keepOnProblems(rd.Problems, func(p string) string {
		if isURL(p) {
			return "url:" + p
		}
		return "url:" + t.FileURL(ref, p)
	})
	rd.noOrphans = rd.noOrphans || snap.Truncated
	return rd, nil
}

// resolved is one source's resolution.
type resolved struct {
	bundle.Result
	Truncated bool
}

// resolve reads a snapshot's entities from its roots. fileURL, for a source other than the
// registered one, names its files by URL in the problems and document paths (a path alone
// would be ambiguous beside the registered repository's).
func (s *Sources) resolve(ctx context.Context, snap *source.Snapshot, roots []string, fileURL func(ref, p string) string) (*resolved, error) {
	t, ref := snap.Target, snap.Ref
	res, err := bundle.ResolveWith(ctx, nil, roots, s.limits, bundle.Options{
		Lenient:       true,
		BoundsPerItem: true,
		FollowRemote:  true,
		Source:        snap,
		LocationRef:   func(p string) string { return "url:" + t.FileURL(ref, p) },
		Local:         t.Local(ref),
	})
	if err != nil {
		return nil, err
	}
	if fileURL != nil {
		name := func(p string) string { return fileURL(ref, p) }
		for i := range res.Docs {
			res.Docs[i].Path = rebaseField(res.Docs[i].Path, name)
		}
		for i := range res.Problems {
			res.Problems[i].Field = rebaseField(res.Problems[i].Field, name)
		}
		for i := range res.Remote {
			res.Remote[i].Field = rebaseField(res.Remote[i].Field, name)
			res.Remote[i].File = name(res.Remote[i].File)
		}
		for i := range res.Skipped {
			res.Skipped[i].Location = name(res.Skipped[i].Location)
		}
	}
	return &resolved{Result: res, Truncated: snap.Truncated}, nil
}

// rebaseField renames the file of a field path files["<path>"]....
func rebaseField(field string, name func(string) string) string {
	rest, ok := strings.CutPrefix(field, "files[")
	if !ok {
		return field
	}
	q, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return field
	}
	p, _ := strconv.Unquote(q)
	return fmt.Sprintf("files[%q]", name(p)) + rest[len(q):]
}

func isURL(s string) bool { return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://") }

// sourceKey identifies what one fetch reads (a repository at a ref and path, or a URL).
func sourceKey(t source.Target) string {
	if !t.Git {
		return t.Raw
	}
	return strings.TrimSuffix(t.Repo, ".git") + "@" + t.Ref + ":" + t.Path
}

// splitRevision reads a stored revision: the registered source's, then one line per other
// source ("<target>\t<revision>").
func splitRevision(rev string) (string, map[string]string) {
	lines := strings.Split(rev, "\n")
	var remote map[string]string
	for _, l := range lines[1:] {
		if tgt, r, ok := strings.Cut(l, "\t"); ok {
			if remote == nil {
				remote = map[string]string{}
			}
			remote[tgt] = r
		}
	}
	return lines[0], remote
}

// remotesUnchanged checks the other sources a Location read last time (a ref listing or a
// conditional GET each); any change or failure means the Location is read again.
func (s *Sources) remotesUnchanged(ctx context.Context, known map[string]string, auth source.Auth) bool {
	for tgt, rev := range known {
		t, err := source.ParseTarget(tgt)
		if err != nil {
			return false
		}
		if _, err := s.fetch.Fetch(ctx, t, auth, rev); !errors.Is(err, source.ErrNotModified) {
			return false
		}
	}
	return true
}

// keepOnProblems says which stored entities a refresh with problems must not mark as
// orphans, as Backstage keeps what a failed processing step emitted before: the entities of
// a file with a problem (an entity that is invalid now keeps its last good version), and,
// when a whole file or a Location target could not be read (what it yields is unknown),
// every entity.
func keepOnProblems(vs []rpcerr.Violation, locationRef func(string) string) (keep []string, all bool) {
	seen := map[string]bool{}
	for _, v := range vs {
		p := ProblemOf(v)
		if p.File == "" || !p.HasDocument || strings.HasPrefix(p.Field, "spec.target") {
			all = true
			continue
		}
		if ref := locationRef(p.File); !seen[ref] {
			seen[ref] = true
			keep = append(keep, ref)
		}
	}
	return keep, all
}

// DryRun reads a target and reports what registering it would import, writing nothing.
func (s *Sources) DryRun(ctx context.Context, typ, target string) (*Read, bool, error) {
	existing, _, err := s.store.ListLocations(ctx, store.LocationQuery{Type: typ, Target: target, Limit: 1})
	if err != nil {
		return nil, false, err
	}
	r, err := s.read(ctx, typ, target, "")
	if err != nil {
		return nil, false, fetchFailed(err)
	}
	return r, len(existing) > 0, nil
}

// fetchFailed turns a fetch error into InvalidArgument (the caller named a target that cannot
// be read), keeping errors that already carry a kind.
func fetchFailed(err error) error {
	if rpcerr.KindOf(err) != kindNone {
		return err
	}
	return rpcerr.InvalidField("target", err.Error())
}

// Create registers a location and refreshes it once (its outcome is on the location).
func (s *Sources) Create(ctx context.Context, typ, target string) (store.Location, *RefreshResult, error) {
	if _, err := CheckInput(typ, target); err != nil {
		return store.Location{}, nil, err
	}
	loc, err := s.store.CreateLocation(ctx, typ, target, LocationEntityRef(typ, target))
	if err != nil {
		return loc, nil, err
	}
	res, err := s.Refresh(ctx, loc.ID, true)
	if err != nil && rpcerr.KindOf(err) == kindNone {
		err = nil // recorded on the location
	}
	if res != nil {
		loc = res.Location
	}
	return loc, res, err
}

// RefreshResult is the outcome of one refresh.
type RefreshResult struct {
	Location    store.Location
	NotModified bool
	Outcome     store.RefreshOutcome
	Err         error
}

// Refresh fetches a location and writes what changed. force reads even when the source's
// revision is the one imported.
func (s *Sources) Refresh(ctx context.Context, id string, force bool) (*RefreshResult, error) {
	loc, err := s.store.GetLocation(ctx, id)
	if err != nil {
		return nil, err
	}
	known := ""
	if !force && loc.LastError == "" {
		known = loc.Revision
	}
	now := time.Now()
	r, err := s.read(ctx, loc.Type, loc.Target, known)
	s.checked.Store(id, now)
	if errors.Is(err, source.ErrNotModified) {
		return &RefreshResult{Location: loc, NotModified: true}, nil
	}
	if err != nil {
		if rerr := s.store.RecordLocationFailure(ctx, id, err.Error()); rerr != nil {
			return nil, rerr
		}
		loc, _ = s.store.GetLocation(ctx, id)
		return &RefreshResult{Location: loc, Err: err}, err
	}
	var problems []store.Problem
	for _, v := range r.Problems {
		p := ProblemOf(v)
		sp := store.Problem{File: p.File, Field: p.Field, Message: p.Message}
		if p.HasDocument {
			d := int(p.Document)
			sp.Document = &d
		}
		problems = append(problems, sp)
	}
	for _, sk := range r.Skipped {
		problems = append(problems, store.Problem{File: sk.Location, Message: "target " + sk.Target + " not read: " + sk.Reason})
	}
	out, err := s.store.ApplyLocationRefresh(ctx, store.LocationRefresh{
		LocationID: id, Drafts: r.Drafts, Revision: r.Revision, Problems: problems,
		Orphan: orphanDraft, EntityLimit: s.catalog.limit(ctx), KeepLocations: r.keep, KeepAll: r.noOrphans,
	})
	if err != nil {
		if rpcerr.KindOf(err) == rpcerr.KindResourceExhausted {
			_ = s.store.RecordLocationFailure(ctx, id, err.Error())
		}
		return nil, err
	}
	loc, err = s.store.GetLocation(ctx, id)
	if err != nil {
		return nil, err
	}
	s.catalog.noteWrites(ctx, changed(out))
	return &RefreshResult{Location: loc, Outcome: out}, nil
}

// kindNone is the kind of an error that carries none (an internal or fetch error).
const kindNone rpcerr.Kind = 0

func changed(o store.RefreshOutcome) int {
	n := len(o.Orphaned)
	for _, r := range o.Results {
		if r.Action == store.Created || r.Action == store.Updated {
			n++
		}
	}
	return n
}

// orphanDraft marks a stored entity the location no longer yields, as Backstage does.
func orphanDraft(e entity.Entity) (store.Draft, bool, error) {
	if e.Annotations()[AnnotationOrphan] == "true" {
		return store.Draft{}, false, nil
	}
	e = entity.Normalize(e)
	meta, _ := e["metadata"].(map[string]any)
	ann, ok := meta["annotations"].(map[string]any)
	if !ok {
		ann = map[string]any{}
		meta["annotations"] = ann
	}
	ann[AnnotationOrphan] = "true"
	edges, _ := entity.DeriveEdges(e)
	return ingest.Draft(e, e.Ref().String(), edges), true, nil
}

// Delete unregisters a location: its Location entity goes, the entities it yielded stay as
// orphans.
func (s *Sources) Delete(ctx context.Context, id string) ([]string, error) {
	loc, err := s.store.GetLocation(ctx, id)
	if err != nil {
		return nil, err
	}
	out, err := s.store.ApplyLocationRefresh(ctx, store.LocationRefresh{LocationID: id, Revision: loc.Revision, Orphan: orphanDraft})
	if err != nil {
		return nil, err
	}
	if err := s.store.DeleteLocation(ctx, id); err != nil {
		return nil, err
	}
	if e, err := s.store.GetByRef(ctx, loc.EntityRef); err == nil {
		if err := s.store.Delete(ctx, e.UID()); err != nil && rpcerr.KindOf(err) != rpcerr.KindNotFound {
			return nil, err
		}
	}
	s.checked.Delete(id)
	var orphaned []string
	for _, r := range out.Orphaned {
		if r != strings.ToLower(loc.EntityRef) {
			orphaned = append(orphaned, r)
		}
	}
	return orphaned, nil
}

// Update changes a location's target; the next refresh reads it.
func (s *Sources) Update(ctx context.Context, id, typ, target string) (store.Location, error) {
	if _, err := CheckInput(typ, target); err != nil {
		return store.Location{}, err
	}
	loc, err := s.store.UpdateLocation(ctx, id, typ, target, LocationEntityRef(typ, target))
	if err != nil {
		return loc, err
	}
	res, err := s.Refresh(ctx, id, true)
	if err == nil && res != nil {
		loc = res.Location
	}
	return loc, nil
}

// Package bundle reads a set of catalog files as Backstage reads a repository: it starts from
// root files, follows kind: Location targets relative to the file naming them, resolves
// $text/$json/$yaml placeholders, and stamps every entity with the location it came from. It
// only reads the files it was given: remote targets are reported as skipped, and no path may
// leave the bundle.
package bundle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/catalog/internal/entity"
	"atrium.dev/services/catalog/internal/ingest"
	"atrium.dev/services/catalog/internal/yamldoc"
)

// Backstage's location annotations.
const (
	AnnotationLocation       = "backstage.io/managed-by-location"
	AnnotationOriginLocation = "backstage.io/managed-by-origin-location"
)

// Limits of one bundle. A zero field takes its value from DefaultLimits.
//
// Placeholders and Location targets let a small request name a lot of work: one file
// substituted into many entities multiplies what is stored, and every glob target is matched
// against every file. The bounds below keep what a bundle costs in proportion to what was
// sent; going past any of them refuses the whole bundle (even a lenient one).
type Limits struct {
	MaxFiles    int
	MaxBytes    int
	MaxEntities int
	// MaxPlaceholders is the most $text/$json/$yaml placeholders in the bundle.
	MaxPlaceholders int
	// MaxEntityExpansion is the most bytes substituted into one entity.
	MaxEntityExpansion int
	// MaxExpansion is the most bytes substituted over the bundle. A bundle of files sent
	// with the request may also not expand by more than its own size.
	MaxExpansion int
	// MaxTargets is the most Location targets in the bundle, and MaxMatches the most files
	// they may name in all (a glob names many; each file is read once, the rest are
	// reported as already read).
	MaxTargets int
	MaxMatches int
	// MaxPatternLength and MaxWildcards bound one glob pattern (wildcards: *, ? and
	// character classes).
	MaxPatternLength int
	MaxWildcards     int
	// MaxGlobWork bounds the matching work of all glob targets, counted as pattern length
	// times path length for every (pattern, file) pair that is matched: path.Match commits
	// to the leftmost match of each chunk and never backtracks, so that product bounds its
	// cost (about 0.2 ns per unit).
	MaxGlobWork int64
}

// DefaultLimits fit the gateway's 8 MiB body limit for ImportBundle.
var DefaultLimits = Limits{
	MaxFiles: 2000, MaxBytes: 8 << 20, MaxEntities: 5000,
	MaxPlaceholders: 5000, MaxEntityExpansion: 1 << 20, MaxExpansion: 8 << 20,
	MaxTargets: 2000, MaxMatches: 10_000,
	MaxPatternLength: 256, MaxWildcards: 16,
	MaxGlobWork: 500_000_000, // about 0.1 s of one core
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	set(&l.MaxFiles, d.MaxFiles)
	set(&l.MaxBytes, d.MaxBytes)
	set(&l.MaxEntities, d.MaxEntities)
	set(&l.MaxPlaceholders, d.MaxPlaceholders)
	set(&l.MaxEntityExpansion, d.MaxEntityExpansion)
	set(&l.MaxExpansion, d.MaxExpansion)
	set(&l.MaxTargets, d.MaxTargets)
	set(&l.MaxMatches, d.MaxMatches)
	set(&l.MaxPatternLength, d.MaxPatternLength)
	set(&l.MaxWildcards, d.MaxWildcards)
	if l.MaxGlobWork == 0 {
		l.MaxGlobWork = d.MaxGlobWork
	}
	return l
}

// RootName is the file an import starts from when no roots are given.
const RootName = "catalog-info.yaml"

// Skipped is a Location target that was not read.
type Skipped struct {
	Location string // the file naming the target
	Target   string
	Reason   string
}

// Result is what a bundle holds.
type Result struct {
	// Docs are the entities in the order read, with paths like
	// files["a/catalog-info.yaml"].documents[0] for their violations.
	Docs []ingest.Doc
	// FilesRead lists every file read (catalog files and placeholder sources), in order.
	FilesRead []string
	Skipped   []Skipped
	// Problems are the violations a lenient resolution went past (Options.Lenient).
	Problems []rpcerr.Violation
	// Remote are the targets in other sources (Options.FollowRemote), in the order named.
	Remote []Remote
}

// LocationRef is how the annotations name a bundle file: "file:<path in the bundle>".
func LocationRef(p string) string { return "file:" + p }

// Resolve reads the bundle. Every problem (bad paths, YAML errors, targets or placeholders
// pointing outside the bundle or at missing files) is collected into one InvalidArgument.
func Resolve(files map[string]string, roots []string, lim Limits) (Result, error) {
	return ResolveWith(context.Background(), files, roots, lim, Options{})
}

// Source is a tree of files read lazily (a Git commit): Resolve over a map reads all of
// them, a repository is read file by file as Locations and placeholders name them.
type Source interface {
	// Paths lists the files, slash-separated and relative to the root.
	Paths() []string
	// Read returns a file's content.
	Read(path string) (string, error)
}

// Options tune a resolution.
type Options struct {
	// Lenient keeps going past problems, as Backstage does per entity: the documents that
	// parsed are returned, and every problem is in Result.Problems instead of an error.
	Lenient bool
	// Source, when set, is read instead of the files map.
	Source Source
	// LocationRef names a file in the location annotations (default "file:<path>").
	LocationRef func(path string) string
	// Local maps an absolute URL to a path of the same source (a remote $text or Location
	// target inside the same repository); false: another source.
	Local func(url string) (string, bool)
	// BoundsPerItem (with Lenient) reports a bound passed by one target, placeholder or file
	// as a problem of that item and goes on with the rest, instead of refusing the whole
	// bundle: a repository the catalog fetches was not sent by the caller, so it is read as
	// Backstage reads it, entity by entity. The bounds still hold: what passes one is not
	// read.
	BoundsPerItem bool
	// FollowRemote collects Location targets in other sources into Result.Remote (the
	// caller fetches them) instead of reporting them as skipped.
	FollowRemote bool
}

// Remote is a Location target in another source (another repository or URL).
type Remote struct {
	File   string // the file naming it
	Field  string // its field, files["<file>"].documents[n].spec.targets[i]
	Target string
}

// ResolveWith is Resolve with options. It stops with ctx's error when ctx is done, and
// with an InvalidArgument naming the file or target when the bundle passes lim.
func ResolveWith(ctx context.Context, files map[string]string, roots []string, lim Limits, opts Options) (Result, error) {
	lim = lim.withDefaults()
	r := &resolver{ctx: ctx, files: map[string]string{}, lim: lim, state: map[string]int{}, opts: opts,
		expansion: lim.MaxExpansion, expansionLimit: lim.MaxExpansion, globWork: lim.MaxGlobWork, globs: map[string][]string{}}
	if opts.LocationRef == nil {
		r.opts.LocationRef = LocationRef
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if opts.Source != nil {
		r.src = opts.Source
		for _, p := range opts.Source.Paths() {
			r.files[p] = ""
		}
	} else if err := r.load(files); err != nil {
		return Result{}, err
	}
	rootPaths := r.roots(roots)
	if err := r.vs.Err(); err != nil && !opts.Lenient {
		return Result{}, err
	}
	for _, root := range rootPaths {
		// A root already reached through another root's Locations keeps that origin.
		if r.state[root] == 0 && !r.stopped() {
			r.read(root, root)
		}
	}
	if r.fatal != nil {
		return Result{}, r.fatal
	}
	if opts.Lenient {
		r.res.Problems = r.vs.List()
		return r.res, nil
	}
	if err := r.vs.Err(); err != nil {
		return Result{}, err
	}
	return r.res, nil
}

// content returns a file's text (read from the source on demand).
func (r *resolver) content(p string) string {
	if r.src == nil {
		return r.files[p]
	}
	s, err := r.src.Read(p)
	if err != nil {
		r.vs.Add(fileField(p), err.Error())
		return ""
	}
	return s
}

type resolver struct {
	ctx   context.Context
	files map[string]string
	src   Source
	opts  Options
	lim   Limits
	vs    rpcerr.Violations
	res   Result
	// state of catalog files: 1 while being read (on the current chain), 2 when done.
	state   map[string]int
	readSet map[string]bool
	tooMany bool
	// Budgets left (see Limits), and the error that stopped the resolution.
	expansion      int
	expansionLimit int
	placeholders   int
	targets        int
	matches        int
	globWork       int64
	globs          map[string][]string // matches of each glob pattern already run
	fatal          error
	// docBad is set when the document being substituted had a placeholder that failed: the
	// entity is reported, not imported with the placeholder missing.
	docBad bool
}

// stopped reports whether the resolution must end now: the caller is gone or a bound of the
// whole bundle was passed. The work done so far is thrown away.
func (r *resolver) stopped() bool {
	if r.fatal != nil {
		return true
	}
	if err := r.ctx.Err(); err != nil {
		r.fatal = err
		return true
	}
	return false
}

// refuse stops the resolution with an InvalidArgument naming field. With BoundsPerItem it
// records the problem on field instead and the resolution goes on without that item.
func (r *resolver) refuse(field, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if r.perItem() {
		r.vs.Add(field, msg)
		r.docBad = true
		return
	}
	if r.fatal == nil {
		r.fatal = rpcerr.InvalidField(field, msg)
	}
}

// bound is refuse for a caller that reports its own problem: with BoundsPerItem it returns
// the message (the caller records it on its item), else it stops the resolution and
// returns "".
func (r *resolver) bound(field, format string, args ...any) string {
	if r.perItem() {
		return fmt.Sprintf(format, args...)
	}
	r.refuse(field, format, args...)
	return ""
}

func (r *resolver) perItem() bool { return r.opts.Lenient && r.opts.BoundsPerItem }

func fileField(p string) string { return fmt.Sprintf("files[%q]", p) }

func (r *resolver) load(files map[string]string) error {
	if len(files) > r.lim.MaxFiles {
		return rpcerr.InvalidField("files", fmt.Sprintf("at most %d files per bundle, got %d", r.lim.MaxFiles, len(files)))
	}
	total := 0
	for p, content := range files {
		total += len(p) + len(content)
	}
	if total > r.lim.MaxBytes {
		return rpcerr.InvalidField("files", fmt.Sprintf("the bundle is %d bytes; at most %d", total, r.lim.MaxBytes))
	}
	// Placeholders may substitute, in all, as many bytes as were sent: a request of 1 MB
	// stores at most about 2 MB, whatever it names how often.
	r.expansion = min(r.expansion, total)
	r.expansionLimit = r.expansion
	names := make([]string, 0, len(files))
	for p := range files {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		clean, why := cleanPath(p)
		if why != "" {
			r.vs.Add(fileField(p), why)
			continue
		}
		if _, dup := r.files[clean]; dup {
			r.vs.Add(fileField(p), fmt.Sprintf("names the same file as another path (%s)", clean))
			continue
		}
		r.files[clean] = files[p]
	}
	return r.vs.Err()
}

// cleanPath checks a bundle path: relative, slash-separated, inside the root.
func cleanPath(p string) (string, string) {
	switch {
	case p == "":
		return "", "the path must not be empty"
	case strings.HasPrefix(p, "/"):
		return "", "paths are relative to the bundle root"
	case strings.Contains(p, `\`):
		return "", "paths are slash-separated"
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return "", "the path holds a control character"
		}
	}
	clean := path.Clean(p)
	if clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", "the path leaves the bundle root"
	}
	return clean, ""
}

func (r *resolver) roots(roots []string) []string {
	if len(roots) == 0 {
		var out []string
		for p := range r.files {
			if path.Base(p) == RootName {
				out = append(out, p)
			}
		}
		sort.Strings(out)
		if len(out) == 0 {
			r.vs.Add("roots", "no roots given and no "+RootName+" in the bundle")
		}
		return out
	}
	var out []string
	for i, root := range roots {
		clean, why := cleanPath(root)
		if why == "" {
			if _, ok := r.files[clean]; !ok {
				why = "no such file in the bundle"
			}
		}
		if why != "" {
			r.vs.Add(fmt.Sprintf("roots[%d]", i), why)
			continue
		}
		out = append(out, clean)
	}
	return out
}

func (r *resolver) noteRead(p string) {
	if r.readSet == nil {
		r.readSet = map[string]bool{}
	}
	if !r.readSet[p] {
		r.readSet[p] = true
		r.res.FilesRead = append(r.res.FilesRead, p)
	}
}

// read reads one catalog file and, depth first, the files its Location entities target.
func (r *resolver) read(file, origin string) {
	if r.stopped() {
		return
	}
	r.state[file] = 1
	defer func() { r.state[file] = 2 }()
	r.noteRead(file)
	docs, err := yamldoc.Parse([]byte(r.content(file)), yamldoc.Limits{MaxBytes: r.lim.MaxBytes, MaxDocuments: r.lim.MaxEntities})
	if err != nil {
		var errs yamldoc.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				r.vs.Add(fmt.Sprintf("%s.documents[%d]", fileField(file), e.Doc), fmt.Sprintf("line %d: %s", e.Line, e.Msg))
			}
		} else {
			r.vs.Add(fileField(file), err.Error())
		}
	}
	for _, d := range docs {
		if r.stopped() {
			return
		}
		docPath := fmt.Sprintf("%s.documents[%d]", fileField(file), d.Index)
		entityBudget := r.lim.MaxEntityExpansion
		r.docBad = false
		v := r.substitute(d.Value, file, docPath, 0, &entityBudget)
		if r.stopped() {
			return
		}
		if r.docBad {
			continue // its placeholder's problem is reported; the entity is not imported half-read
		}
		e, err := entity.FromValue(v)
		if err != nil {
			r.vs.Add(docPath, strings.TrimPrefix(err.Error(), "entity: "))
			continue
		}
		stamp(e, r.opts.LocationRef(file), r.opts.LocationRef(origin))
		if len(r.res.Docs) >= r.lim.MaxEntities {
			if !r.tooMany {
				r.tooMany = true
				r.vs.Add("files", fmt.Sprintf("the bundle holds more than %d entities", r.lim.MaxEntities))
			}
			return
		}
		r.res.Docs = append(r.res.Docs, ingest.Doc{Index: len(r.res.Docs), Path: docPath, Entity: e})
		if e.Kind() == entity.KindLocation {
			r.follow(e, file, origin, docPath)
		}
	}
}

// stamp sets the location annotations, replacing what the file says, as Backstage does.
func stamp(e entity.Entity, location, origin string) {
	meta, ok := e["metadata"].(map[string]any)
	if !ok {
		return // validation reports the missing metadata
	}
	ann, ok := meta["annotations"].(map[string]any)
	if !ok {
		if meta["annotations"] != nil {
			return // validation reports annotations of the wrong type
		}
		ann = map[string]any{}
		meta["annotations"] = ann
	}
	ann[AnnotationLocation] = location
	ann[AnnotationOriginLocation] = origin
}

func (r *resolver) follow(e entity.Entity, file, origin, docPath string) {
	spec := e.Spec()
	var targets []string
	var fields []string
	if t, ok := spec["target"].(string); ok && t != "" {
		targets, fields = append(targets, t), append(fields, docPath+".spec.target")
	}
	if list, ok := spec["targets"].([]any); ok {
		for i, it := range list {
			if t, ok := it.(string); ok && t != "" {
				targets, fields = append(targets, t), append(fields, fmt.Sprintf("%s.spec.targets[%d]", docPath, i))
			}
		}
	}
	for i, t := range targets {
		if r.stopped() {
			return
		}
		if r.targets++; r.targets > r.lim.MaxTargets {
			r.refuse(fields[i], "the bundle's Locations name more than %d targets", r.lim.MaxTargets)
			return
		}
		if isRemote(t) {
			local, ok := r.local(t)
			if !ok {
				if r.opts.FollowRemote {
					r.res.Remote = append(r.res.Remote, Remote{File: file, Field: fields[i], Target: t})
					continue
				}
				r.res.Skipped = append(r.res.Skipped, Skipped{Location: file, Target: t, Reason: "remote targets are recorded, not fetched"})
				continue
			}
			t = local
		}
		matches, why := r.resolveTarget(fields[i], file, t)
		if r.stopped() {
			return
		}
		if why != "" {
			r.vs.Add(fields[i], why)
			continue
		}
		if r.matches += len(matches); r.matches > r.lim.MaxMatches {
			r.refuse(fields[i], "the bundle's Location targets name more than %d files in all", r.lim.MaxMatches)
			return
		}
		for _, m := range matches {
			switch r.state[m] {
			case 1:
				r.res.Skipped = append(r.res.Skipped, Skipped{Location: file, Target: t, Reason: "cycle: " + m + " is already being read"})
			case 2:
				r.res.Skipped = append(r.res.Skipped, Skipped{Location: file, Target: t, Reason: m + " was already read"})
			default:
				r.read(m, origin)
			}
		}
	}
}

// local maps a URL into the source: the result is absolute within it ("/path"), which
// resolveTarget reads from the root.
func (r *resolver) local(u string) (string, bool) {
	if r.opts.Local == nil {
		return "", false
	}
	p, ok := r.opts.Local(u)
	if !ok {
		return "", false
	}
	return "/" + strings.TrimPrefix(p, "/"), true
}

func isRemote(t string) bool {
	lt := strings.ToLower(t)
	return strings.HasPrefix(lt, "http://") || strings.HasPrefix(lt, "https://")
}

// resolveTarget finds the bundle files a target names, relative to the naming file's
// directory. Glob patterns (path.Match syntax per segment) may match several files. field
// names the target when it passes a bound of the bundle.
func (r *resolver) resolveTarget(field, from, target string) ([]string, string) {
	if strings.Contains(target, "://") {
		return nil, "only relative file targets and http(s) URLs are supported"
	}
	var joined string
	switch {
	case strings.HasPrefix(target, "/") && r.opts.Local != nil:
		// Only a same-source URL maps to a root-relative path (see local).
		joined = path.Clean(strings.TrimPrefix(target, "/"))
	case strings.HasPrefix(target, "/"):
		return nil, "absolute paths are outside the bundle; use a path relative to this file"
	default:
		joined = path.Join(path.Dir(from), target)
	}
	if joined == ".." || strings.HasPrefix(joined, "../") || joined == "." {
		return nil, fmt.Sprintf("%q leaves the bundle root", target)
	}
	if strings.ContainsAny(joined, "*?[") {
		out, why := r.glob(field, target, joined)
		if why != "" || r.fatal != nil {
			return nil, why
		}
		if len(out) == 0 {
			return nil, fmt.Sprintf("no file in the bundle matches %s", joined)
		}
		return out, ""
	}
	if _, ok := r.files[joined]; !ok {
		return nil, fmt.Sprintf("no file %s in the bundle", joined)
	}
	return []string{joined}, ""
}

// glob matches a pattern against the bundle's paths, charging the work to the bundle.
func (r *resolver) glob(field, target, pattern string) ([]string, string) {
	if len(pattern) > r.lim.MaxPatternLength {
		return nil, r.bound(field, "the pattern is longer than %d characters", r.lim.MaxPatternLength)
	}
	if n := wildcards(pattern); n > r.lim.MaxWildcards {
		return nil, r.bound(field, "the pattern has %d wildcards; at most %d", n, r.lim.MaxWildcards)
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Sprintf("%q is not a valid pattern", target)
	}
	if out, ok := r.globs[pattern]; ok {
		return out, ""
	}
	// Wildcards never match a slash, so only paths with as many segments can match, and
	// only those starting with the literal part before the first wildcard: both tests are
	// cheap and skip most files of a big repository before path.Match runs.
	segments := strings.Count(pattern, "/")
	literal := pattern[:strings.IndexAny(pattern, `*?[\`)]
	var out []string
	n := 0
	for p := range r.files {
		if n++; n%256 == 0 && r.stopped() {
			return nil, ""
		}
		if !strings.HasPrefix(p, literal) || strings.Count(p, "/") != segments {
			continue
		}
		if r.globWork -= int64(len(pattern)) * int64(len(p)); r.globWork < 0 {
			return nil, r.bound(field, "the bundle's glob targets take too much matching work; name fewer files, or use fewer or simpler patterns")
		}
		if ok, _ := path.Match(pattern, p); ok {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	r.globs[pattern] = out
	return out, ""
}

// wildcards counts a pattern's *, ? and character classes.
func wildcards(p string) int {
	n := 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '*', '?':
			n++
		case '[':
			n++
			if j := strings.IndexByte(p[i:], ']'); j > 0 {
				i += j
			}
		}
	}
	return n
}

// substitute replaces placeholders: an object with a single key $text, $json or $yaml whose
// value is a path relative to the file. budget is what the entity may still take in.
func (r *resolver) substitute(v any, file, docPath string, depth int, budget *int) any {
	if depth > 64 || r.fatal != nil {
		return v
	}
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				if k == "$text" || k == "$json" || k == "$yaml" {
					return r.placeholder(k, arg, file, docPath, budget)
				}
			}
		}
		for k, item := range x {
			x[k] = r.substitute(item, file, docPath, depth+1, budget)
		}
		return x
	case []any:
		for i, item := range x {
			x[i] = r.substitute(item, file, docPath, depth+1, budget)
		}
		return x
	}
	return v
}

func (r *resolver) placeholder(kind string, arg any, file, docPath string, budget *int) any {
	field := docPath + "." + kind
	if r.stopped() {
		return nil
	}
	if r.placeholders++; r.placeholders > r.lim.MaxPlaceholders {
		r.refuse(field, "the bundle holds more than %d placeholders", r.lim.MaxPlaceholders)
		return nil
	}
	target, ok := arg.(string)
	if !ok || target == "" {
		r.fail(field, "expected a path relative to the file")
		return nil
	}
	if isRemote(target) {
		local, ok := r.local(target)
		if !ok {
			r.fail(field, fmt.Sprintf("%q is remote; placeholders must point inside the bundle", target))
			return nil
		}
		target = local
	}
	matches, why := r.resolveTarget(field, file, target)
	if r.fatal != nil {
		return nil
	}
	if why == "" && len(matches) != 1 {
		why = "a placeholder names exactly one file"
	}
	if why != "" {
		r.fail(field, why)
		return nil
	}
	src := r.content(matches[0])
	// Charged before anything is parsed or copied: an expansion past a bound stops the
	// bundle here instead of after building it.
	switch {
	case len(src) > *budget:
		r.refuse(field, "%s is %d bytes; placeholders may add at most %d bytes per entity", matches[0], len(src), r.lim.MaxEntityExpansion)
		return nil
	case len(src) > r.expansion:
		r.refuse(field, "%s is %d bytes; the bundle's placeholders may add at most %d bytes in all (no more than the bundle itself)", matches[0], len(src), r.expansionLimit)
		return nil
	}
	*budget -= len(src)
	r.expansion -= len(src)
	r.noteRead(matches[0])
	switch kind {
	case "$text":
		return src
	case "$json":
		dec := json.NewDecoder(bytes.NewReader([]byte(src)))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			r.fail(field, fmt.Sprintf("%s is not valid JSON: %v", matches[0], err))
			return nil
		}
		return v
	default:
		docs, err := yamldoc.Parse([]byte(src), yamldoc.Limits{MaxBytes: r.lim.MaxBytes, MaxDocuments: 1})
		if err != nil {
			r.fail(field, fmt.Sprintf("%s: %v", matches[0], err))
			return nil
		}
		if len(docs) == 0 {
			return nil
		}
		return docs[0].Value
	}
}

// fail records a placeholder's problem: its entity is reported, not imported.
func (r *resolver) fail(field, msg string) {
	r.vs.Add(field, msg)
	r.docBad = true
}

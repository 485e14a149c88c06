package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
)

// RootName is the file a repository or folder target means.
const RootName = "catalog-info.yaml"

// Target is a parsed Location target.
type Target struct {
	// Raw is the target as registered.
	Raw string
	// Git is set for repository targets: Repo is the clone URL, Ref the branch or tag (""
	// the default branch), Path the file or glob inside (slash-separated, no leading /).
	Git  bool
	Repo string
	Ref  string
	Path string
	// Host is host[:port] of the URL (credentials are per host).
	Host string
	// style is how file URLs are built: "blob" (GitHub), "-/blob" (GitLab), "src" or "".
	style string
}

// ParseTarget reads a Location target: a repository URL (https://host/org/repo, or ending in
// .git), a folder (.../tree/<ref>/<dir>), a file (.../blob/<ref>/<path>, GitLab's
// .../-/blob/...), a glob of files (.../blob/<ref>/**/catalog-info.yaml), or a plain HTTPS
// URL of a YAML file anywhere else.
func ParseTarget(raw string) (Target, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return Target{}, errors.New("the target must be an http(s) URL")
	}
	if u.User != nil {
		return Target{}, errors.New("the target must not carry credentials; store a token for the host instead")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return Target{}, errors.New("the target must not have a query or fragment")
	}
	t := Target{Raw: raw, Host: strings.ToLower(u.Host)}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	for i, s := range segs {
		if s == ".." || s == "." {
			return Target{}, errors.New("the target's path must not contain . or ..")
		}
		if i == 0 {
			continue
		}
		var style string
		switch {
		case (s == "blob" || s == "tree") && i >= 2 && (segs[i-1] != "-"):
			style = "blob"
		case (s == "blob" || s == "tree") && i >= 3 && segs[i-1] == "-":
			style = "-/blob"
		default:
			continue
		}
		if i+1 >= len(segs) {
			return Target{}, fmt.Errorf("%s needs a branch or tag after it", s)
		}
		repoSegs := segs[:i]
		if style == "-/blob" {
			repoSegs = segs[:i-1]
		}
		t.Git, t.style = true, style
		t.Repo = u.Scheme + "://" + u.Host + "/" + strings.Join(repoSegs, "/")
		t.Ref = segs[i+1]
		rest := strings.Join(segs[i+2:], "/")
		if s == "tree" || rest == "" {
			rest = path.Join(rest, RootName)
		}
		t.Path = rest
		return t, nil
	}
	last := segs[len(segs)-1]
	ext := strings.ToLower(path.Ext(last))
	if ext == ".yaml" || ext == ".yml" || ext == ".json" {
		return t, nil // a plain file
	}
	if len(segs) < 1 || segs[0] == "" {
		return Target{}, errors.New("the target names no repository")
	}
	t.Git, t.style = true, "blob"
	t.Repo = u.Scheme + "://" + u.Host + "/" + strings.Join(segs, "/")
	t.Path = RootName
	return t, nil
}

// IsGlob reports whether the target's path is a discovery glob.
func (t Target) IsGlob() bool { return strings.ContainsAny(t.Path, "*?[") }

// FileURL is the URL of a file of the same source (the location annotations name it).
func (t Target) FileURL(ref, p string) string {
	if !t.Git {
		return t.Raw
	}
	base := strings.TrimSuffix(t.Repo, ".git")
	return base + "/" + t.style + "/" + ref + "/" + p
}

// Local maps a URL to a path of this source, for $text/$json/$yaml and Location targets
// that name files of the same repository and ref.
func (t Target) Local(ref string) func(string) (string, bool) {
	return func(u string) (string, bool) {
		o, err := ParseTarget(u)
		if err != nil || !o.Git || !t.Git {
			return "", false
		}
		if strings.TrimSuffix(o.Repo, ".git") != strings.TrimSuffix(t.Repo, ".git") || (o.Ref != ref && o.Ref != t.Ref) {
			return "", false
		}
		return o.Path, true
	}
}

// Auth is the credential for a host ("" for none).
type Auth func(host string) (string, error)

// Snapshot is what one fetch read: the files of one commit (or one HTTP file).
type Snapshot struct {
	Target Target
	// Revision is the commit hash, or for a plain file its ETag or content hash.
	Revision string
	// Ref is the branch or tag the commit is on (the default branch's name when the target
	// named none).
	Ref string
	// Truncated is set when the commit has more files than the catalog looks at
	// (maxTreeFiles): the first ones in tree order were kept, the rest are not in Paths.
	Truncated bool
	files     map[string]*object.File
	paths     []string
	plain     map[string]string
}

// Paths lists the snapshot's files.
func (s *Snapshot) Paths() []string { return s.paths }

// maxFileBytes bounds one file read from a snapshot.
const maxFileBytes = 1 << 20

// Read returns a file's content.
func (s *Snapshot) Read(p string) (string, error) {
	if s.plain != nil {
		c, ok := s.plain[p]
		if !ok {
			return "", fmt.Errorf("no file %s", p)
		}
		return c, nil
	}
	f, ok := s.files[p]
	if !ok {
		return "", fmt.Errorf("no file %s in the repository", p)
	}
	if f.Size > maxFileBytes {
		return "", fmt.Errorf("%s is %d bytes; at most %d", p, f.Size, maxFileBytes)
	}
	return f.Contents()
}

// Roots returns the files the target starts from: its file, or every file its glob matches
// ("**" matches any number of directories).
func (s *Snapshot) Roots() []string {
	if s.plain != nil {
		return []string{s.Target.Path}
	}
	if !s.Target.IsGlob() {
		return []string{s.Target.Path}
	}
	var out []string
	for _, p := range s.paths {
		if MatchGlob(s.Target.Path, p) {
			out = append(out, p)
		}
	}
	return out
}

// MatchGlob matches slash-separated paths; "**" matches zero or more segments.
func MatchGlob(pattern, p string) bool {
	return matchSegs(strings.Split(pattern, "/"), strings.Split(p, "/"))
}

func matchSegs(pat, segs []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(segs); i++ {
				if matchSegs(pat[1:], segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], segs[0]); !ok {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0
}

// ErrNotModified is returned when the source's revision is the one given as known.
var ErrNotModified = errors.New("source: not modified")

// Fetch reads a target. known is the revision already imported: when the source still has
// it, Fetch returns ErrNotModified having read only the ref list (Git) or a 304 (HTTP).
func (f *Fetcher) Fetch(ctx context.Context, t Target, auth Auth, known string) (*Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, f.policy.Timeout)
	defer cancel()
	ctx, _ = f.withFetch(ctx)
	token := ""
	if auth != nil {
		var err error
		if token, err = auth(t.Host); err != nil {
			return nil, err
		}
	}
	var (
		s   *Snapshot
		err error
	)
	if t.Git {
		s, err = f.fetchGit(ctx, t, token, known)
	} else {
		s, err = f.fetchFile(ctx, t, token, known)
	}
	if err != nil && ctx.Err() == context.DeadlineExceeded && !errors.Is(err, ErrNotModified) {
		return nil, fmt.Errorf("source: %s did not answer within %s", t.Host, f.policy.Timeout)
	}
	return s, err
}

func (f *Fetcher) fetchGit(ctx context.Context, t Target, token, known string) (*Snapshot, error) {
	var auth transport.AuthMethod
	if token != "" {
		// GitHub, GitLab and Gitea all take a token as the password of basic auth.
		auth = &githttp.BasicAuth{Username: "x-access-token", Password: token}
	}
	remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{t.Repo}})
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: auth})
	if err != nil {
		return nil, gitError(t, err)
	}
	var head *plumbing.Reference
	byName := map[plumbing.ReferenceName]*plumbing.Reference{}
	for _, r := range refs {
		byName[r.Name()] = r
		if r.Name() == plumbing.HEAD {
			head = r
		}
	}
	var want *plumbing.Reference
	refName := t.Ref
	switch {
	case t.Ref == "":
		if head != nil && head.Type() == plumbing.SymbolicReference {
			want = byName[head.Target()]
			refName = head.Target().Short()
		} else if head != nil {
			want = head
			refName = "HEAD"
		}
	default:
		want = byName[plumbing.NewBranchReferenceName(t.Ref)]
		if want == nil {
			want = byName[plumbing.NewTagReferenceName(t.Ref)]
		}
	}
	if want == nil {
		return nil, fmt.Errorf("source: %s has no branch or tag %q", t.Repo, t.Ref)
	}
	rev := want.Hash().String()
	if known != "" && rev == known {
		return &Snapshot{Target: t, Revision: rev, Ref: refName}, ErrNotModified
	}
	repo, err := git.CloneContext(ctx, memory.NewStorage(), nil, &git.CloneOptions{
		URL: t.Repo, Auth: auth, ReferenceName: want.Name(), SingleBranch: true, Depth: 1,
		NoCheckout: true, Tags: git.NoTags,
	})
	if err != nil {
		return nil, gitError(t, err)
	}
	ref, err := repo.Head()
	if err != nil {
		return nil, fmt.Errorf("source: %s: %w", t.Repo, err)
	}
	commit, err := repo.CommitObject(ref.Hash())
	if err != nil {
		// An annotated tag points at a tag object.
		if tag, terr := repo.TagObject(ref.Hash()); terr == nil {
			commit, err = tag.Commit()
		}
		if err != nil {
			return nil, fmt.Errorf("source: %s: %w", t.Repo, err)
		}
	}
	tree, err := commit.Tree()
	if err != nil {
		return nil, fmt.Errorf("source: %s: %w", t.Repo, err)
	}
	s := &Snapshot{Target: t, Revision: rev, Ref: refName, files: map[string]*object.File{}}
	err = tree.Files().ForEach(func(file *object.File) error {
		if len(s.paths) >= maxTreeFiles {
			s.Truncated = true
			return storer.ErrStop
		}
		s.files[file.Name] = file
		s.paths = append(s.paths, file.Name)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("source: %s: %w", t.Repo, err)
	}
	sort.Strings(s.paths)
	return s, nil
}

// maxTreeFiles bounds the files of one commit the catalog looks at.
const maxTreeFiles = 50_000

// MaxTreeFiles is that bound, for messages.
const MaxTreeFiles = maxTreeFiles

func gitError(t Target, err error) error {
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return fmt.Errorf("source: %s refused the credentials (store a token for %s)", t.Repo, t.Host)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fmt.Errorf("source: no repository at %s", t.Repo)
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return fmt.Errorf("source: %s is empty", t.Repo)
	}
	return fmt.Errorf("source: %s: %w", t.Repo, err)
}

func (f *Fetcher) fetchFile(ctx context.Context, t Target, token, known string) (*Snapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.Raw, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if strings.HasPrefix(known, "etag:") {
		req.Header.Set("If-None-Match", strings.TrimPrefix(known, "etag:"))
	}
	res, err := httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("source: %s: %w", t.Raw, unwrapURL(err))
	}
	defer res.Body.Close()
	name := path.Base(res.Request.URL.Path)
	if name == "" || name == "/" || name == "." {
		name = RootName
	}
	t.Path = name
	if res.StatusCode == http.StatusNotModified && known != "" {
		return &Snapshot{Target: t, Revision: known}, ErrNotModified
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("source: %s answered %s", t.Raw, res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("source: %s: %w", t.Raw, err)
	}
	if len(body) > maxFileBytes {
		return nil, fmt.Errorf("source: %s is larger than %d bytes", t.Raw, maxFileBytes)
	}
	rev := ""
	if et := res.Header.Get("ETag"); et != "" {
		rev = "etag:" + et
	} else {
		sum := sha256.Sum256(body)
		rev = "sha256:" + hex.EncodeToString(sum[:])
	}
	if rev == known {
		return &Snapshot{Target: t, Revision: rev}, ErrNotModified
	}
	return &Snapshot{Target: t, Revision: rev, plain: map[string]string{name: string(body)}, paths: []string{name}}, nil
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

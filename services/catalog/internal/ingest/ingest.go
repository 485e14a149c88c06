// Package ingest turns what a client sends (structured entities and YAML files) into validated
// store drafts: every document numbered, every violation collected with its document path, so
// a batch fails as a whole with all its problems listed and nothing written.
package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/catalog/internal/entity"
	"atrium.dev/services/catalog/internal/store"
	"atrium.dev/services/catalog/internal/yamldoc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// Batch limits of ApplyEntities.
const (
	MaxEntities = 1000
	MaxBytes    = 4 << 20
)

// Doc is one entity document of a request.
type Doc struct {
	// Index numbers the documents of a request from 0.
	Index int
	// Path prefixes the document's violations: "documents[3]".
	Path   string
	Entity entity.Entity
}

// Documents numbers the structured entities first, then every document of every YAML file,
// and enforces the batch limits. Problems come back as one InvalidArgument listing them all.
func Documents(structs []*structpb.Struct, files []string) ([]Doc, error) {
	size := 0
	for _, s := range structs {
		size += proto.Size(s)
	}
	for _, f := range files {
		size += len(f)
	}
	if size > MaxBytes {
		return nil, rpcerr.InvalidField("documents", fmt.Sprintf("the batch is %d bytes; at most %d bytes (4 MiB) per call", size, MaxBytes))
	}
	var vs rpcerr.Violations
	docs := make([]Doc, 0, len(structs))
	for i, s := range structs {
		path := fmt.Sprintf("documents[%d]", i)
		e, err := entity.FromStruct(s)
		if err != nil {
			vs.Add(path, strings.TrimPrefix(err.Error(), "entity: "))
			continue
		}
		docs = append(docs, Doc{Index: i, Path: path, Entity: e})
	}
	next := len(structs)
	for f, src := range files {
		if next > MaxEntities {
			break
		}
		parsed, err := yamldoc.Parse([]byte(src), yamldoc.Limits{MaxBytes: MaxBytes, MaxDocuments: MaxEntities + 1 - next})
		for _, d := range parsed {
			path := fmt.Sprintf("documents[%d]", next+d.Index)
			e, err := entity.FromValue(d.Value)
			if err != nil {
				vs.Add(path, fmt.Sprintf("yaml_documents[%d] line %d: %s", f, d.Line, strings.TrimPrefix(err.Error(), "entity: ")))
				continue
			}
			docs = append(docs, Doc{Index: next + d.Index, Path: path, Entity: e})
		}
		count := len(parsed)
		if err != nil {
			var errs yamldoc.Errors
			if !errors.As(err, &errs) {
				return nil, rpcerr.InvalidField(fmt.Sprintf("yaml_documents[%d]", f), err.Error())
			}
			for _, ye := range errs {
				// The document limit was set to one more than the batch may still hold.
				if errors.Is(ye, yamldoc.ErrLimit) && strings.HasPrefix(ye.Msg, "more than") && next+ye.Doc > MaxEntities {
					return nil, tooMany()
				}
				vs.Add(fmt.Sprintf("documents[%d]", next+ye.Doc), fmt.Sprintf("yaml_documents[%d]%s: %s", f, lineOf(ye.Line), ye.Msg))
				if ye.Doc+1 > count {
					count = ye.Doc + 1
				}
			}
		}
		next += count
	}
	if next > MaxEntities {
		return nil, tooMany()
	}
	if err := vs.Err(); err != nil {
		return nil, err
	}
	return docs, nil
}

func tooMany() error {
	return rpcerr.InvalidField("documents", fmt.Sprintf("at most %d entities per call", MaxEntities))
}

func lineOf(line int) string {
	if line <= 0 {
		return ""
	}
	return fmt.Sprintf(" line %d", line)
}

// Prepare validates every document and builds its draft. Violations of all documents come
// back together, named "<doc path>.<field>"; two documents with the same ref are a violation
// naming both. pol adds Backstage's ingestion policies (root fields, known kinds); nil
// applies none beyond Validate.
func Prepare(docs []Doc, pol *entity.Policy) ([]store.Draft, error) {
	drafts, _, vs := PrepareEach(docs, pol)
	if len(vs) > 0 {
		return nil, rpcerr.Invalid(vs...)
	}
	return drafts, nil
}

// PrepareEach validates document by document, as Backstage processes entities: the valid
// ones come back as drafts (with their documents, in the same order), each invalid one as
// its violations, and a later document with the ref of an earlier one as a violation.
func PrepareEach(docs []Doc, pol *entity.Policy) ([]store.Draft, []Doc, []rpcerr.Violation) {
	var vs rpcerr.Violations
	drafts := make([]store.Draft, 0, len(docs))
	kept := make([]Doc, 0, len(docs))
	firstByRef := make(map[string]Doc, len(docs))
	for _, d := range docs {
		bad := false
		if pol != nil {
			for _, v := range pol.Check(d.Entity) {
				vs.Add(joinField(d.Path, v.Field), v.Description)
				bad = true
			}
		}
		e := entity.Normalize(d.Entity)
		for _, v := range entity.Validate(e) {
			vs.Add(joinField(d.Path, v.Field), v.Description)
			bad = true
		}
		edges, evs := entity.DeriveEdges(e)
		for _, v := range evs {
			vs.Add(joinField(d.Path, v.Field), v.Description)
			bad = true
		}
		if bad {
			continue
		}
		ref := e.Ref().String()
		if first, dup := firstByRef[ref]; dup {
			vs.Add(d.Path+".metadata.name", fmt.Sprintf("%s is also defined by %s (document %d); refs are unique, case-insensitively", ref, first.Path, first.Index))
			continue
		}
		firstByRef[ref] = d
		drafts = append(drafts, Draft(e, ref, edges))
		kept = append(kept, d)
	}
	return drafts, kept, vs.List()
}

func joinField(path, field string) string {
	if field == "" {
		return path
	}
	return path + "." + field
}

// Draft builds the store draft of a normalized, valid entity.
func Draft(e entity.Entity, ref string, edges []entity.Edge) store.Draft {
	r := e.Ref().Lower()
	body := entity.CanonicalJSON(map[string]any(e))
	d := store.Draft{
		Ref:       ref,
		Kind:      r.Kind,
		Namespace: r.Namespace,
		Name:      r.Name,
		Body:      body,
		Etag:      etagOf(body),
		SpecHash:  entity.SpecHash(e),
		Words:     words(e),
		Search:    store.SearchPairs(e),
	}
	// Only the entity's own edges are stored; the store reads each also as its reverse.
	for _, ed := range edges {
		if ed.Source.String() == ref {
			d.Edges = append(d.Edges, store.Edge{Source: ref, Type: ed.Type, Target: ed.Target.String()})
		}
	}
	return d
}

func words(e entity.Entity) string {
	parts := []string{e.Name(), e.Title(), e.Description()}
	parts = append(parts, e.Tags()...)
	return strings.Join(store.Words(strings.Join(parts, " ")), " ")
}

// etagOf is entity.Etag of a normalized entity from its canonical JSON, already encoded for
// the body: Normalize removed every field Etag leaves out, so the hash input is the same
// (TestEtagOfBody holds the two together).
func etagOf(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:16])
}

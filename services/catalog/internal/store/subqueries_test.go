package store

import (
	"strings"
	"testing"

	"atrium.dev/services/catalog/internal/filter"
)

// TestSubqueriesCountsCompiled keeps filter's subquery budget honest: Subqueries counts the
// search and relation subqueries the compiler writes.
func TestSubqueriesCountsCompiled(t *testing.T) {
	var exprs []Expr
	for _, f := range []string{
		"kind=component,spec.type=service,metadata.tags.java,relations.ownedBy=group:default/a",
		"metadata.annotations.backstage.io/techdocs-ref,spec.lifecycle=true,metadata.name=x",
	} {
		node, err := filter.Parse([]string{f})
		if err != nil {
			t.Fatal(err)
		}
		exprs = append(exprs, FromFilter(node))
	}
	exprs = append(exprs,
		Or{Not{X: Match{Key: "spec.owner"}}, Match{Key: "metadata.tags", Values: []string{"go"}, Item: true}, Match{Key: "spec.a.b", Prefix: "x"}},
	)
	for i, x := range exprs {
		var b sqlb
		sql, err := b.cond(x)
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Count(sql, "FROM catalog_search") + strings.Count(sql, "FROM catalog_relations")
		if want := Subqueries(x); got != want || want == 0 {
			t.Errorf("expr %d: compiled %d subqueries, Subqueries says %d\n%s", i, got, want, sql)
		}
	}
}

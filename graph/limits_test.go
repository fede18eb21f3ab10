package graph

import (
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

func TestSelectionDepth(t *testing.T) {
	cases := []struct {
		query string
		depth int
	}{
		{`{ dashboard { totalProjects } }`, 2},
		{`{ project(id: "x") { phases { steps { questions { answer { value } } } } } }`, 6},
		{`{ ...F } fragment F on Query { project(id: "x") { id } }`, 2},
		{`{ project(id: "x") { ... on Project { phases { id } } } }`, 3},
		// A fragment cycle is invalid GraphQL; the depth stops at the limit.
		{`{ ...A } fragment A on Query { dashboard { totalProjects } ...A }`, 2},
	}
	for _, tc := range cases {
		doc, err := parser.ParseQuery(&ast.Source{Input: tc.query})
		if err != nil {
			t.Fatalf("parse %s: %v", tc.query, err)
		}
		resolveFragments(doc)
		if got := selectionDepth(doc.Operations[0].SelectionSet, 50); got != tc.depth {
			t.Errorf("depth of %s = %d, want %d", tc.query, got, tc.depth)
		}
	}
}

// resolveFragments links fragment spreads to their definitions, as
// validation does before the depth limit runs.
func resolveFragments(doc *ast.QueryDocument) {
	var walk func(ast.SelectionSet)
	seen := map[*ast.FragmentSpread]bool{}
	walk = func(set ast.SelectionSet) {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				walk(s.SelectionSet)
			case *ast.InlineFragment:
				walk(s.SelectionSet)
			case *ast.FragmentSpread:
				if seen[s] {
					continue
				}
				seen[s] = true
				s.Definition = doc.Fragments.ForName(s.Name)
				if s.Definition != nil {
					walk(s.Definition.SelectionSet)
				}
			}
		}
	}
	walk(doc.Operations[0].SelectionSet)
	for _, f := range doc.Fragments {
		walk(f.SelectionSet)
	}
}

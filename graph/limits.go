package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// CodeDepthLimit is the error code of a query nested deeper than allowed.
const CodeDepthLimit = "DEPTH_LIMIT_EXCEEDED"

// DepthLimit rejects operations whose selections nest deeper than Max
// levels. Fragments count at the depth where they are spread.
type DepthLimit struct {
	Max int
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = DepthLimit{}

// ExtensionName returns the extension's name.
func (DepthLimit) ExtensionName() string { return "DepthLimit" }

// Validate checks the configuration.
func (d DepthLimit) Validate(graphql.ExecutableSchema) error {
	if d.Max < 1 {
		return fmt.Errorf("depth limit %d must be at least 1", d.Max)
	}
	return nil
}

// MutateOperationContext rejects the operation when it is too deep.
func (d DepthLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if depth := selectionDepth(oc.Operation.SelectionSet, d.Max+1); depth > d.Max {
		err := gqlerror.Errorf("operation nests more than %d levels of fields; split it into smaller queries", d.Max)
		err.Extensions = map[string]any{"code": CodeDepthLimit, "maxDepth": d.Max}
		return err
	}
	return nil
}

// selectionDepth returns the depth of set, counting no further than stop.
// A fragment already spread on the current path counts nothing, so that an
// invalid, cyclic fragment cannot loop.
func selectionDepth(set ast.SelectionSet, stop int) int {
	return depthOf(set, stop, map[string]bool{})
}

func depthOf(set ast.SelectionSet, stop int, spreading map[string]bool) int {
	if stop <= 0 {
		return 0
	}
	deepest := 0
	for _, sel := range set {
		depth := 0
		switch s := sel.(type) {
		case *ast.Field:
			depth = 1
			if len(s.SelectionSet) > 0 {
				depth += depthOf(s.SelectionSet, stop-1, spreading)
			}
		case *ast.InlineFragment:
			depth = depthOf(s.SelectionSet, stop, spreading)
		case *ast.FragmentSpread:
			if s.Definition == nil || spreading[s.Name] {
				continue
			}
			spreading[s.Name] = true
			depth = depthOf(s.Definition.SelectionSet, stop, spreading)
			delete(spreading, s.Name)
		}
		deepest = max(deepest, depth)
	}
	return deepest
}

// CodeAliasLimit is the error code of an operation with too many aliases.
const CodeAliasLimit = "ALIAS_LIMIT_EXCEEDED"

// AliasLimit rejects operations with more than Max aliased fields, which
// would let one request repeat an expensive field many times.
type AliasLimit struct {
	Max int
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = AliasLimit{}

// ExtensionName returns the extension's name.
func (AliasLimit) ExtensionName() string { return "AliasLimit" }

// Validate checks the configuration.
func (a AliasLimit) Validate(graphql.ExecutableSchema) error {
	if a.Max < 1 {
		return fmt.Errorf("alias limit %d must be at least 1", a.Max)
	}
	return nil
}

// MutateOperationContext rejects the operation when it has too many aliases.
func (a AliasLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if n := countAliases(oc.Operation.SelectionSet, map[string]bool{}); n > a.Max {
		err := gqlerror.Errorf("operation has %d aliased fields, more than the limit of %d; send fewer aliases", n, a.Max)
		err.Extensions = map[string]any{"code": CodeAliasLimit, "maxAliases": a.Max}
		return err
	}
	return nil
}

// countAliases counts fields whose alias differs from their name. A
// fragment already spread on the current path counts nothing.
func countAliases(set ast.SelectionSet, spreading map[string]bool) int {
	n := 0
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Alias != "" && s.Alias != s.Name {
				n++
			}
			n += countAliases(s.SelectionSet, spreading)
		case *ast.InlineFragment:
			n += countAliases(s.SelectionSet, spreading)
		case *ast.FragmentSpread:
			if s.Definition == nil || spreading[s.Name] {
				continue
			}
			spreading[s.Name] = true
			n += countAliases(s.Definition.SelectionSet, spreading)
			delete(spreading, s.Name)
		}
	}
	return n
}

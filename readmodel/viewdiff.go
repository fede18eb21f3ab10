package readmodel

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
)

// FieldDifference is one field whose JSON value differs between two views.
type FieldDifference struct {
	// Path is the field's JSON path, such as "Phases[2].Steps[0].State",
	// or "" for the whole value. Views have no JSON tags, so its keys are
	// the Go field names.
	Path string
	// A and B are the compact JSON values in the two views, or nil where a
	// view lacks the field or list element.
	A, B *string
}

// DiffViews compares the JSON encodings of two views and returns every leaf
// field that differs, in path order. A list element or object member that
// only one view has is one difference.
func DiffViews(a, b any) ([]FieldDifference, error) {
	treeA, err := jsonTree(a)
	if err != nil {
		return nil, err
	}
	treeB, err := jsonTree(b)
	if err != nil {
		return nil, err
	}
	var out []FieldDifference
	diffTrees("", treeA, treeB, &out)
	return out, nil
}

// jsonTree encodes v as JSON and decodes it into maps, slices and
// json.Number values, so that numbers compare as written.
func jsonTree(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode view: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("decode view: %w", err)
	}
	return tree, nil
}

// absent stands for a member or element that one side does not have.
type absent struct{}

func diffTrees(path string, a, b any, out *[]FieldDifference) {
	switch av := a.(type) {
	case map[string]any:
		if bv, ok := b.(map[string]any); ok {
			keys := make([]string, 0, len(av)+len(bv))
			for k := range av {
				keys = append(keys, k)
			}
			for k := range bv {
				if _, ok := av[k]; !ok {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			for _, k := range keys {
				child := k
				if path != "" {
					child = path + "." + k
				}
				diffTrees(child, member(av, k), member(bv, k), out)
			}
			return
		}
	case []any:
		if bv, ok := b.([]any); ok {
			for i := range max(len(av), len(bv)) {
				diffTrees(path+"["+strconv.Itoa(i)+"]", element(av, i), element(bv, i), out)
			}
			return
		}
	}
	if !reflect.DeepEqual(a, b) {
		*out = append(*out, FieldDifference{Path: path, A: compactJSON(a), B: compactJSON(b)})
	}
}

func member(m map[string]any, key string) any {
	if v, ok := m[key]; ok {
		return v
	}
	return absent{}
}

func element(s []any, i int) any {
	if i < len(s) {
		return s[i]
	}
	return absent{}
}

// compactJSON returns v as JSON, or nil for an absent value.
func compactJSON(v any) *string {
	if _, ok := v.(absent); ok {
		return nil
	}
	raw, err := json.Marshal(v)
	s := string(raw)
	if err != nil {
		s = fmt.Sprintf("%v", v)
	}
	return &s
}

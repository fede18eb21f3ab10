package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"unicode/utf8"
)

// fieldDifference is one field whose JSON value differs between two
// project views.
type fieldDifference struct {
	// Path is the field's JSON path, such as "Phases[2].Steps[0].State".
	// The views have no JSON tags, so its keys are the Go field names.
	Path string
	// Rebuilt and Replayed are the compact JSON values in the two views,
	// or "" where a view lacks the field or list element.
	Rebuilt, Replayed string
}

// diffViews compares the JSON encodings of two views of a project and
// returns every leaf field that differs, in path order. A list element that
// only one view has is one difference.
func diffViews(rebuilt, replayed any) ([]fieldDifference, error) {
	a, err := jsonValue(rebuilt)
	if err != nil {
		return nil, err
	}
	b, err := jsonValue(replayed)
	if err != nil {
		return nil, err
	}
	var out []fieldDifference
	diffJSONValues("", a, b, &out)
	return out, nil
}

// jsonValue encodes v as JSON and decodes it into maps, slices and
// json.Number values, so that numbers compare as written.
func jsonValue(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode project view: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("decode project view: %w", err)
	}
	return out, nil
}

func diffJSONValues(path string, a, b any, out *[]fieldDifference) {
	switch av := a.(type) {
	case map[string]any:
		if bv, ok := b.(map[string]any); ok {
			diffJSONObjects(path, av, bv, out)
			return
		}
	case []any:
		if bv, ok := b.([]any); ok {
			diffJSONArrays(path, av, bv, out)
			return
		}
	}
	if !reflect.DeepEqual(a, b) {
		*out = append(*out, fieldDifference{Path: rootPath(path), Rebuilt: compactJSON(a), Replayed: compactJSON(b)})
	}
}

func diffJSONObjects(path string, a, b map[string]any, out *[]fieldDifference) {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		child := k
		if path != "" {
			child = path + "." + k
		}
		x, inA := a[k]
		y, inB := b[k]
		switch {
		case inA && inB:
			diffJSONValues(child, x, y, out)
		case inA:
			*out = append(*out, fieldDifference{Path: child, Rebuilt: compactJSON(x)})
		default:
			*out = append(*out, fieldDifference{Path: child, Replayed: compactJSON(y)})
		}
	}
}

func diffJSONArrays(path string, a, b []any, out *[]fieldDifference) {
	for i := range max(len(a), len(b)) {
		child := path + "[" + strconv.Itoa(i) + "]"
		switch {
		case i < len(a) && i < len(b):
			diffJSONValues(child, a[i], b[i], out)
		case i < len(a):
			*out = append(*out, fieldDifference{Path: child, Rebuilt: compactJSON(a[i])})
		default:
			*out = append(*out, fieldDifference{Path: child, Replayed: compactJSON(b[i])})
		}
	}
}

func rootPath(path string) string {
	if path == "" {
		return "(whole view)"
	}
	return path
}

// maxShownValue is the longest JSON value, in bytes, that a difference
// shows before it is cut.
const maxShownValue = 120

func compactJSON(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	if len(raw) > maxShownValue {
		cut := maxShownValue
		for !utf8.RuneStart(raw[cut]) {
			cut--
		}
		return string(raw[:cut]) + "…"
	}
	return string(raw)
}

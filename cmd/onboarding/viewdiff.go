package main

import (
	"unicode/utf8"

	"github.com/integrationplatform/onboarding/readmodel"
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
	diffs, err := readmodel.DiffViews(rebuilt, replayed)
	if err != nil {
		return nil, err
	}
	out := make([]fieldDifference, len(diffs))
	for i, d := range diffs {
		out[i] = fieldDifference{Path: rootPath(d.Path), Rebuilt: shorten(d.A), Replayed: shorten(d.B)}
	}
	return out, nil
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

// shorten returns a JSON value cut to maxShownValue bytes, or "" for an
// absent one.
func shorten(value *string) string {
	if value == nil {
		return ""
	}
	raw := *value
	if len(raw) <= maxShownValue {
		return raw
	}
	cut := maxShownValue
	for !utf8.RuneStart(raw[cut]) {
		cut--
	}
	return raw[:cut] + "…"
}

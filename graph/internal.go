package graph

import (
	"context"
	"encoding/json"

	"github.com/99designs/gqlgen/graphql"
)

// internalNotes are the fields that hold the vendor's internal notes, which
// a customer does not see: notes of test runs and descriptions of logged
// time.
var internalNotes = map[string]bool{
	"TestAttempt.notes":            true,
	"TestRunChange.notes":          true,
	"TimeEntry.description":        true,
	"TimeLoggedChange.description": true,
}

// internalDataMembers are the members of event data that hold the same
// notes: "notes" of TestResultRecorded and "description" of TimeLogged.
var internalDataMembers = []string{"notes", "description"}

// hideInternalNotes resolves a field of an object type, returning null for
// an internal note and event data without internal notes when the caller
// is a customer.
func hideInternalNotes(ctx context.Context, fc *graphql.FieldContext, next graphql.Resolver) (any, error) {
	// This runs for every field, and most fields have other names.
	switch fc.Field.Name {
	case "notes", "description", "data":
	default:
		return next(ctx)
	}
	if customerScope(ctx) == "" {
		return next(ctx)
	}
	field := fc.Object + "." + fc.Field.Name
	if internalNotes[field] {
		return nil, nil
	}
	result, err := next(ctx)
	if field != "ProjectEvent.data" || err != nil {
		return result, err
	}
	data, ok := result.(string)
	if !ok {
		return result, nil
	}
	return withoutMembers(data, internalDataMembers), nil
}

// withoutMembers returns the JSON object data without the named members.
// It returns "{}" for data that is not a JSON object, so that nothing
// internal leaks through a parse failure.
func withoutMembers(data string, names []string) string {
	var members map[string]json.RawMessage
	if err := json.Unmarshal([]byte(data), &members); err != nil {
		return "{}"
	}
	changed := false
	for _, name := range names {
		if _, ok := members[name]; ok {
			delete(members, name)
			changed = true
		}
	}
	if !changed {
		return data
	}
	out, err := json.Marshal(members)
	if err != nil {
		return "{}"
	}
	return string(out)
}

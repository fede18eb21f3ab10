package readmodel

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/eventstore"
)

// OccurredAt returns when the command behind an event was handled, or when
// the event was stored for events without that metadata. Views use the same
// time.
func OccurredAt(env eventstore.Envelope) time.Time {
	if env.Metadata.OccurredAt.IsZero() {
		return env.RecordedAt
	}
	return env.Metadata.OccurredAt
}

// StepOf returns the step an event is about: the step of StepCompleted,
// StepReopened and TestResultRecorded, and of TimeLogged when the time was
// logged on a step. It returns "" for every other event.
func StepOf(e domain.Event) string {
	switch e := e.(type) {
	case *domain.StepCompleted:
		return e.StepID
	case *domain.StepReopened:
		return e.StepID
	case *domain.TestResultRecorded:
		return e.StepID
	case *domain.TimeLogged:
		return e.StepID
	}
	return ""
}

// EventFilter selects events of the history of one project or of the
// audit log. Empty fields select every event.
type EventFilter struct {
	Types     []string
	ActorID   string
	ProjectID string
	StepID    string
	// From and To bound OccurredAt: From is inclusive, To exclusive.
	From time.Time
	To   time.Time
}

// Validate returns a *domain.Error for an unknown event type or a time
// range that ends before it starts.
func (f EventFilter) Validate() error {
	known := domain.EventTypes()
	for _, t := range f.Types {
		if !slices.Contains(known, t) {
			sort.Strings(known)
			return &domain.Error{Kind: domain.KindInvalid, Field: "types", Message: fmt.Sprintf("event type %q does not exist; use one of %s", t, strings.Join(known, ", "))}
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
		return &domain.Error{Kind: domain.KindInvalid, Field: "to", Message: fmt.Sprintf("to %s is before from %s; send a to at or after from", f.To.Format(time.RFC3339Nano), f.From.Format(time.RFC3339Nano))}
	}
	return nil
}

// MatchRecord reports whether a stored event passes the parts of the
// filter that need no decoding: the project and the event type.
func (f EventFilter) MatchRecord(r eventstore.RecordedEvent) bool {
	if f.ProjectID != "" && r.StreamID != eventstore.StreamName(f.ProjectID) {
		return false
	}
	return len(f.Types) == 0 || slices.Contains(f.Types, r.Type)
}

// Match reports whether a decoded event passes the filter.
func (f EventFilter) Match(env eventstore.Envelope) bool {
	if f.ProjectID != "" && env.ProjectID != f.ProjectID {
		return false
	}
	if len(f.Types) > 0 && !slices.Contains(f.Types, env.Type) {
		return false
	}
	if f.ActorID != "" && env.Metadata.Actor.UserID != f.ActorID {
		return false
	}
	if f.StepID != "" && StepOf(env.Event) != f.StepID {
		return false
	}
	at := OccurredAt(env)
	if !f.From.IsZero() && at.Before(f.From) {
		return false
	}
	if !f.To.IsZero() && !at.Before(f.To) {
		return false
	}
	return true
}

// AsOf is a point in a project's history: after Version events, or after
// every event that occurred at or before Time. Exactly one is set.
type AsOf struct {
	Version *int
	Time    *time.Time
}

// Validate returns a *domain.Error naming field, the input that holds the
// point, when asOf sets both version and time or neither, or a version
// below 1. The checks that need the project's events are in EventsAsOf.
func (asOf AsOf) Validate(field string) error {
	if (asOf.Version == nil) == (asOf.Time == nil) {
		return &domain.Error{Kind: domain.KindInvalid, Field: field, Message: fmt.Sprintf("%s must set exactly one of version and time", field)}
	}
	if asOf.Version != nil && *asOf.Version < 1 {
		return &domain.Error{Kind: domain.KindInvalid, Field: field + ".version", Message: fmt.Sprintf("%s.version %d is out of range; version 1 is the project right after it started, so send 1 or more", field, *asOf.Version)}
	}
	return nil
}

// EventsAsOf returns how many of a project's events, oldest first, make up
// the project at the point asOf. Besides the errors of Validate, it returns
// a *domain.Error naming field when the version is beyond the project's
// version or the time is before the project started.
//
// A time point ends at the first event that occurred after it. An event
// stored after a later one but with an earlier OccurredAt, which only a
// clock set back can cause, is therefore left out with the events after it.
func EventsAsOf(events []eventstore.Envelope, asOf AsOf, field string) (int, error) {
	if err := asOf.Validate(field); err != nil {
		return 0, err
	}
	if len(events) == 0 {
		return 0, fmt.Errorf("events as of a point: the project has no events")
	}
	if asOf.Version != nil {
		v := *asOf.Version
		if v > len(events) {
			return 0, &domain.Error{Kind: domain.KindInvalid, Field: field + ".version", Message: fmt.Sprintf("%s.version %d is after the last version %d of project %s; send 1 to %d", field, v, len(events), events[0].ProjectID, len(events))}
		}
		return v, nil
	}
	at := *asOf.Time
	if start := OccurredAt(events[0]); at.Before(start) {
		return 0, &domain.Error{Kind: domain.KindInvalid, Field: field + ".time", Message: fmt.Sprintf("%s.time %s is before project %s started at %s; send a time at or after the start", field, at.Format(time.RFC3339Nano), events[0].ProjectID, start.Format(time.RFC3339Nano))}
	}
	n := 1
	for n < len(events) && !OccurredAt(events[n]).After(at) {
		n++
	}
	return n, nil
}

// ReplayVersions builds the views of one project right after each of the
// given versions, with one pass over events, its stream oldest first. The
// result has one view per version, in the order of versions. Every version
// must be from 1 to len(events).
func ReplayVersions(events []eventstore.Envelope, versions []int) ([]*Project, error) {
	if len(events) == 0 {
		return nil, fmt.Errorf("replay: no events")
	}
	order := make([]int, len(versions))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return versions[order[a]] < versions[order[b]] })

	views := make([]*Project, len(versions))
	s := newProjectState(events[0].ProjectID, 0)
	applied := 0
	for _, i := range order {
		v := versions[i]
		if v < 1 || v > len(events) {
			return nil, fmt.Errorf("replay project %s: version %d is out of range 1 to %d", events[0].ProjectID, v, len(events))
		}
		for ; applied < v; applied++ {
			if err := s.apply(events[applied]); err != nil {
				return nil, err
			}
		}
		views[i] = s.view()
	}
	return views, nil
}

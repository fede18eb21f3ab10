package readmodel_test

import (
	"strings"
	"testing"
	"time"

	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/readmodel"
)

func TestEventsAsOf(t *testing.T) {
	s, id, _ := diffScenario(t)
	events := s.readStream(id, 0)
	version := func(v int) readmodel.AsOf { return readmodel.AsOf{Version: &v} }
	at := func(tm time.Time) readmodel.AsOf { return readmodel.AsOf{Time: &tm} }

	cases := []struct {
		name string
		asOf readmodel.AsOf
		want int
	}{
		{"first version", version(1), 1},
		{"last version", version(len(events)), len(events)},
		{"start time", at(hours(0)), 1},
		// Three events occurred at hours(1): the contact and two answers.
		{"time of an event", at(hours(1)), 4},
		{"between events", at(hours(1.5)), 4},
		{"after the end", at(hours(100)), len(events)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readmodel.EventsAsOf(events, tc.asOf, "asOf")
			if err != nil {
				t.Fatalf("EventsAsOf failed: %v", err)
			}
			if got != tc.want {
				t.Errorf("EventsAsOf = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestEventsAsOfRejects(t *testing.T) {
	s, id, _ := diffScenario(t)
	events := s.readStream(id, 0)
	zero, beyond := 0, len(events)+1
	early := hours(-1)

	cases := []struct {
		name    string
		asOf    readmodel.AsOf
		field   string
		mention string
	}{
		{"neither", readmodel.AsOf{}, "asOf", "exactly one"},
		{"both", readmodel.AsOf{Version: &zero, Time: &early}, "asOf", "exactly one"},
		{"version zero", readmodel.AsOf{Version: &zero}, "asOf.version", "send 1 or more"},
		{"beyond the end", readmodel.AsOf{Version: &beyond}, "asOf.version", "after the last version"},
		{"before the start", readmodel.AsOf{Time: &early}, "asOf.time", hours(0).Format(time.RFC3339Nano)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readmodel.EventsAsOf(events, tc.asOf, "asOf")
			de, ok := err.(*domain.Error)
			if !ok || de.Kind != domain.KindInvalid {
				t.Fatalf("EventsAsOf error = %v, want a *domain.Error of kind invalid", err)
			}
			if de.Field != tc.field {
				t.Errorf("field = %q, want %q", de.Field, tc.field)
			}
			if !strings.Contains(de.Message, tc.mention) {
				t.Errorf("message %q does not mention %q", de.Message, tc.mention)
			}
		})
	}
}

func TestReplayVersionsMatchesReplay(t *testing.T) {
	s, id, from := diffScenario(t)
	events := s.readStream(id, 0)
	versions := []int{len(events), 1, from, from}

	views, err := readmodel.ReplayVersions(events, versions)
	if err != nil {
		t.Fatalf("ReplayVersions(%v) failed: %v", versions, err)
	}
	for i, v := range versions {
		want, err := readmodel.Replay(events[:v])
		if err != nil {
			t.Fatalf("Replay of %d events failed: %v", v, err)
		}
		if got := viewJSON(t, views[i]); got != viewJSON(t, want) {
			t.Errorf("view %d at version %d differs from Replay:\n%s\nwant:\n%s", i, v, got, viewJSON(t, want))
		}
	}
	if _, err := readmodel.ReplayVersions(events, []int{len(events) + 1}); err == nil {
		t.Errorf("ReplayVersions beyond the end succeeded, want an error")
	}
}

func TestEventFilterMatch(t *testing.T) {
	s, id, _ := diffScenario(t)
	events := s.readStream(id, 0)

	cases := []struct {
		name   string
		filter readmodel.EventFilter
		want   int
	}{
		{"empty", readmodel.EventFilter{}, len(events)},
		{"one type", readmodel.EventFilter{Types: []string{domain.TypeContactAdded}}, 2},
		{"two types", readmodel.EventFilter{Types: []string{domain.TypeWaitingOnCustomerMarked, domain.TypeWorkResumed}}, 2},
		{"step", readmodel.EventFilter{StepID: "product-data"}, 2},
		{"step and type", readmodel.EventFilter{StepID: "product-data", Types: []string{domain.TypeStepReopened}}, 1},
		{"actor", readmodel.EventFilter{ActorID: actorID}, len(events)},
		{"other actor", readmodel.EventFilter{ActorID: "auditor"}, 0},
		{"project", readmodel.EventFilter{ProjectID: id}, len(events)},
		{"other project", readmodel.EventFilter{ProjectID: "other"}, 0},
		{"from inclusive", readmodel.EventFilter{From: hours(12)}, 1},
		{"to exclusive", readmodel.EventFilter{To: hours(1)}, 1},
		{"from and to", readmodel.EventFilter{From: hours(4), To: hours(6)}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := 0
			for _, env := range events {
				if tc.filter.Match(env) {
					got++
				}
			}
			if got != tc.want {
				t.Errorf("matches = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestEventFilterValidate(t *testing.T) {
	if err := (readmodel.EventFilter{Types: []string{"StepDone"}}).Validate(); err == nil || !strings.Contains(err.Error(), "StepCompleted") {
		t.Errorf("Validate of an unknown type = %v, want an error listing StepCompleted", err)
	}
	if err := (readmodel.EventFilter{From: hours(2), To: hours(1)}).Validate(); err == nil {
		t.Error("Validate of to before from succeeded, want an error")
	}
	if err := (readmodel.EventFilter{Types: []string{domain.TypeStepCompleted}, From: hours(1), To: hours(1)}).Validate(); err != nil {
		t.Errorf("Validate of a valid filter failed: %v", err)
	}
}

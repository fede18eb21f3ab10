package graph

import (
	"context"
	"strings"
	"testing"

	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/graph/model"
	"github.com/integrationplatform/onboarding/readmodel"
)

func TestVerifyFindsDifferences(t *testing.T) {
	live := newAuditResolver(t)
	id := execute(t, live, "", "acme", startCommand("acme"))
	execute(t, live, id, "", domain.SubmitAnswer{QuestionID: "stock-master", Value: "fortnox"})
	only := execute(t, live, "", "globex", startCommand("globex"))

	// The same commands, but a different answer and no second project.
	other := newAuditResolver(t)
	execute(t, other, "", "acme", startCommand("acme"))
	execute(t, other, id, "", domain.SubmitAnswer{QuestionID: "stock-master", Value: "shop"})

	mixed := &Resolver{Models: live.Models, Store: other.Store}
	report, err := mixed.verifyProjections(context.Background())
	if err != nil {
		t.Fatalf("verifyProjections failed: %v", err)
	}
	if report.Ok || report.Projects != 2 || report.Events != 2 {
		t.Errorf("report ok %v on %d projects and %d events, want not ok on 2 and 2", report.Ok, report.Projects, report.Events)
	}
	byField := map[string]string{}
	for _, d := range report.Differences {
		key := d.ProjectID + " " + d.Field
		byField[key] = deref(d.Live) + " / " + deref(d.Rebuilt)
	}
	answer := ""
	for key, values := range byField {
		if strings.HasPrefix(key, id+" ") && strings.HasSuffix(key, ".Answer.Value") {
			answer = values
		}
	}
	if answer != `"fortnox" / "shop"` {
		t.Errorf("answer difference = %q, want fortnox live and shop rebuilt; differences %v", answer, byField)
	}
	if got := byField[only+" Version"]; got != "1 / " {
		t.Errorf("difference of the project missing from the store = %q, want live version 1 and no rebuilt one", got)
	}

	report, err = live.verifyProjections(context.Background())
	if err != nil {
		t.Fatalf("verifyProjections failed: %v", err)
	}
	if !report.Ok || len(report.Differences) != 0 || report.Projects != 2 || report.Events != 3 {
		t.Errorf("report on the live store = %+v, want ok on 2 projects and 3 events", report)
	}
}

func TestViewDiffPaths(t *testing.T) {
	live := &readmodel.Project{ID: "p", Version: 2, Phases: []readmodel.Phase{{ID: "a", Steps: []readmodel.Step{{ID: "s", State: "OPEN"}}}}}
	rebuilt := &readmodel.Project{ID: "p", Version: 2, Phases: []readmodel.Phase{{ID: "a", Steps: []readmodel.Step{{ID: "s", State: "COMPLETED"}, {ID: "t"}}}}}
	d := &viewDiff{report: &model.VerificationReport{}}
	if err := d.compare("p", live, rebuilt); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, diff := range d.report.Differences {
		got[diff.Field] = deref(diff.Live) + " / " + deref(diff.Rebuilt)
	}
	if len(got) != 2 {
		t.Errorf("differences = %v, want two", got)
	}
	if v := got["Phases[0].Steps[0].State"]; v != `"OPEN" / "COMPLETED"` {
		t.Errorf("state difference = %q, want OPEN live and COMPLETED rebuilt", v)
	}
	if v := got["Phases[0].Steps[1]"]; !strings.HasPrefix(v, " / {") {
		t.Errorf("extra step difference = %q, want none live and the step rebuilt", v)
	}

	full := &viewDiff{report: &model.VerificationReport{}}
	a, b := `"a"`, `"b"`
	for range MaxDifferences + 1 {
		full.add("Name", &a, &b)
	}
	if len(full.report.Differences) != MaxDifferences || !full.report.Truncated {
		t.Errorf("after %d differences: %d listed, truncated %v", MaxDifferences+1, len(full.report.Differences), full.report.Truncated)
	}
}

package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"

	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/graph/model"
	"github.com/integrationplatform/onboarding/readmodel"
)

// MaxDifferences is the largest number of differences verifyProjections
// lists.
const MaxDifferences = 1000

// verifyProjections rebuilds every project from the store into fresh read
// models and compares each with its live view.
//
// The rebuild reads the log up to the live models' position when the check
// starts. A project written after that has a live view ahead of the
// rebuild, so it is compared with a replay of its stream up to the live
// view's version instead.
func (r *Resolver) verifyProjections(ctx context.Context) (*model.VerificationReport, error) {
	target := r.Models.Position()
	rebuilt, err := rebuildUpTo(ctx, r.Store, target)
	if err != nil {
		return nil, err
	}
	live, err := liveProjects(r.Models)
	if err != nil {
		return nil, err
	}

	report := &model.VerificationReport{Events: rebuilt.events, SkippedEvents: rebuilt.skipped, Differences: []*model.ProjectDifference{}}
	if target != eventstore.Start {
		position := target.Cursor()
		report.Position = &position
	}
	ids := rebuilt.projectIDs
	rebuiltIDs := make(map[string]bool, len(ids))
	for _, id := range ids {
		rebuiltIDs[id] = true
	}
	for _, id := range live.ids {
		if !rebuiltIDs[id] {
			ids = append(ids, id)
		}
	}
	report.Projects = len(ids)
	diff := &viewDiff{report: report}
	for _, id := range ids {
		liveView := live.views[id]
		rebuiltView, _ := rebuilt.models.Project(id)
		if liveView != nil && (rebuiltView == nil || liveView.Version > rebuiltView.Version) {
			if rebuiltView, err = r.replayVersion(ctx, id, liveView.Version); err != nil {
				return nil, err
			}
		}
		if err := diff.compare(id, liveView, rebuiltView); err != nil {
			return nil, err
		}
	}
	report.Ok = len(report.Differences) == 0
	if !report.Ok || report.SkippedEvents > 0 {
		r.Log.Warn().Int("differences", len(report.Differences)).Bool("truncated", report.Truncated).Int("skipped_events", report.SkippedEvents).
			Str("position", target.String()).Msg("projection verification found live views unlike the rebuild, or events that cannot be applied")
	}
	return report, nil
}

// rebuild is a set of read models built from the store.
type rebuild struct {
	models *readmodel.Models
	// projectIDs lists the projects in the order they started.
	projectIDs []string
	events     int
	// skipped counts the events that could not be decoded or applied,
	// which the projector skips as well.
	skipped int
}

// rebuildUpTo applies every project event of the store up to and including
// target to new read models, as the projector does.
func rebuildUpTo(ctx context.Context, store eventstore.Store, target eventstore.Position) (*rebuild, error) {
	b := &rebuild{models: readmodel.NewModels()}
	defer b.models.Feed().Close()
	filter := eventstore.Filter{StreamPrefix: eventstore.StreamPrefix}
	seen := map[string]bool{}
	after := eventstore.Start
	for after.Less(target) {
		records, err := store.ReadAll(ctx, after, readmodel.CatchUpBatch, filter)
		if err != nil {
			return nil, fmt.Errorf("rebuild read models: read the log after %s: %w", after, err)
		}
		for _, rec := range records {
			if target.Less(rec.Position) {
				return b, nil
			}
			after = rec.Position
			b.events++
			env, err := eventstore.Decode(rec)
			if err == nil {
				err = b.models.Apply(env)
			}
			if err == nil && !seen[env.ProjectID] {
				seen[env.ProjectID] = true
				b.projectIDs = append(b.projectIDs, env.ProjectID)
			}
			if err != nil {
				b.skipped++
				b.models.Skip(rec.Position)
			}
		}
		if len(records) < readmodel.CatchUpBatch {
			break
		}
	}
	return b, nil
}

// projectSet is every project view of the live read models.
type projectSet struct {
	ids   []string
	views map[string]*readmodel.Project
}

func liveProjects(models *readmodel.Models) (*projectSet, error) {
	set := &projectSet{views: map[string]*readmodel.Project{}}
	after := ""
	for {
		page, err := models.List(readmodel.ProjectFilter{}, readmodel.MaxPageSize, after)
		if err != nil {
			return nil, err
		}
		for _, p := range page.Projects {
			set.ids = append(set.ids, p.ID)
			set.views[p.ID] = p
		}
		if !page.HasNext || len(page.Cursors) == 0 {
			return set, nil
		}
		after = page.Cursors[len(page.Cursors)-1]
	}
}

// replayVersion rebuilds a project from the first version events of its
// stream, or returns nil when the stream has fewer.
func (r *Resolver) replayVersion(ctx context.Context, projectID string, version int) (*readmodel.Project, error) {
	events, err := r.projectEventsUpTo(ctx, projectID, version)
	if errors.Is(err, errProjectNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(events) < version {
		return nil, nil
	}
	return readmodel.Replay(events)
}

// viewDiff collects the differences between live and rebuilt views into a
// report.
type viewDiff struct {
	report    *model.VerificationReport
	projectID string
}

// absent stands for a field that one side does not have.
type absent struct{}

// compare adds a difference for each JSON field in which the two views of
// the project differ. When one view is missing, it adds one difference on
// the field Version.
func (d *viewDiff) compare(projectID string, live, rebuilt *readmodel.Project) error {
	d.projectID = projectID
	switch {
	case live == nil && rebuilt == nil:
		return nil
	case live == nil:
		d.add("Version", absent{}, json.Number(strconv.Itoa(rebuilt.Version)))
		return nil
	case rebuilt == nil:
		d.add("Version", json.Number(strconv.Itoa(live.Version)), absent{})
		return nil
	}
	liveJSON, err := viewTree(live)
	if err != nil {
		return err
	}
	rebuiltJSON, err := viewTree(rebuilt)
	if err != nil {
		return err
	}
	d.walk("", liveJSON, rebuiltJSON)
	return nil
}

// viewTree returns the JSON of a view decoded into maps, slices and
// json.Number values.
func viewTree(v *readmodel.Project) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode the view of project %s: %w", v.ID, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("decode the view of project %s: %w", v.ID, err)
	}
	return tree, nil
}

func (d *viewDiff) walk(path string, live, rebuilt any) {
	switch l := live.(type) {
	case map[string]any:
		r, ok := rebuilt.(map[string]any)
		if !ok {
			d.add(path, live, rebuilt)
			return
		}
		keys := make([]string, 0, len(l)+len(r))
		for k := range l {
			keys = append(keys, k)
		}
		for k := range r {
			if _, ok := l[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			field := k
			if path != "" {
				field = path + "." + k
			}
			d.walk(field, member(l, k), member(r, k))
		}
	case []any:
		r, ok := rebuilt.([]any)
		if !ok {
			d.add(path, live, rebuilt)
			return
		}
		for i := range max(len(l), len(r)) {
			d.walk(fmt.Sprintf("%s[%d]", path, i), element(l, i), element(r, i))
		}
	default:
		if !reflect.DeepEqual(live, rebuilt) {
			d.add(path, live, rebuilt)
		}
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

// add records one difference, or marks the report truncated once it lists
// MaxDifferences.
func (d *viewDiff) add(field string, live, rebuilt any) {
	if len(d.report.Differences) == MaxDifferences {
		d.report.Truncated = true
		return
	}
	d.report.Differences = append(d.report.Differences, &model.ProjectDifference{ProjectID: d.projectID, Field: field, Live: jsonValue(live), Rebuilt: jsonValue(rebuilt)})
}

// jsonValue returns v as JSON, or nil for an absent field.
func jsonValue(v any) *string {
	if _, ok := v.(absent); ok {
		return nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		s := fmt.Sprintf("%v", v)
		return &s
	}
	s := string(raw)
	return &s
}

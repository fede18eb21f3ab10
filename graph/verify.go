package graph

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

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
	rebuilt, err := rebuildUpTo(ctx, r.Store, r.Codec, target)
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
func rebuildUpTo(ctx context.Context, store eventstore.Store, codec *eventstore.Codec, target eventstore.Position) (*rebuild, error) {
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
			env, err := codec.Decode(ctx, rec)
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

// compare adds a difference for each JSON field in which the two views of
// the project differ. When one view is missing, it adds one difference on
// the field Version.
func (d *viewDiff) compare(projectID string, live, rebuilt *readmodel.Project) error {
	d.projectID = projectID
	switch {
	case live == nil && rebuilt == nil:
		return nil
	case live == nil:
		d.add("Version", nil, versionJSON(rebuilt))
		return nil
	case rebuilt == nil:
		d.add("Version", versionJSON(live), nil)
		return nil
	}
	diffs, err := readmodel.DiffViews(live, rebuilt)
	if err != nil {
		return fmt.Errorf("compare the views of project %s: %w", projectID, err)
	}
	for _, diff := range diffs {
		d.add(diff.Path, diff.A, diff.B)
	}
	return nil
}

func versionJSON(v *readmodel.Project) *string {
	s := strconv.Itoa(v.Version)
	return &s
}

// add records one difference, or marks the report truncated once it lists
// MaxDifferences.
func (d *viewDiff) add(field string, live, rebuilt *string) {
	if len(d.report.Differences) == MaxDifferences {
		d.report.Truncated = true
		return
	}
	d.report.Differences = append(d.report.Differences, &model.ProjectDifference{ProjectID: d.projectID, Field: field, Live: live, Rebuilt: rebuilt})
}

// replay rebuilds every read model from the store up to the live models'
// position and reports the speed.
func (r *Resolver) replay(ctx context.Context) (*model.ReplayReport, error) {
	started := time.Now()
	rebuilt, err := rebuildUpTo(ctx, r.Store, r.Codec, r.Models.Position())
	if err != nil {
		return nil, err
	}
	elapsed := time.Since(started)
	report := &model.ReplayReport{
		Events:       rebuilt.events,
		Projects:     len(rebuilt.projectIDs),
		FailedEvents: rebuilt.skipped,
		ElapsedMs:    float64(elapsed.Microseconds()) / 1000,
	}
	if elapsed > 0 {
		report.EventsPerSecond = float64(rebuilt.events) / elapsed.Seconds()
	}
	r.Log.Info().Str("request_id", RequestInfoFrom(ctx).RequestID).Int("events", report.Events).Int("projects", report.Projects).
		Int("failed_events", report.FailedEvents).Float64("took_ms", report.ElapsedMs).Msg("read models replayed on request")
	return report, nil
}

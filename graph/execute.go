package graph

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/integrationplatform/onboarding/command"
	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/graph/model"
	"github.com/integrationplatform/onboarding/readmodel"
)

// execute runs one command and returns the project as the read model shows
// it afterwards.
func (r *Resolver) execute(ctx context.Context, projectID string, cmd domain.Command, expectedVersion *int, idempotencyKey *string) (*model.ProjectPayload, error) {
	info := RequestInfoFrom(ctx)
	req := command.Request{
		ProjectID:       projectID,
		Command:         cmd,
		ExpectedVersion: expectedVersion,
		IdempotencyKey:  deref(idempotencyKey),
		Actor:           info.Actor,
		CorrelationID:   info.RequestID,
	}
	if len(req.IdempotencyKey) > 200 {
		return nil, &domain.Error{Kind: domain.KindInvalid, Field: "idempotencyKey", Message: "idempotencyKey must be at most 200 bytes; send a UUID"}
	}
	res, err := r.Commands.Execute(ctx, req)
	if err != nil {
		return nil, err
	}
	if res.Repeated {
		project, err := r.Commands.ProjectAt(ctx, res.ProjectID, res.Version)
		if err != nil {
			return nil, err
		}
		return &model.ProjectPayload{Project: project}, nil
	}
	project, ok := r.Models.Project(res.ProjectID)
	if !ok {
		return nil, fmt.Errorf("project %s missing from read models after position %s", res.ProjectID, res.Position)
	}
	return &model.ProjectPayload{Project: project}, nil
}

// contactNamespace derives contact ids from idempotency keys, so that a
// retried addContact is the same request.
var contactNamespace = uuid.MustParse("2b7e3f1a-6c4d-4b8e-9f0a-5d3c2e1b4a69")

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func projectPage(page *readmodel.Page) *model.ProjectConnection {
	conn := &model.ProjectConnection{
		Edges:      []*model.ProjectEdge{},
		Nodes:      page.Projects,
		TotalCount: page.TotalCount,
		PageInfo:   &model.PageInfo{HasNextPage: page.HasNext, HasPreviousPage: page.HasPrevious},
	}
	if conn.Nodes == nil {
		conn.Nodes = []*readmodel.Project{}
	}
	for i, p := range page.Projects {
		conn.Edges = append(conn.Edges, &model.ProjectEdge{Cursor: page.Cursors[i], Node: p})
	}
	if n := len(page.Cursors); n > 0 {
		conn.PageInfo.StartCursor = &page.Cursors[0]
		conn.PageInfo.EndCursor = &page.Cursors[n-1]
	}
	return conn
}

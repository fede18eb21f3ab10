package graph

import (
	"encoding/json"

	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/graph/model"
	"github.com/integrationplatform/onboarding/readmodel"
)

// eventView turns a stored event into its API form. Secret answer values
// are masked like in the project view. Contact details are shown as
// decoded, which is ErasedValue after an erasure.
func eventView(env eventstore.Envelope) *model.ProjectEvent {
	e := env.Event
	if a, ok := e.(*domain.AnswerSubmitted); ok {
		// Events written before secrets were flagged carry no Secret, so
		// the template's kind decides for them.
		q, found := domain.CurrentTemplate().Question(a.QuestionID)
		if (a.Secret || found && q.Kind == domain.KindSecret) && !a.Erased {
			masked := *a
			masked.Value = readmodel.MaskSecret(a.Value)
			e = &masked
		}
	}
	data, err := json.Marshal(e)
	if err != nil {
		data = []byte("null")
	}
	actor := env.Metadata.Actor
	view := &model.ProjectEvent{
		ID:            env.EventID,
		ProjectID:     env.ProjectID,
		Type:          env.Type,
		SchemaVersion: env.Metadata.SchemaVersion,
		StreamVersion: int(env.Revision),
		Position:      env.Position.Cursor(),
		OccurredAt:    env.Metadata.OccurredAt,
		RecordedAt:    env.RecordedAt,
		Actor:         &actor,
		Data:          string(data),
	}
	if env.Metadata.CorrelationID != "" {
		id := env.Metadata.CorrelationID
		view.CorrelationID = &id
	}
	if env.Metadata.CausationID != "" {
		id := env.Metadata.CausationID
		view.CausationID = &id
	}
	return view
}

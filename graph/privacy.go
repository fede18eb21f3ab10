package graph

import (
	"context"
	"fmt"

	"github.com/integrationplatform/onboarding/command"
	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/graph/model"
)

// revealSecret records the reveal as an event, then returns the plain value
// that was current at the version before that event.
func (r *Resolver) revealSecret(ctx context.Context, in model.RevealSecretInput) (*model.RevealedSecret, error) {
	info := RequestInfoFrom(ctx)
	cmd := domain.RevealSecret{QuestionID: in.QuestionID, SystemID: deref(in.SystemID)}
	res, err := r.Commands.Execute(ctx, command.Request{ProjectID: in.ProjectID, Command: cmd, Actor: info.Actor, CorrelationID: info.RequestID})
	if err != nil {
		return nil, err
	}
	version := res.Version - 1
	value, ok := r.Models.Secret(in.ProjectID, domain.AnswerKey{QuestionID: cmd.QuestionID, SystemID: cmd.SystemID}, version)
	if !ok {
		// Only an erasure between the reveal and this read gets here.
		return nil, &domain.Error{Kind: domain.KindRuleViolation, Rule: domain.RulePersonalDataErased,
			Message: fmt.Sprintf("the personal data of project %q was erased, so no secret can be revealed", in.ProjectID)}
	}
	r.Log.Info().Str("request_id", info.RequestID).Str("project_id", in.ProjectID).Str("question_id", cmd.QuestionID).
		Str("system_id", cmd.SystemID).Str("user_id", info.Actor.UserID).Int("version", version).Msg("secret revealed")
	return &model.RevealedSecret{ProjectID: in.ProjectID, QuestionID: cmd.QuestionID, SystemID: in.SystemID, Value: value, Version: version}, nil
}

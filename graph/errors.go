package graph

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/rs/zerolog"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/integrationplatform/onboarding/command"
	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/eventstore"
)

// Error codes sent in extensions.code.
const (
	CodeBadUserInput     = "BAD_USER_INPUT"
	CodeNotFound         = "NOT_FOUND"
	CodeVersionConflict  = "VERSION_CONFLICT"
	CodeRuleViolation    = "RULE_VIOLATION"
	CodeStoreUnavailable = "STORE_UNAVAILABLE"
	CodeInternal         = "INTERNAL_SERVER_ERROR"
)

var kindCodes = map[domain.ErrorKind]string{
	domain.KindInvalid:       CodeBadUserInput,
	domain.KindNotFound:      CodeNotFound,
	domain.KindConflict:      CodeVersionConflict,
	domain.KindRuleViolation: CodeRuleViolation,
}

// errPanic replaces a recovered panic so that its text never reaches a
// client.
var errPanic = errors.New("panic in resolver")

// ErrorPresenter maps errors to GraphQL errors with a stable
// extensions.code. Errors it does not know are logged once with the
// request id and reach the client as a generic message.
func ErrorPresenter(log zerolog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		if pendingErr, ok := takePendingError(ctx, err); ok {
			return pendingErr
		}
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		if gqlErr.Extensions == nil {
			gqlErr.Extensions = map[string]any{}
		}
		var domainErr *domain.Error
		var conflict *command.ConflictError
		var forbidden *ForbiddenError
		switch {
		case errors.As(err, &domainErr):
			gqlErr.Message = domainErr.Error()
			gqlErr.Extensions["code"] = kindCodes[domainErr.Kind]
			if domainErr.Field != "" {
				gqlErr.Extensions["field"] = domainErr.Field
			}
			if domainErr.Rule != "" {
				gqlErr.Extensions["rule"] = domainErr.Rule
			}
			if len(domainErr.Missing) > 0 {
				gqlErr.Extensions["missing"] = domainErr.Missing
			}
		case errors.As(err, &forbidden):
			gqlErr.Message = forbidden.Error()
			gqlErr.Extensions["code"] = CodeForbidden
		case errors.As(err, &conflict):
			gqlErr.Message = conflict.Error()
			gqlErr.Extensions["code"] = CodeVersionConflict
			gqlErr.Extensions["currentVersion"] = conflict.Current
			gqlErr.Extensions["expectedVersion"] = conflict.Expected
		case errors.Is(err, eventstore.ErrUnavailable):
			gqlErr.Message = "the event store or the key storage is unavailable; retry later, with the same idempotencyKey to be safe"
			gqlErr.Extensions["code"] = CodeStoreUnavailable
			log.Warn().Err(err).Str("request_id", RequestInfoFrom(ctx).RequestID).Msg("event store unavailable")
		case gqlErr.Extensions["code"] != nil:
		case errors.Is(err, context.Canceled) && ctx.Err() != nil:
			// The client went away, so the response is never read.
			log.Info().Str("request_id", RequestInfoFrom(ctx).RequestID).Str("path", gqlErr.Path.String()).Msg("request cancelled by the client")
			gqlErr.Message = "the request was cancelled"
			gqlErr.Extensions["code"] = CodeInternal
		case isInputError(err):
			gqlErr.Extensions["code"] = CodeBadUserInput
		default:
			requestID := RequestInfoFrom(ctx).RequestID
			// Recover has already logged a panic, with its stack.
			if !errors.Is(err, errPanic) {
				log.Error().Err(err).Str("request_id", requestID).Str("path", gqlErr.Path.String()).Msg("internal error in request")
			}
			gqlErr.Message = fmt.Sprintf("internal server error; quote request id %q when reporting it", requestID)
			gqlErr.Extensions["code"] = CodeInternal
		}
		return gqlErr
	}
}

// isInputError reports whether err is gqlgen's own error about argument
// values, such as an invalid enum value in a variable.
func isInputError(err error) bool {
	var gqlErr *gqlerror.Error
	return errors.As(err, &gqlErr) && gqlErr.Err == nil
}

// Recover turns a panic in a resolver into an internal error and logs it
// with its stack.
func Recover(log zerolog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.Error().Str("request_id", RequestInfoFrom(ctx).RequestID).Str("panic", fmt.Sprint(p)).Bytes("stack", debug.Stack()).Msg("panic in resolver")
		return errPanic
	}
}

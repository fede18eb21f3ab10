package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/readmodel"
)

// CodeSubscriberTooSlow is the extensions.code of the error that ends a
// subscription whose client fell too far behind the change feed.
const CodeSubscriberTooSlow = "SUBSCRIBER_TOO_SLOW"

// parseAfter turns the after argument of a subscription into a position,
// and returns nil for nil.
func parseAfter(after *string) (*eventstore.Position, error) {
	if after == nil {
		return nil, nil
	}
	position, err := eventstore.ParseCursor(*after)
	if err != nil {
		return nil, &domain.Error{Kind: domain.KindInvalid, Field: "after", Message: err.Error()}
	}
	return &position, nil
}

// follow starts a goroutine that sends the changes req selects to the
// returned channel, converted by convert, until ctx ends or the changes
// end. Closing the channel ends the GraphQL subscription. When the feed
// drops the client as too slow, or the store fails during the catch-up,
// the subscription ends with an error instead (see endWithError).
func follow[T any](ctx context.Context, r *Resolver, req readmodel.FollowRequest, convert func(readmodel.Change) T) <-chan T {
	out := make(chan T, 1)
	go func() {
		defer close(out)
		var lastCursor string
		err := r.Models.Follow(ctx, r.Store, r.Codec, req, func(c readmodel.Change) error {
			select {
			case out <- convert(c):
				lastCursor = c.Envelope.Position.Cursor()
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		switch {
		case err == nil || ctx.Err() != nil:
			return
		case errors.Is(err, readmodel.ErrSubscriberTooSlow):
			r.Log.Warn().Str("request_id", RequestInfoFrom(ctx).RequestID).Str("project_id", req.ProjectID).
				Str("last_position", lastCursor).Int64("dropped_total", r.Models.Feed().Dropped()).
				Msg("subscriber fell behind the change feed and was dropped")
			endWithError(ctx, out, tooSlowError(ctx, lastCursor))
		default:
			r.Log.Error().Err(err).Str("request_id", RequestInfoFrom(ctx).RequestID).Str("project_id", req.ProjectID).
				Msg("subscription ended by an error")
			endWithError(ctx, out, ErrorPresenter(r.Log)(ctx, err))
		}
	}()
	return out
}

// tooSlowError returns the error that tells the client to subscribe again
// from the position of the last event it received.
func tooSlowError(ctx context.Context, lastCursor string) *gqlerror.Error {
	message := "the subscription fell more than %d changes behind and was dropped; subscribe again with after set to the position of the last event you received"
	err := &gqlerror.Error{
		Message:    fmt.Sprintf(message, readmodel.SubscriberBuffer),
		Path:       graphql.GetPath(ctx),
		Extensions: map[string]any{"code": CodeSubscriberTooSlow},
	}
	if lastCursor != "" {
		err.Extensions["lastPosition"] = lastCursor
	}
	return err
}

// endWithError makes err the last message of the subscription. Over
// WebSocket it becomes an error message, sent by gqlgen's transport in
// place of complete when the channel closes. gqlgen v0.17.98 sets up
// transport.AddSubscriptionError only for WebSocket and panics elsewhere,
// so over SSE the error rides on a null value instead: pending holds it
// until ErrorPresenter replaces the null error with it. The caller closes
// out after endWithError returns.
func endWithError[T any](ctx context.Context, out chan<- T, err *gqlerror.Error) {
	if overWebSocket(ctx) && addSubscriptionError(ctx, err) {
		return
	}
	op := graphql.GetOperationContext(ctx)
	pending.Store(op, err)
	var null T
	select {
	case out <- null:
	case <-ctx.Done():
		pending.Delete(op)
	}
}

// overWebSocket reports whether the operation came over a WebSocket, whose
// upgrade request's headers gqlgen passes on as the operation's headers.
func overWebSocket(ctx context.Context) bool {
	if !graphql.HasOperationContext(ctx) {
		return false
	}
	headers := http.Header(graphql.GetOperationContext(ctx).Headers)
	return strings.EqualFold(headers.Get("Upgrade"), "websocket")
}

// addSubscriptionError calls transport.AddSubscriptionError and reports
// whether it worked. It recovers the panic of a context without gqlgen's
// WebSocket error slot, so that a wrong guess of the transport costs a
// fallback and not the server.
func addSubscriptionError(ctx context.Context, err *gqlerror.Error) (added bool) {
	defer func() {
		if recover() != nil {
			added = false
		}
	}()
	transport.AddSubscriptionError(ctx, err)
	return true
}

// pending contains, per operation, the error that endWithError sent as a null
// value, until ErrorPresenter takes it.
var pending sync.Map // *graphql.OperationContext → *gqlerror.Error

// takePendingError returns the error pending for the operation of ctx when
// err is the null error that endWithError caused.
func takePendingError(ctx context.Context, err error) (*gqlerror.Error, bool) {
	var null *graphql.InvalidNullError
	if !errors.As(err, &null) || !graphql.HasOperationContext(ctx) {
		return nil, false
	}
	value, ok := pending.LoadAndDelete(graphql.GetOperationContext(ctx))
	if !ok {
		return nil, false
	}
	presented := *value.(*gqlerror.Error)
	if len(presented.Path) == 0 {
		presented.Path = ast.Path{ast.PathName(null.Field)}
	}
	return &presented, true
}

// dashboardChanged sends the dashboard now and after changes, narrowed to
// the caller's own projects for a customer.
func (r *Resolver) dashboardChanged(ctx context.Context) <-chan *readmodel.Dashboard {
	customerID := customerScope(ctx)
	sub := r.Models.Feed().SubscribeDashboard()
	out := make(chan *readmodel.Dashboard, 1)
	go func() {
		defer close(out)
		defer sub.Close()
		var last *readmodel.Dashboard
		for {
			select {
			case <-ctx.Done():
				return
			case d, ok := <-sub.C:
				if !ok {
					return
				}
				if customerID != "" {
					// The feed's dashboard counts every project; a customer
					// gets one of its own, sent only when it changed.
					own := r.Models.DashboardFor(customerID)
					if reflect.DeepEqual(own, last) {
						continue
					}
					d, last = own, own
				}
				select {
				case out <- d:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

package graph

import (
	"context"

	"github.com/integrationplatform/onboarding/readmodel"
)

// pump forwards changes from sub to out, converted by convert, until ctx
// ends or the subscription ends. It closes out when it returns, which ends
// the GraphQL subscription.
func pump[T any](ctx context.Context, sub *readmodel.Subscription, out chan<- T, convert func(readmodel.Change) T) {
	defer close(out)
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case c, ok := <-sub.C:
			if !ok {
				return
			}
			select {
			case out <- convert(c):
			case <-ctx.Done():
				return
			}
		}
	}
}

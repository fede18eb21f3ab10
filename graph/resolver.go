// Package graph serves the GraphQL API: the schema, thin resolvers that map
// requests to commands and read-model queries, and the error presenter.
package graph

//go:generate go run github.com/99designs/gqlgen generate

import (
	"github.com/rs/zerolog"

	"github.com/integrationplatform/onboarding/command"
	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/readmodel"
)

// Resolver is the root resolver. Its fields are set once at start.
type Resolver struct {
	Commands *command.Handler
	Models   *readmodel.Models
	// Store is read by the audit queries: history, auditLog, projectDiff,
	// verifyProjections and project with asOf.
	Store eventstore.Store
	// Codec decodes the events that the audit queries read, opening sealed
	// personal data.
	Codec *eventstore.Codec
	Log   zerolog.Logger
}

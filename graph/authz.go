package graph

import (
	"context"
	"fmt"
	"slices"

	"github.com/99designs/gqlgen/graphql"

	"github.com/integrationplatform/onboarding/graph/model"
)

// CodeForbidden is the error code of an operation the caller's role may not
// use, or of a project outside a customer's own.
const CodeForbidden = "FORBIDDEN"

// ForbiddenError reports an operation the caller may not use.
type ForbiddenError struct {
	Operation string
	Role      string
	Reason    string
}

func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("role %q may not use %s: %s", e.Role, e.Operation, e.Reason)
}

// Roles, as bearer tokens name them.
const (
	roleCustomer = "customer"
	roleEngineer = "engineer"
	roleAuditor  = "auditor"
	roleAdmin    = "admin"
)

var (
	everyone  = []string{roleCustomer, roleEngineer, roleAuditor, roleAdmin}
	readers   = []string{roleEngineer, roleAuditor, roleAdmin}
	auditors  = []string{roleAuditor, roleAdmin}
	writers   = []string{roleEngineer, roleAdmin}
	customers = []string{roleCustomer, roleEngineer, roleAdmin}
	admins    = []string{roleAdmin}
)

// Permissions lists, for every root field, the roles that may use it. A
// customer may use an operation only on its own customer's projects, except
// for the fields in customerWide.
var Permissions = map[string][]string{
	"Query.project":                     everyone,
	"Query.projects":                    everyone,
	"Query.processTemplate":             everyone,
	"Query.platforms":                   everyone,
	"Query.dashboard":                   everyone,
	"Query.history":                     everyone,
	"Query.projectDiff":                 everyone,
	"Query.auditLog":                    auditors,
	"Query.verifyProjections":           auditors,
	"Query.replay":                      admins,
	"Mutation.startProject":             writers,
	"Mutation.submitAnswer":             customers,
	"Mutation.addContact":               customers,
	"Mutation.removeContact":            customers,
	"Mutation.recordTestResult":         customers,
	"Mutation.completeStep":             writers,
	"Mutation.reopenStep":               writers,
	"Mutation.logTime":                  writers,
	"Mutation.markWaitingOnCustomer":    writers,
	"Mutation.resumeWork":               writers,
	"Mutation.completeProject":          writers,
	"Mutation.cancelProject":            writers,
	"Subscription.projectChanged":       everyone,
	"Subscription.projectEvents":        everyone,
	"Subscription.dashboardChanged":     everyone,
	"Mutation.revealSecret":             writers,
	"Mutation.eraseProjectPersonalData": admins,
}

// customerWide are the fields a customer may use without naming a project.
// The list, the dashboards and the event subscription are narrowed to the
// customer's own projects by customerScope; the rest hold no project data.
var customerWide = map[string]bool{
	"Query.projects": true, "Query.processTemplate": true, "Query.platforms": true,
	"Query.dashboard": true, "Subscription.dashboardChanged": true,
}

// Authorize is a gqlgen field middleware that checks every root field
// against Permissions, in one place for queries, mutations and
// subscriptions. Without authentication the caller has no role and may
// use everything.
func (r *Resolver) Authorize(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return next(ctx)
	}
	if fc.Object != "Query" && fc.Object != "Mutation" && fc.Object != "Subscription" {
		return hideInternalNotes(ctx, fc, next)
	}
	if !fc.IsResolver {
		return next(ctx)
	}
	info := RequestInfoFrom(ctx)
	role := info.Actor.Role
	if role == "" {
		return next(ctx)
	}
	operation := fc.Object + "." + fc.Field.Name
	allowed, known := Permissions[operation]
	if !known || !slices.Contains(allowed, role) {
		return nil, &ForbiddenError{Operation: operation, Role: role, Reason: "the role lacks the permission"}
	}
	if role == roleCustomer {
		if err := r.authorizeCustomer(operation, fc.Args, info.CustomerID); err != nil {
			return nil, err
		}
	}
	return next(ctx)
}

// authorizeCustomer narrows a customer's request to its own projects.
func (r *Resolver) authorizeCustomer(operation string, args map[string]any, customerID string) error {
	if operation == "Query.projects" {
		filter, _ := args["filter"].(*model.ProjectFilter)
		if filter == nil {
			filter = &model.ProjectFilter{}
			args["filter"] = filter
		}
		if filter.CustomerID != nil && *filter.CustomerID != customerID {
			return &ForbiddenError{Operation: operation, Role: roleCustomer, Reason: fmt.Sprintf("a customer lists only its own projects; leave customerId out or send %q", customerID)}
		}
		filter.CustomerID = &customerID
		return nil
	}
	if customerWide[operation] {
		return nil
	}
	projectID := projectArgument(args)
	if projectID == "" && operation == "Subscription.projectEvents" {
		return nil
	}
	if projectID == "" {
		return &ForbiddenError{Operation: operation, Role: roleCustomer, Reason: "a customer must name one of its own projects"}
	}
	if owner, ok := r.Models.ProjectCustomer(projectID); !ok || owner != customerID {
		return &ForbiddenError{Operation: operation, Role: roleCustomer, Reason: fmt.Sprintf("project %q is not one of customer %q's projects", projectID, customerID)}
	}
	if operation == "Mutation.recordTestResult" {
		if in, ok := args["input"].(model.RecordTestResultInput); ok && in.TestID != "test-purchase" {
			return &ForbiddenError{Operation: operation, Role: roleCustomer, Reason: "a customer may record only the test-purchase test"}
		}
	}
	return nil
}

// projectArgument returns the project a root field names: its id or
// projectId argument, or the projectId of its input.
func projectArgument(args map[string]any) string {
	for _, name := range []string{"id", "projectId"} {
		switch v := args[name].(type) {
		case string:
			return v
		case *string:
			if v != nil {
				return *v
			}
		}
	}
	switch in := args["input"].(type) {
	case model.SubmitAnswerInput:
		return in.ProjectID
	case model.AddContactInput:
		return in.ProjectID
	case model.RemoveContactInput:
		return in.ProjectID
	case model.RecordTestResultInput:
		return in.ProjectID
	case model.RevealSecretInput:
		return in.ProjectID
	case model.ErasePersonalDataInput:
		return in.ProjectID
	}
	return ""
}

// customerScope returns the customer id that narrows a request of a caller
// with the customer role, and "" for every other caller.
func customerScope(ctx context.Context) string {
	info := RequestInfoFrom(ctx)
	if info.Actor.Role != roleCustomer {
		return ""
	}
	return info.CustomerID
}

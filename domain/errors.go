package domain

import (
	"errors"
	"fmt"
	"strings"
)

// ErrorKind classifies a domain error so that the API can map it to a
// stable error code.
type ErrorKind string

// Error kinds.
const (
	// KindInvalid marks a value that is malformed or out of range.
	KindInvalid ErrorKind = "invalid"
	// KindNotFound marks a reference to something that does not exist.
	KindNotFound ErrorKind = "not_found"
	// KindConflict marks a version that did not match the expected one.
	KindConflict ErrorKind = "conflict"
	// KindRuleViolation marks a command that breaks a process rule.
	KindRuleViolation ErrorKind = "rule_violation"
)

// Error is the error type of the domain. Message is written for the end
// user: it names the value that was wrong and what to do about it.
type Error struct {
	Kind    ErrorKind
	Message string
	// Field names the input field at fault, if any.
	Field string
	// Rule is the stable name of the broken rule for KindRuleViolation.
	Rule string
	// Missing lists what must be done before the command can succeed, for
	// example the ids of unanswered questions.
	Missing []string
}

func (e *Error) Error() string {
	if len(e.Missing) == 0 {
		return e.Message
	}
	return e.Message + " (missing: " + strings.Join(e.Missing, ", ") + ")"
}

// KindOf returns the kind of the first *Error in err's chain, or "" when
// there is none.
func KindOf(err error) ErrorKind {
	var de *Error
	if errors.As(err, &de) {
		return de.Kind
	}
	return ""
}

func invalid(field, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

func notFound(field, format string, args ...any) *Error {
	return &Error{Kind: KindNotFound, Field: field, Message: fmt.Sprintf(format, args...)}
}

func violation(rule string, missing []string, format string, args ...any) *Error {
	return &Error{Kind: KindRuleViolation, Rule: rule, Missing: missing, Message: fmt.Sprintf(format, args...)}
}

// Rule names reported in Error.Rule.
const (
	RuleProjectClosed       = "PROJECT_CLOSED"
	RuleStepNotApplicable   = "STEP_NOT_APPLICABLE"
	RuleStepIncomplete      = "STEP_INCOMPLETE"
	RulePhaseOrder          = "PHASE_ORDER"
	RuleStepCompleted       = "STEP_ALREADY_COMPLETED"
	RuleStepNotCompleted    = "STEP_NOT_COMPLETED"
	RuleProjectIncomplete   = "PROJECT_INCOMPLETE"
	RuleWaitingState        = "WAITING_STATE"
	RuleProjectAlreadyExist = "PROJECT_EXISTS"
	RulePersonalDataErased  = "PERSONAL_DATA_ERASED"
)

// Package items holds the domain of the service: the Item type, its
// validation, listing parameters and the error type that carries the public
// error codes. It imports only the standard library.
package items

import (
	"errors"
	"fmt"
)

// Code is a public error code, sent to clients as extensions.code.
type Code string

// The error codes of the public contract.
const (
	CodeBadUserInput       Code = "BAD_USER_INPUT"
	CodeNotFound           Code = "NOT_FOUND"
	CodeConflict           Code = "CONFLICT"
	CodeBadGateway         Code = "BAD_GATEWAY"
	CodeUnauthenticated    Code = "UNAUTHENTICATED"
	CodeForbidden          Code = "FORBIDDEN"
	CodeServiceUnavailable Code = "SERVICE_UNAVAILABLE"
	CodeInternal           Code = "INTERNAL_SERVER_ERROR"
	CodeParseFailed        Code = "GRAPHQL_PARSE_FAILED"
	CodeValidationFailed   Code = "GRAPHQL_VALIDATION_FAILED"
	CodeComplexityExceeded Code = "COMPLEXITY_LIMIT_EXCEEDED"
	CodePersistedNotFound  Code = "PERSISTED_QUERY_NOT_FOUND"
)

// Error is an error that a client may see: its Code and Message are public,
// and Extensions (field, currentVersion, attempts, …) are sent as they are.
// Anything that is not an *Error is internal and is never shown to a client.
type Error struct {
	Code    Code
	Message string
	// Field names the input field at fault, for BAD_USER_INPUT.
	Field string
	// Extensions holds further public details, such as currentVersion.
	Extensions map[string]any
	// Err is the cause, for the log only.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// InvalidInput returns a BAD_USER_INPUT error naming the input field.
func InvalidInput(field, format string, args ...any) *Error {
	return &Error{Code: CodeBadUserInput, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrNotFound is the error for an item that does not exist (or that the
// caller may not see: the two are indistinguishable on purpose).
var ErrNotFound = &Error{Code: CodeNotFound, Message: "item not found"}

// ConflictError reports a failed expectedVersion check.
func ConflictError(current int) *Error {
	return &Error{
		Code:       CodeConflict,
		Message:    fmt.Sprintf("item was modified: current version is %d", current),
		Extensions: map[string]any{"currentVersion": current},
	}
}

// ErrorCode returns the public code of err: its *Error code, or
// INTERNAL_SERVER_ERROR for anything else.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

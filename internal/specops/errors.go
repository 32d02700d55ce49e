package specops

import "fmt"

// Kind classifies why an operation cannot apply; the API maps it to an
// HTTP status.
type Kind int

// Kinds of Error.
const (
	// Invalid: the request is wrong in itself (400).
	Invalid Kind = iota
	// NotFound: the app, or the part the request is about, does not exist (404).
	NotFound
	// Conflict: the request does not fit the app as it is now (409).
	Conflict
	// Forbidden: the app belongs to another team (403).
	Forbidden
)

// Error is an operation that cannot apply to a document.
type Error struct {
	Kind Kind
	// Field is the field of the request that is wrong, when one is.
	Field   string
	Message string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

func errorOf(kind Kind, field, format string, args ...any) *Error {
	return &Error{Kind: kind, Field: field, Message: fmt.Sprintf(format, args...)}
}

func invalid(field, format string, args ...any) error {
	return errorOf(Invalid, field, format, args...)
}

func notFound(format string, args ...any) error {
	return errorOf(NotFound, "", format, args...)
}

func conflict(format string, args ...any) error {
	return errorOf(Conflict, "", format, args...)
}

func conflictAt(field, format string, args ...any) error {
	return errorOf(Conflict, field, format, args...)
}

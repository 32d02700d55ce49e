package submit

import (
	"fmt"
	"net/http"

	"github.com/dmls-project/dmls/internal/apiclient"
)

// Error is an answer other than 2xx: its status and findings. The writer
// answers jobs with it, and the API's handlers answer requests with it,
// for the outcomes a client can act on.
type Error struct {
	Status int
	Errors []apiclient.FieldError
	// RetryAfter, in seconds, is sent with 429 and 503.
	RetryAfter int
}

func (e *Error) Error() string {
	if len(e.Errors) == 0 {
		return http.StatusText(e.Status)
	}
	return fmt.Sprintf("%d: %s", e.Status, e.Errors[0].Message)
}

// Errorf returns an Error with one finding that is not about a field.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Errors: []apiclient.FieldError{{Message: fmt.Sprintf(format, args...)}}}
}

// FieldErrorf returns an Error with one finding about the field at path.
func FieldErrorf(status int, path, format string, args ...any) *Error {
	return &Error{Status: status, Errors: []apiclient.FieldError{{Path: path, Message: fmt.Sprintf(format, args...)}}}
}

// Unavailable is a 503 that asks to try again after retryAfter seconds.
func Unavailable(retryAfter int, format string, args ...any) *Error {
	e := Errorf(http.StatusServiceUnavailable, format, args...)
	e.RetryAfter = retryAfter
	return e
}

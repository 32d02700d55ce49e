package api

import (
	"fmt"
	"net/http"

	"github.com/dmls-project/dmls/internal/apiclient"
)

// apiError is an answer other than 2xx: its status and findings. Handlers
// and operations return it for the outcomes a client can act on.
type apiError struct {
	status int
	errors []apiclient.FieldError
	// retryAfter, in seconds, is sent with 429 and 503.
	retryAfter int
}

func (e *apiError) Error() string {
	if len(e.errors) == 0 {
		return http.StatusText(e.status)
	}
	return fmt.Sprintf("%d: %s", e.status, e.errors[0].Message)
}

// errorf returns an apiError with one finding that is not about a field.
func errorf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, errors: []apiclient.FieldError{{Message: fmt.Sprintf(format, args...)}}}
}

// fieldErrorf returns an apiError with one finding about the field at path.
func fieldErrorf(status int, path, format string, args ...any) *apiError {
	return &apiError{status: status, errors: []apiclient.FieldError{{Path: path, Message: fmt.Sprintf(format, args...)}}}
}

func badRequest(path, format string, args ...any) *apiError {
	return fieldErrorf(http.StatusBadRequest, path, format, args...)
}

func notFound(format string, args ...any) *apiError {
	return errorf(http.StatusNotFound, format, args...)
}

func conflict(format string, args ...any) *apiError {
	return errorf(http.StatusConflict, format, args...)
}

func forbidden(format string, args ...any) *apiError {
	return errorf(http.StatusForbidden, format, args...)
}

func unavailable(retryAfter int, format string, args ...any) *apiError {
	e := errorf(http.StatusServiceUnavailable, format, args...)
	e.retryAfter = retryAfter
	return e
}

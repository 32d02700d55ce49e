package api

import (
	"net/http"

	"github.com/dmls-project/dmls/internal/submit"
)

// apiError is an answer other than 2xx (submit.Error): handlers and the
// writer return it for the outcomes a client can act on.
type apiError = submit.Error

// errorf returns an apiError with one finding that is not about a field.
func errorf(status int, format string, args ...any) *apiError {
	return submit.Errorf(status, format, args...)
}

func badRequest(path, format string, args ...any) *apiError {
	return submit.FieldErrorf(http.StatusBadRequest, path, format, args...)
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
	return submit.Unavailable(retryAfter, format, args...)
}

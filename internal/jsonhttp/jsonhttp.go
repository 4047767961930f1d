// Package jsonhttp writes the JSON answers and errors of the viewer-side
// services, in the shape the API's errors have: {"error": {"code",
// "message"}}.
package jsonhttp

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// Write answers with v as JSON.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Error answers with a JSON error.
func Error(w http.ResponseWriter, status int, code, msg string) {
	Write(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// Decode reads a request body of at most limit bytes holding one JSON
// value into v, refusing unknown fields. On a bad body it answers 400
// invalid_input, saying what the body should have been (what), and
// returns false.
func Decode(w http.ResponseWriter, r *http.Request, v any, limit int64, what string) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		Error(w, http.StatusBadRequest, "invalid_input", "the body is not "+what+": "+err.Error())
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		Error(w, http.StatusBadRequest, "invalid_input", "the body has more than one JSON value")
		return false
	}
	return true
}

// Denied is a refusal a service's authentication hook returns: the
// status (401, 403, 404) and the error to answer.
type Denied struct {
	Status        int
	Code, Message string
}

func (d *Denied) Error() string { return d.Message }

// Refused answers err if it is a *Denied and reports whether it was.
func Refused(w http.ResponseWriter, err error) bool {
	var d *Denied
	if !errors.As(err, &d) {
		return false
	}
	Error(w, d.Status, d.Code, d.Message)
	return true
}

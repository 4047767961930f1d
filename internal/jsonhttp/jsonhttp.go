// Package jsonhttp writes the JSON answers and errors of the viewer-side
// services, in the shape the API's errors have: {"error": {"code",
// "message"}}.
package jsonhttp

import (
	"encoding/json"
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

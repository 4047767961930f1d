package api

import (
	"context"
	"embed"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

// ui is the web page served at /ui/: jobs with live progress, a job's
// ladder, timings and a player preview.
//
//go:embed ui
var ui embed.FS

// DefaultHLSJS is where the web page loads hls.js from when HLSJS is not
// set.
const DefaultHLSJS = "https://cdn.jsdelivr.net/npm/hls.js@1.7.4/dist/hls.min.js"

// routeKey holds, in a request's context, where the innermost handler
// writes the route pattern that served it, for the request metrics.
type routeKey struct{}

// observe records every request's route, status and time; the route is
// the ServeMux pattern that matched, or "unauthenticated" for requests
// refused before routing.
func (s *Server) observe(h http.Handler) http.Handler {
	if s.Metrics == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		route := "unauthenticated"
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), routeKey{}, &route)))
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		s.Metrics.Request(route, rec.status, time.Since(start))
	})
}

// routed tells observe which route pattern served the request.
func routed(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		if p, ok := r.Context().Value(routeKey{}).(*string); ok {
			*p = r.Pattern
			if *p == "" || *p == "/" {
				*p = "unknown"
			}
		}
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// Flush passes on server-sent events.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// metrics serves the Prometheus series to an admin key.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if !requireAdmin(w, r) {
		return
	}
	if s.Metrics == nil {
		writeError(w, http.StatusNotFound, "not_found", "metrics are not enabled on this server")
		return
	}
	s.Metrics.Handler().ServeHTTP(w, r)
}

// monitoring serves asynq's web UI to an admin key.
func (s *Server) monitoring(w http.ResponseWriter, r *http.Request) {
	if !requireAdmin(w, r) {
		return
	}
	s.Monitoring.ServeHTTP(w, r)
}

// basicAsBearer lets a browser sign in to /monitoring with its own login
// prompt: any user name, the API key as password.
func basicAsBearer(r *http.Request) {
	if r.Header.Get("Authorization") != "" && !strings.HasPrefix(r.Header.Get("Authorization"), "Basic ") {
		return
	}
	if _, key, ok := r.BasicAuth(); ok {
		r.Header.Set("Authorization", "Bearer "+key)
	}
}

// page serves the web page and, when HLSJS names a local file, hls.js.
func (s *Server) page() http.Handler {
	sub, _ := fs.Sub(ui, "ui")
	files := http.FileServerFS(sub)
	src := s.HLSJS
	if src == "" {
		src = DefaultHLSJS
	} else if !isURL(src) {
		src = "/ui/hls.min.js"
	}
	index, err := fs.ReadFile(sub, "index.html")
	index = []byte(strings.Replace(string(index), "{{HLSJS}}", src, 1))
	watch, werr := fs.ReadFile(sub, "watch.html")
	watch = []byte(strings.Replace(string(watch), "{{HLSJS}}", src, 1))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/ui/")
		switch {
		case name == "hls.min.js" && s.HLSJS != "" && !isURL(s.HLSJS):
			w.Header().Set("Cache-Control", "public, max-age=3600")
			http.ServeFile(w, r, s.HLSJS)
		case name == "" || name == "index.html":
			if err != nil {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-cache")
			w.Header().Set("X-Frame-Options", "DENY")
			_, _ = w.Write(index)
		case name == "watch.html":
			// The viewers' page: it calls the viewer-side services by
			// relative URL, so it is opened through the gateway.
			if werr != nil {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-cache")
			w.Header().Set("X-Frame-Options", "DENY")
			_, _ = w.Write(watch)
		default:
			http.StripPrefix("/ui/", files).ServeHTTP(w, r)
		}
	})
}

func isURL(s string) bool { return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://") }

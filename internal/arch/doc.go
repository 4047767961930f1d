// Package arch holds the tests that keep Reel's packages pointing one way:
// the domain (pipeline, ladder, timeline) and the packager link no Redis,
// S3 or ffmpeg library, and the API knows the domain, not the adapters.
package arch

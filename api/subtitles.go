package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/subtitles"
)

// maxSubtitleBytes bounds the subtitle files of one request together.
const maxSubtitleBytes = 8 << 20

// subtitleFiles are the subtitle files sent with a job request, by name;
// a file over subtitles.MaxFileSize is kept as its first bytes, marked.
type subtitleFiles struct {
	data  map[string][]byte
	large map[string]int64 // size of each file over the limit
	total int64
}

// add reads one file of the request.
func (f *subtitleFiles) add(name string, r io.Reader) error {
	if f.data == nil {
		f.data, f.large = map[string][]byte{}, map[string]int64{}
	}
	if _, dup := f.data[name]; dup {
		return &requestError{http.StatusBadRequest, "invalid_subtitles", fmt.Sprintf("the subtitle file %q is sent twice", name)}
	}
	if len(f.data) >= ladder.MaxSubtitleFiles {
		return &requestError{http.StatusBadRequest, "invalid_subtitles", fmt.Sprintf("at most %d subtitle files may be sent with a job", ladder.MaxSubtitleFiles)}
	}
	data, err := io.ReadAll(io.LimitReader(r, subtitles.MaxFileSize+1))
	if err != nil {
		return err
	}
	if len(data) > subtitles.MaxFileSize {
		n, err := io.Copy(io.Discard, r)
		if err != nil {
			return err
		}
		f.large[name], data = int64(len(data))+n, data[:0]
	}
	if f.total += int64(len(data)); f.total > maxSubtitleBytes {
		return &requestError{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the subtitle files sent with a job may hold %d bytes in all", maxSubtitleBytes)}
	}
	f.data[name] = data
	return nil
}

// requestError is a request the API refuses, with its status and code.
type requestError struct {
	status    int
	code, msg string
}

func (e *requestError) Error() string { return e.msg }

// storeSidecars matches the subtitle files sent with job j to the job's
// list of them (Ladder.Subtitles): every file sent must be listed and
// every file listed sent, or the request is refused. Each file is read
// and checked; one that reads is stored as WebVTT under the job and
// recorded in j.Sidecars, one that does not is refused with a warning in
// j.Warnings that names it and says what is wrong, and the job goes on
// without it.
func (s *Server) storeSidecars(ctx context.Context, j *pipeline.Job, files subtitleFiles) error {
	list := j.Ladder.Subtitles
	var unlisted []string
	for name := range files.data {
		if !slices.ContainsFunc(list, func(f ladder.SubtitleFile) bool { return f.File == name }) {
			unlisted = append(unlisted, name)
		}
	}
	if len(unlisted) > 0 {
		sort.Strings(unlisted)
		return &requestError{http.StatusBadRequest, "invalid_subtitles", fmt.Sprintf(
			"the subtitle files %q are not listed in the ladder's \"subtitles\"; list each with its language, as {\"file\": %q, \"language\": \"en\"}", unlisted, unlisted[0])}
	}
	for i, f := range list {
		data, ok := files.data[f.File]
		if !ok {
			return &requestError{http.StatusBadRequest, "invalid_subtitles", fmt.Sprintf(
				"the ladder lists the subtitle file %q, which the request does not carry; send it as a multipart part named \"subtitles\" with that file name (or in \"subtitle_files\" of the JSON form)", f.File)}
		}
		if n, large := files.large[f.File]; large {
			j.Warnings = append(j.Warnings, (&subtitles.Error{Name: f.File, Msg: fmt.Sprintf(
				"is %d bytes, over the %d-byte limit for a subtitle file; the title is made without it", n, subtitles.MaxFileSize)}).Error())
			continue
		}
		tr, err := subtitles.Parse(f.File, data, "")
		if err != nil {
			j.Warnings = append(j.Warnings, err.Error()+"; the title is made without it")
			continue
		}
		vtt, err := tr.WebVTT()
		if err != nil {
			return err
		}
		key := pipeline.SidecarKey(j.ID, i)
		if _, err := s.Uploads.PutStream(ctx, s.Uploads.Bucket(), key, bytes.NewReader(vtt), "text/vtt"); err != nil {
			return err
		}
		j.Sidecars = append(j.Sidecars, pipeline.Sidecar{File: f.File, Key: key, Cues: tr.Cues()})
	}
	return nil
}

// writeRequestError writes err: a refused request with its status, or a
// failure of the server.
func (s *Server) writeRequestError(w http.ResponseWriter, r *http.Request, err error) {
	if re, ok := err.(*requestError); ok {
		writeError(w, re.status, re.code, re.msg)
		return
	}
	s.fail(w, r, err)
}

// jsonSubtitles are the subtitle files of the JSON form, by name.
func jsonSubtitles(m map[string]string) (subtitleFiles, error) {
	var f subtitleFiles
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := f.add(name, strings.NewReader(m[name])); err != nil {
			return f, err
		}
	}
	return f, nil
}

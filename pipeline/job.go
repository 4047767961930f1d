// Package pipeline holds Reel's domain: the job model and its state machine,
// chunk planning, progress, and the fan-in that starts packaging once every
// chunk and the audio are encoded.
package pipeline

import (
	"errors"
	"fmt"
	"time"

	"github.com/reel-video/reel/ladder"
)

// Status is a job's stage.
type Status string

// Job statuses, in pipeline order.
const (
	StatusQueued     Status = "queued"
	StatusProbing    Status = "probing"
	StatusSplitting  Status = "splitting"
	StatusEncoding   Status = "encoding"
	StatusPackaging  Status = "packaging"
	StatusPublishing Status = "publishing"
	StatusComplete   Status = "complete"
	StatusFailed     Status = "failed"
	StatusCanceled   Status = "canceled"
)

var order = map[Status]int{
	StatusQueued: 0, StatusProbing: 1, StatusSplitting: 2, StatusEncoding: 3,
	StatusPackaging: 4, StatusPublishing: 5, StatusComplete: 6, StatusFailed: 6, StatusCanceled: 6,
}

// Terminal reports whether no stage runs after s.
func (s Status) Terminal() bool {
	return s == StatusComplete || s == StatusFailed || s == StatusCanceled
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool { _, ok := order[s]; return ok }

// ErrTransition is returned for a move the state machine forbids.
var ErrTransition = errors.New("invalid status transition")

// CanMove reports whether a job may go from one status to another: forward
// only, never out of a terminal status.
func CanMove(from, to Status) bool {
	if from.Terminal() || !to.Valid() || !from.Valid() {
		return false
	}
	return order[to] > order[from]
}

// Error codes a job can fail with.
const (
	CodeInvalidMedia = "invalid_media" // the master cannot be transcoded
	CodeEncodeFailed = "encode_failed" // ffmpeg failed after retries
	CodeInternal     = "internal"      // storage or queue failure after retries
)

// JobError is why a job failed.
type JobError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// SourceRef is where the master is stored.
type SourceRef struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	Name   string `json:"name,omitempty"` // the uploaded file name, for display only
	Size   int64  `json:"size,omitempty"`
}

// SourceInfo is what the probe found in the master.
type SourceInfo struct {
	Format       string  `json:"format"`
	Duration     float64 `json:"duration"`
	Size         int64   `json:"size"`
	VideoCodec   string  `json:"video_codec"`
	Width        int     `json:"width"`
	Height       int     `json:"height"`
	SAR          string  `json:"sar"`
	FrameRate    string  `json:"frame_rate"`
	FrameRateNum int     `json:"frame_rate_num"`
	FrameRateDen int     `json:"frame_rate_den"`
	PixFmt       string  `json:"pix_fmt"`
	Frames       int64   `json:"frames"`
	AudioCodec   string  `json:"audio_codec,omitempty"`
	AudioChans   int     `json:"audio_channels,omitempty"`
}

// MasterPrefix holds everything stored for a job's master; MasterKey is the
// master itself, in the masters bucket.
func MasterPrefix(id string) string { return "masters/" + id + "/" }

// MasterKey is where an uploaded master is stored.
func MasterKey(id string) string { return MasterPrefix(id) + "source" }

// Rendition is one rung chosen for this job.
type Rendition struct {
	ladder.Rung
	Frames           int64  `json:"frames"`
	Codecs           string `json:"codecs,omitempty"`
	Bandwidth        int    `json:"bandwidth,omitempty"`
	AverageBandwidth int    `json:"average_bandwidth,omitempty"`
}

// Published holds the object keys of a published title's manifests in the
// origin bucket.
type Published struct {
	HLS  string `json:"hls"`
	DASH string `json:"dash"`
}

// Outputs are the published manifests' URLs.
type Outputs struct {
	HLS  string `json:"hls"`
	DASH string `json:"dash"`
}

// Job is one master going through the pipeline. It is stored whole; the
// fast-changing progress counters live beside it (see Store).
type Job struct {
	ID         string        `json:"id"`
	Status     Status        `json:"status"`
	Input      SourceRef     `json:"input"`
	Ladder     ladder.Ladder `json:"ladder"`
	Source     *SourceInfo   `json:"source,omitempty"`
	Renditions []Rendition   `json:"renditions"`
	Plan       *Plan         `json:"plan,omitempty"`
	HasAudio   bool          `json:"has_audio"`
	Audio      *AudioTrack   `json:"audio,omitempty"`
	Published  *Published    `json:"published,omitempty"`
	Error      *JobError     `json:"error,omitempty"`
	CreatedAt  time.Time     `json:"created_at"`
	UpdatedAt  time.Time     `json:"updated_at"`
	StartedAt  *time.Time    `json:"started_at,omitempty"`
	FinishedAt *time.Time    `json:"finished_at,omitempty"`
}

// AudioTrack describes the encoded audio once the audio task is done.
type AudioTrack struct {
	Codecs   string `json:"codecs"`
	Channels int    `json:"channels"`
}

// Move changes the job's status if the state machine allows it.
func (j *Job) Move(to Status, now time.Time) error {
	if !CanMove(j.Status, to) {
		return fmt.Errorf("%w: %s -> %s", ErrTransition, j.Status, to)
	}
	j.Status = to
	j.UpdatedAt = now
	if j.StartedAt == nil && to != StatusQueued {
		j.StartedAt = &now
	}
	if to.Terminal() {
		j.FinishedAt = &now
	}
	return nil
}

// Fail moves the job to failed with a code and message, unless it already
// ended.
func (j *Job) Fail(code, msg string, now time.Time) error {
	if err := j.Move(StatusFailed, now); err != nil {
		return err
	}
	j.Error = &JobError{Code: code, Message: msg}
	return nil
}

package pipeline

import (
	"fmt"
	"strings"
)

// The object-key layout of Reel's two buckets. Every key Reel writes is
// built here.
//
// The masters bucket (private):
//
//	masters/{job}/source         a master uploaded with multipart
//	masters/{job}/subtitles/{k}.vtt  the k-th subtitle file sent with the job, as WebVTT
//	uploads/{upload}[.info]      a resumable (tus) upload and its record
//	work/{job}/pieces/{name}     the split's stream-copied pieces
//	work/{job}/seg/{k}-{run}/... chunk k's CMAF segments of every rung, on the title's timeline, with their index
//	work/{job}/seg/audio.json    the title's audio track, once aligned with the video
//	work/{job}/audio/...         the title's audio, encoded and segmented
//	work/{job}/text/{name}.vtt   each subtitle track, whole, on the title's timeline
//	work/{job}/out/...           the packaged title's other files, before publishing
//
// The origin bucket (public read):
//
//	vod/{job}/...                a published title
const (
	mastersRoot = "masters/"
	// UploadsPrefix holds the resumable uploads, each beside its ".info"
	// record.
	UploadsPrefix = "uploads/"
	workRoot      = "work/"
	// PublishedRoot holds every published title in the origin bucket.
	PublishedRoot = "vod/"
)

// MasterPrefix holds everything stored for a job's master; MasterKey is the
// master itself, in the masters bucket.
func MasterPrefix(id string) string { return mastersRoot + id + "/" }

// MasterKey is where an uploaded master is stored.
func MasterKey(id string) string { return MasterPrefix(id) + "source" }

// WorkPrefix holds a job's intermediate objects in the masters bucket:
// removed when the job is published or canceled.
func WorkPrefix(id string) string { return workRoot + id + "/" }

// PieceKey is where the split stores one of the master's pieces.
func PieceKey(id, name string) string { return WorkPrefix(id) + "pieces/" + name }

// ChunkSegmentsPrefix holds the CMAF segments of chunk k of every rung
// (in a folder per rung) and their index, as one run of its encode task
// stored them: each run has its own, and the job records the one whose
// segments are published (Chunk.Segments).
func ChunkSegmentsPrefix(id string, k int, run string) string {
	return fmt.Sprintf("%sseg/%05d-%s/", WorkPrefix(id), k, run)
}

// AlignedAudioKey is where the title's audio track is described once
// aligned with the video, for the manifests written while it grows.
func AlignedAudioKey(id string) string { return WorkPrefix(id) + "seg/audio.json" }

// SidecarKey is where the k-th subtitle file sent with a job is stored,
// as WebVTT.
func SidecarKey(id string, k int) string {
	return fmt.Sprintf("%ssubtitles/%d.vtt", MasterPrefix(id), k)
}

// EncodedTextKey is where the text task stores a subtitle track, whole,
// for the package stage to segment.
func EncodedTextKey(id, name string) string { return WorkPrefix(id) + "text/" + name + ".vtt" }

// EncodedAudioPrefix holds the audio task's segments and playlist, which
// the package stage aligns with the video into the packaged title.
func EncodedAudioPrefix(id string) string { return WorkPrefix(id) + "audio/" }

// PackagedPrefix holds the packaged title before it is published.
func PackagedPrefix(id string) string { return WorkPrefix(id) + "out/" }

// The paths under a published title's prefix that are no objects of the
// origin: its W3C ClearKey licence (POST) and its AES-128 key (GET), which
// the API serves under the title's playback token.
const (
	LicenceName = "licence"
	KeyName     = "key"
)

// PublishedPrefix holds a published title in the origin bucket.
func PublishedPrefix(id string) string { return PublishedRoot + id + "/" }

// PublishedTitle is the title (job id) of a published object's key,
// vod/{id}/...; ok is false for other keys.
func PublishedTitle(key string) (id string, ok bool) {
	rest, ok := strings.CutPrefix(key, PublishedRoot)
	if !ok {
		return "", false
	}
	id, _, ok = strings.Cut(rest, "/")
	return id, ok && id != ""
}

package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/Eyevinn/mp4ff/mp4"
)

// Reading a master's MP4 index instead of the whole master.
//
// The probe counts a master's packets (ffprobe -count_packets), which reads
// every byte of it once, before anything else can start: 1 GB of a
// 136 Mbit/s minute, a hundred of a feature-length mezzanine. For a
// progressive MP4 or QuickTime master the sample tables in its moov box
// already hold what that read establishes: how many frames the video track
// has and that the file holds all of their data. ReadMP4Index reads the
// top-level box headers and the moov box alone, by range requests, and says
// whether the index can stand in for the count. It cannot when the file is
// fragmented, refers to data outside itself, is cut short (a sample's data
// ends past the end of the file), or has an edit list ffmpeg would drop
// video frames by (an edit that starts after the first frame or ends before
// the last, or more than one edit); the probe then counts as before.

// mp4IndexMaxMoov bounds the moov box ReadMP4Index reads into memory: a
// 24-hour 30 fps master's tables take some 20 MB. A larger one is counted
// by the probe instead, under its own limits.
const mp4IndexMaxMoov = 64 << 20

// mp4IndexMaxBoxes bounds how many top-level boxes are walked.
const mp4IndexMaxBoxes = 64

// mp4IndexMaxSamples bounds a track's samples (a day of 240 fps video, or
// of 48 kHz audio frames many times over): the checks walk every one.
const mp4IndexMaxSamples = 50_000_000

// mp4TopLevel are the top-level boxes of MP4 and QuickTime files; a file
// that starts with anything else is not one.
var mp4TopLevel = map[string]bool{"ftyp": true, "moov": true, "mdat": true, "free": true, "skip": true,
	"wide": true, "pnot": true, "uuid": true, "meta": true, "pdin": true, "styp": true, "sidx": true, "moof": true, "mfra": true}

// MP4Index is what a progressive MP4 or QuickTime master's index says.
type MP4Index struct {
	// VideoSamples holds each track's sample count, by track (the stream
	// index ffmpeg gives it), for video tracks; -1 for other tracks.
	VideoSamples []int64
}

// Counts reports whether the index gives the frame count of the video
// stream res chose: an MP4 or QuickTime master whose track of that stream
// declares as many samples as ffprobe does.
func (x MP4Index) Counts(res *ProbeResult) bool {
	v := res.Video
	return strings.Contains(res.Format, "mp4") && v.Index >= 0 && v.Index < len(x.VideoSamples) &&
		x.VideoSamples[v.Index] == v.Frames && v.Frames > 0
}

// ErrNoIndex is returned by ReadMP4Index when the file is not a
// progressive MP4 or QuickTime file whose index can stand in for reading it
// whole; the reason is wrapped.
var ErrNoIndex = errors.New("no usable MP4 index")

func noIndex(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNoIndex, fmt.Sprintf(format, args...))
}

// ReadMP4Index reads the index of the MP4 or QuickTime file r holds (see
// above). An error that wraps ErrNoIndex says the file needs counting; any
// other is a failure to read it.
func ReadMP4Index(r io.ReaderAt, size int64) (_ MP4Index, err error) {
	defer func() {
		// mp4ff trusts some tables it decodes (a composition-offset table
		// shorter than the track, say); a crafted index is simply not used.
		if x := recover(); x != nil {
			err = noIndex("the moov box does not decode: %v", x)
		}
	}()
	var moov []byte
	var pos int64
	for n := 0; pos < size; n++ {
		if n == mp4IndexMaxBoxes {
			return MP4Index{}, noIndex("more than %d top-level boxes", mp4IndexMaxBoxes)
		}
		var hdr [16]byte
		hn := int64(8)
		if _, err := r.ReadAt(hdr[:8], pos); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return MP4Index{}, noIndex("a box header at byte %d is cut short", pos)
			}
			return MP4Index{}, err
		}
		boxSize, kind := int64(binary.BigEndian.Uint32(hdr[:4])), string(hdr[4:8])
		if !mp4TopLevel[kind] {
			return MP4Index{}, noIndex("top-level box %q at byte %d", kind, pos)
		}
		switch boxSize {
		case 0: // to the end of the file
			boxSize = size - pos
		case 1:
			if _, err := r.ReadAt(hdr[8:16], pos+8); err != nil {
				return MP4Index{}, noIndex("a box header at byte %d is cut short", pos)
			}
			large := binary.BigEndian.Uint64(hdr[8:16])
			if large > uint64(size) {
				return MP4Index{}, noIndex("box %q at byte %d runs past the end of the file", kind, pos)
			}
			boxSize, hn = int64(large), 16
		}
		if boxSize < hn || boxSize > size-pos {
			return MP4Index{}, noIndex("box %q at byte %d has size %d in a file of %d bytes", kind, pos, boxSize, size)
		}
		switch kind {
		case "moof", "styp", "sidx", "mfra":
			return MP4Index{}, noIndex("a fragmented file")
		case "moov":
			if moov != nil {
				return MP4Index{}, noIndex("two moov boxes")
			}
			if boxSize > mp4IndexMaxMoov {
				return MP4Index{}, noIndex("a moov box of %d bytes", boxSize)
			}
			moov = make([]byte, boxSize)
			if _, err := r.ReadAt(moov, pos); err != nil {
				if errors.Is(err, io.EOF) {
					return MP4Index{}, noIndex("the moov box is cut short")
				}
				return MP4Index{}, err
			}
		}
		pos += boxSize
	}
	if moov == nil {
		return MP4Index{}, noIndex("no moov box")
	}
	// The sample descriptions are not needed, and mp4ff does not read
	// QuickTime's sound descriptions: they are passed over as free space.
	hideBoxes(moov, "stsd")
	box, err := mp4.DecodeBox(0, bytes.NewReader(moov))
	if err != nil {
		return MP4Index{}, noIndex("the moov box does not decode: %v", err)
	}
	mv, ok := box.(*mp4.MoovBox)
	if !ok || mv.Mvhd == nil || mv.Mvhd.Timescale == 0 {
		return MP4Index{}, noIndex("the moov box has no movie header")
	}
	if mv.Mvex != nil {
		return MP4Index{}, noIndex("a fragmented file")
	}
	var idx MP4Index
	for _, trak := range mv.Traks {
		samples, err := checkTrak(trak, mv.Mvhd.Timescale, size)
		if err != nil {
			return MP4Index{}, err
		}
		idx.VideoSamples = append(idx.VideoSamples, samples)
	}
	return idx, nil
}

// indexContainers are the boxes on the way from moov to the sample tables.
var indexContainers = map[string]bool{"moov": true, "trak": true, "mdia": true, "minf": true, "stbl": true}

// hideBoxes renames the boxes of type name on the way from the box b
// starts with to the sample tables "free", so that a decoder passes over
// them; a box whose size does not fit is left for the decoder to refuse.
func hideBoxes(b []byte, name string) {
	if len(b) < 8 {
		return
	}
	size := int(binary.BigEndian.Uint32(b[:4]))
	if size < 8 || size > len(b) {
		return
	}
	switch kind := string(b[4:8]); {
	case kind == name:
		copy(b[4:8], "free")
	case indexContainers[kind]:
		for pos := 8; pos+8 <= size; {
			n := int(binary.BigEndian.Uint32(b[pos : pos+4]))
			if n < 8 || pos+n > size {
				return
			}
			hideBoxes(b[pos:pos+n], name)
			pos += n
		}
	}
}

// checkTrak checks that every sample of trak lies within a file of size
// bytes and, for a video track, that ffmpeg reads each of them; it returns
// a video track's sample count, or -1.
func checkTrak(trak *mp4.TrakBox, movieScale uint32, size int64) (int64, error) {
	md := trak.Mdia
	if md == nil || md.Hdlr == nil || md.Mdhd == nil || md.Minf == nil || md.Minf.Stbl == nil {
		return 0, noIndex("a track without media tables")
	}
	if d := md.Minf.Dinf; d != nil && d.Dref != nil {
		for _, c := range d.Dref.Children {
			if !selfContained(c) {
				return 0, noIndex("a track refers to data outside the file")
			}
		}
	}
	st := md.Minf.Stbl
	n := int64(0)
	if st.Stsz != nil {
		n = int64(st.Stsz.SampleNumber)
	}
	if n > mp4IndexMaxSamples {
		return 0, noIndex("a track of %d samples", n)
	}
	if n > 0 {
		if err := checkChunks(st, n, size); err != nil {
			return 0, err
		}
	}
	if md.Hdlr.HandlerType != "vide" {
		return -1, nil
	}
	if n == 0 {
		return 0, noIndex("a video track without samples")
	}
	if err := checkEdits(trak, st, n, movieScale, md.Mdhd.Timescale); err != nil {
		return 0, err
	}
	return n, nil
}

// selfContained reports whether a data reference entry (an MP4 "url " or a
// QuickTime "alis" box) says the data is in this file: its flag 1.
func selfContained(b mp4.Box) bool {
	switch b := b.(type) {
	case *mp4.URLBox:
		return b.Flags&1 != 0
	case *mp4.UnknownBox:
		p := b.Payload()
		return b.Type() == "alis" && len(p) >= 4 && p[3]&1 != 0
	}
	return false
}

// checkChunks checks that the n samples the chunk tables of st place all
// end within size bytes.
func checkChunks(st *mp4.StblBox, n, size int64) error {
	var offsets []uint64
	switch {
	case st.Co64 != nil:
		offsets = st.Co64.ChunkOffset
	case st.Stco != nil:
		offsets = make([]uint64, len(st.Stco.ChunkOffset))
		for i, o := range st.Stco.ChunkOffset {
			offsets[i] = uint64(o)
		}
	default:
		return noIndex("a track without chunk offsets")
	}
	if st.Stsc == nil || len(st.Stsc.Entries) == 0 {
		return noIndex("a track without a sample-to-chunk table")
	}
	if st.Stsz.SampleUniformSize == 0 && int64(len(st.Stsz.SampleSize)) != n {
		return noIndex("a sample-size table of %d entries for %d samples", len(st.Stsz.SampleSize), n)
	}
	entries := st.Stsc.Entries
	if entries[0].FirstChunk != 1 {
		return noIndex("a sample-to-chunk table that does not start at the first chunk")
	}
	sample, e := int64(0), 0
	for c := range offsets {
		for e+1 < len(entries) && int64(entries[e+1].FirstChunk) <= int64(c)+1 {
			e++
		}
		per := int64(entries[e].SamplesPerChunk)
		if per == 0 {
			return noIndex("a sample-to-chunk table that places no samples")
		}
		end := offsets[c]
		for k := int64(0); k < per && sample < n; k++ {
			end += uint64(st.Stsz.GetSampleSize(int(sample) + 1))
			sample++
		}
		if end > uint64(size) {
			return noIndex("sample data ends at byte %d of a %d-byte file", end, size)
		}
	}
	if sample != n {
		return noIndex("the chunk tables place %d of %d samples", sample, n)
	}
	return nil
}

// checkEdits checks that ffmpeg keeps every sample of a video track: no
// edit list, or one edit at normal rate that starts at or before the first
// frame's composition time and ends after the last's.
func checkEdits(trak *mp4.TrakBox, st *mp4.StblBox, n int64, movieScale, mediaScale uint32) error {
	if trak.Edts == nil || len(trak.Edts.Elst) == 0 {
		return nil
	}
	var entries []mp4.ElstEntry
	for _, l := range trak.Edts.Elst {
		entries = append(entries, l.Entries...)
	}
	if len(entries) == 0 {
		return nil
	}
	if len(entries) > 1 {
		return noIndex("a video edit list of %d edits", len(entries))
	}
	e := entries[0]
	if e.MediaTime < 0 || e.MediaRateInteger != 1 || e.MediaRateFraction != 0 || st.Stts == nil {
		return noIndex("a video edit that is empty or not at normal rate")
	}
	minCts, maxCts := int64(0), int64(0)
	dts := int64(0)
	i := int64(0)
	for k, count := range st.Stts.SampleCount {
		for c := uint32(0); c < count && i < n; c++ {
			cts := dts
			if st.Ctts != nil {
				cts += int64(st.Ctts.GetCompositionTimeOffset(uint32(i + 1)))
			}
			if i == 0 || cts < minCts {
				minCts = cts
			}
			if i == 0 || cts > maxCts {
				maxCts = cts
			}
			dts += int64(st.Stts.SampleTimeDelta[k])
			i++
		}
	}
	if i != n {
		return noIndex("a time-to-sample table of %d samples for %d", i, n)
	}
	end := int64(^uint64(0) >> 1)
	if e.SegmentDuration > 0 {
		end = e.MediaTime + int64(float64(e.SegmentDuration)*float64(mediaScale)/float64(movieScale))
	}
	if e.MediaTime > minCts || end <= maxCts {
		return noIndex("a video edit from %d to %d of frames from %d to %d", e.MediaTime, end, minCts, maxCts)
	}
	return nil
}

// httpRanges reads an http(s) URL by range requests.
type httpRanges struct {
	ctx    context.Context
	url    string
	client *http.Client
}

// get asks for n bytes at off. A range past the end of the file is
// io.EOF; any answer but 206 Partial Content is an error.
func (h httpRanges) get(off, n int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(h.ctx, http.MethodGet, h.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+n-1))
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusPartialContent {
		resp.Body.Close()
		if resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("range read of the master: %s", resp.Status)
	}
	return resp, nil
}

// ReadAt reads len(p) bytes at off with one range request.
func (h httpRanges) ReadAt(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	resp, err := h.get(off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.ReadFull(resp.Body, p)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	return n, err
}

// size asks for the first byte and reads the file's size from the
// response's Content-Range.
func (h httpRanges) size() (int64, error) {
	resp, err := h.get(0, 1)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	cr := resp.Header.Get("Content-Range")
	i := strings.LastIndexByte(cr, '/')
	if i < 0 {
		return 0, fmt.Errorf("range read of the master: Content-Range %q", cr)
	}
	return strconv.ParseInt(cr[i+1:], 10, 64)
}

// readURLIndex reads the MP4 index of the master at an http(s) URL.
func readURLIndex(ctx context.Context, client *http.Client, url string) (MP4Index, error) {
	h := httpRanges{ctx: ctx, url: url, client: client}
	size, err := h.size()
	if err != nil {
		return MP4Index{}, err
	}
	return ReadMP4Index(h, size)
}

package packager

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	"github.com/Eyevinn/mp4ff/mp4"
)

// A video encoder that reorders frames (H.264 and HEVC B-frames) gives
// its first frame a composition offset: ffmpeg's fragmented MP4 muxer
// starts decode times at 0, so the first picture is presented one or more
// frame durations after 0 while the audio starts at 0, and every player
// that reads the segments (ffmpeg, hls.js, dash.js, Safari) plays sound
// ahead of picture by that much. Negative composition offsets (version 1
// track runs) would move the picture to 0, but ffmpeg's MP4 demuxer adds
// the largest negative offset back to every presentation time, and an
// edit list is read differently by each player. So the title's tracks
// start together at the latest start of its video tracks instead:
// EarliestPresentation reads a track's start on its first segment, and
// ShiftDecodeTime moves each track's decode times (tfdt) so that every
// track's first sample is presented at that one time. The DASH manifest
// maps it to 0 with presentationTimeOffset; HLS players start at the
// earliest presentation time of the first segments.

// EarliestPresentation returns the earliest presentation time of a media
// segment, in its track's timescale: its first decode time (tfdt) plus the
// composition delay of the encoder.
func EarliestPresentation(seg []byte) (int64, error) {
	f, err := decodeSegment(seg)
	if err != nil {
		return 0, err
	}
	first, earliest := int64(math.MinInt64), int64(math.MaxInt64)
	for _, s := range f.Segments {
		for _, frag := range s.Fragments {
			for _, traf := range frag.Moof.Trafs {
				if traf.Tfdt == nil {
					return 0, errors.New("cmaf: track fragment without a decode time (tfdt)")
				}
				dts := int64(traf.Tfdt.BaseMediaDecodeTime())
				if first == math.MinInt64 {
					first = dts
				}
				def := traf.Tfhd.DefaultSampleDuration
				for _, trun := range traf.Truns {
					for _, smp := range trun.Samples {
						earliest = min(earliest, dts+int64(smp.CompositionTimeOffset))
						d := smp.Dur
						if !trun.HasSampleDuration() {
							d = def
						}
						dts += int64(d)
					}
				}
			}
		}
	}
	if first == math.MinInt64 || earliest == math.MaxInt64 {
		return 0, errors.New("cmaf: media segment without samples")
	}
	return earliest, nil
}

// DecodeTime returns the decode time (tfdt) of a media segment's first
// track fragment, in its track's timescale.
func DecodeTime(seg []byte) (int64, error) {
	f, err := decodeSegment(seg)
	if err != nil {
		return 0, err
	}
	if len(f.Segments[0].Fragments) == 0 {
		return 0, errors.New("cmaf: media segment without fragments")
	}
	traf := f.Segments[0].Fragments[0].Moof.Trafs[0]
	if traf.Tfdt == nil {
		return 0, errors.New("cmaf: track fragment without a decode time (tfdt)")
	}
	return int64(traf.Tfdt.BaseMediaDecodeTime()), nil
}

// ShiftDecodeTime adds by (in the track's timescale) to the decode time
// (tfdt) of every track fragment of a media segment and to the earliest
// presentation time of its segment index (sidx), if any. The segment
// keeps its size and every other byte.
func ShiftDecodeTime(seg []byte, by int64) ([]byte, error) {
	if by == 0 {
		return seg, nil
	}
	f, err := decodeSegment(seg)
	if err != nil {
		return nil, err
	}
	shift := func(t uint64, version byte) (uint64, error) {
		n := int64(t) + by
		if n < 0 || (version == 0 && n > math.MaxUint32) {
			return 0, fmt.Errorf("cmaf: decode time %d shifted by %d is out of range", t, by)
		}
		return uint64(n), nil
	}
	for _, s := range f.Segments {
		for _, frag := range s.Fragments {
			for _, traf := range frag.Moof.Trafs {
				if traf.Tfdt == nil {
					return nil, errors.New("cmaf: track fragment without a decode time (tfdt)")
				}
				t, err := shift(traf.Tfdt.BaseMediaDecodeTime(), traf.Tfdt.Version)
				if err != nil {
					return nil, err
				}
				// The setter picks the box version by value; the
				// segment keeps its own, so its size does not change.
				v := traf.Tfdt.Version
				traf.Tfdt.SetBaseMediaDecodeTime(t)
				traf.Tfdt.Version = v
			}
		}
		for _, sidx := range s.Sidxs {
			t, err := shift(sidx.EarliestPresentationTime, sidx.Version)
			if err != nil {
				return nil, err
			}
			sidx.EarliestPresentationTime = t
		}
	}
	var b bytes.Buffer
	b.Grow(len(seg))
	if err := f.Encode(&b); err != nil {
		return nil, fmt.Errorf("cmaf: %w", err)
	}
	if b.Len() != len(seg) {
		return nil, fmt.Errorf("cmaf: rewritten segment is %d bytes, not %d", b.Len(), len(seg))
	}
	return b.Bytes(), nil
}

// DropEditLists removes the edit lists (edts) of an initialization
// segment's tracks. ffmpeg's fragmented MP4 muxer writes, for a track with
// a composition delay, an empty edit of the delay followed by the media
// from the delay on: the identity map of the track as it wrote it, which
// no longer holds once ShiftDecodeTime has moved the track. CMAF tracks
// carry no edit lists; their timing is in the fragments.
func DropEditLists(init []byte) ([]byte, error) {
	f, err := mp4.DecodeFile(bytes.NewReader(init))
	if err != nil {
		return nil, fmt.Errorf("cmaf: initialization segment: %w", err)
	}
	if f.Init == nil || f.Init.Moov == nil {
		return nil, errors.New("cmaf: not an initialization segment (no moov)")
	}
	changed := false
	for _, trak := range f.Init.Moov.Traks {
		if trak.Edts == nil {
			continue
		}
		kept := trak.Children[:0]
		for _, c := range trak.Children {
			if c.Type() != "edts" {
				kept = append(kept, c)
			}
		}
		trak.Children, trak.Edts, changed = kept, nil, true
	}
	if !changed {
		return init, nil
	}
	var b bytes.Buffer
	if err := f.Init.Encode(&b); err != nil {
		return nil, fmt.Errorf("cmaf: %w", err)
	}
	return b.Bytes(), nil
}

// JoinSegments appends media segment next to seg: one segment of several
// CMAF fragments, which is how a short last segment joins the one before
// it. A segment type box (styp) of next is dropped: it may only open a
// segment.
func JoinSegments(seg, next []byte) ([]byte, error) {
	f, err := decodeSegment(next)
	if err != nil {
		return nil, err
	}
	out := append([]byte{}, seg...)
	var b bytes.Buffer
	for _, s := range f.Segments {
		s.Styp = nil
		if err := s.Encode(&b); err != nil {
			return nil, fmt.Errorf("cmaf: %w", err)
		}
	}
	return append(out, b.Bytes()...), nil
}

// decodeSegment reads a media segment (moof and mdat pairs, optionally
// opened by styp and sidx boxes).
func decodeSegment(seg []byte) (*mp4.File, error) {
	f, err := mp4.DecodeFile(bytes.NewReader(seg))
	if err != nil {
		return nil, fmt.Errorf("cmaf: media segment: %w", err)
	}
	if f.Moov != nil || len(f.Segments) == 0 {
		return nil, errors.New("cmaf: not a media segment (moof and mdat)")
	}
	for _, s := range f.Segments {
		for _, frag := range s.Fragments {
			if frag.Moof == nil || len(frag.Moof.Trafs) == 0 {
				return nil, errors.New("cmaf: media segment fragment without a track fragment")
			}
		}
	}
	return f, nil
}

// InitTimescale returns the media timescale (mdhd) of the first track of
// an initialization segment: the unit of its segments' decode times.
func InitTimescale(init []byte) (int, error) {
	f, err := mp4.DecodeFile(bytes.NewReader(init))
	if err != nil {
		return 0, fmt.Errorf("cmaf: initialization segment: %w", err)
	}
	if f.Init == nil || f.Init.Moov == nil || f.Init.Moov.Trak == nil || f.Init.Moov.Trak.Mdia == nil || f.Init.Moov.Trak.Mdia.Mdhd == nil {
		return 0, errors.New("cmaf: initialization segment without a track's media header (mdhd)")
	}
	ts := f.Init.Moov.Trak.Mdia.Mdhd.Timescale
	if ts == 0 {
		return 0, errors.New("cmaf: track timescale is 0")
	}
	return int(ts), nil
}

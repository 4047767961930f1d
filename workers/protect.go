package workers

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/packager"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/protect"
)

// titleKey is an encrypted title's scheme and content key, opened for the
// task at hand.
type titleKey struct {
	scheme string
	key    protect.Key
}

// titleKey opens job j's content key with the worker's master key; nil
// for a clear title. A worker without the master key, or one that does
// not open the key, cannot encrypt the title: the job fails now, with a
// message for the operator.
func (w *Worker) titleKey(j *pipeline.Job) (*titleKey, error) {
	p := j.Protection
	if p == nil {
		return nil, nil
	}
	if w.Keys == nil {
		return nil, errors.New("the job asks for encryption and this worker has no master key: set REEL_KEY_MASTER on the workers to the API's, then retry the job")
	}
	k, err := w.Keys.Unwrap(j.ID, p.WrappedKey)
	if err != nil {
		return nil, fmt.Errorf("the title's key: %w (the workers' REEL_KEY_MASTER must be the API's); set it, then retry the job", err)
	}
	return &titleKey{scheme: p.Scheme, key: k}, nil
}

// manifest is how the title's manifests signal its encryption.
func (k *titleKey) manifest() *packager.Protection {
	if k == nil {
		return nil
	}
	p := &packager.Protection{Scheme: k.scheme, KeyID: k.key.KIDUUID()}
	if k.scheme == ladder.SchemeAES128 {
		p.IV, p.KeyURI = hex.EncodeToString(k.key.IV[:]), pipeline.KeyName
		return p
	}
	pssh, err := protect.ClearKeyPSSH(k.key)
	if err == nil {
		var box bytes.Buffer
		if err = pssh.Encode(&box); err == nil {
			p.PSSH = base64.StdEncoding.EncodeToString(box.Bytes())
		}
	}
	if err != nil {
		panic("protect: a ClearKey pssh of one key id does not encode: " + err.Error())
	}
	return p
}

// protectTracks marks tracks as encrypted under k, for their manifests.
func (k *titleKey) protectTracks(tracks ...[]packager.Track) {
	p := k.manifest()
	for _, ts := range tracks {
		for i := range ts {
			ts[i].Protection = p
		}
	}
}

// encryptTrack encrypts a track's files in dir in place: with cbcs or
// cenc its initialization segment gains the protection boxes and each
// media segment's samples are encrypted (the keyframe ranges of I-frame
// playlists are read anew, since each fragment's header grows); with
// aes-128 each media segment is encrypted whole, the initialization
// segment stays clear, and the track has no I-frame playlist (a byte
// range of a segment encrypted whole does not decrypt alone). Segment
// sizes are updated: the manifests' bit rates are those of the encrypted
// segments.
func (k *titleKey) encryptTrack(dir string, tr *packager.Track) error {
	if k == nil {
		return nil
	}
	var enc func([]byte) ([]byte, error)
	if k.scheme == ladder.SchemeAES128 {
		enc = func(seg []byte) ([]byte, error) { return protect.EncryptAES128(seg, k.key.Key, k.key.IV), nil }
		tr.IFrames = nil
	} else {
		p := filepath.Join(dir, tr.Init)
		init, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		init, t, err := protect.ProtectInit(init, k.scheme, k.key)
		if err != nil {
			return err
		}
		if err := os.WriteFile(p, init, 0o644); err != nil {
			return err
		}
		enc = t.Segment
	}
	hasIFrames := len(tr.IFrames) > 0
	for i := range tr.Segments {
		s := &tr.Segments[i]
		p := filepath.Join(dir, s.URI)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if data, err = enc(data); err != nil {
			return fmt.Errorf("encrypt %s: %w", s.URI, err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
		s.Size = int64(len(data))
		if hasIFrames && i < len(tr.IFrames) {
			off, n, err := packager.IFrameRange(data)
			if err != nil {
				return fmt.Errorf("encrypted %s: %w", s.URI, err)
			}
			tr.IFrames[i] = packager.Range{Offset: off, Length: n}
		}
	}
	return nil
}

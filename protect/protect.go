// Package protect encrypts published titles: a content key per title,
// kept wrapped under an operator's master key; CENC (cenc or cbcs) on
// CMAF init and media segments, with Eyevinn's mp4ff doing the box work
// (sinf, tenc, senc, saiz, saio, pssh); whole-segment AES-128 for HLS
// players without EME; W3C ClearKey licences and the pssh that signals
// them; and CPIX documents for a commercial DRM key server.
package protect

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/Eyevinn/mp4ff/mp4"
)

// The schemes a job may ask for.
const (
	CENC   = "cenc"    // AES-CTR, full samples: DASH with ClearKey, Widevine, PlayReady
	CBCS   = "cbcs"    // AES-CBC with a 1:9 pattern: HLS SAMPLE-AES, FairPlay, and DASH
	AES128 = "aes-128" // whole segments, AES-CBC: HLS METHOD=AES-128, no EME needed
)

// ClearKeySystemID is the W3C ClearKey DRM system id of its pssh box.
const ClearKeySystemID = "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b"

// Key is a title's content key: its id (KID), the key, and the constant
// IV of cbcs and AES-128.
type Key struct {
	KID [16]byte
	Key [16]byte
	IV  [16]byte
}

// NewKey draws a new content key.
func NewKey() (Key, error) {
	var k Key
	for _, b := range [][]byte{k.KID[:], k.Key[:], k.IV[:]} {
		if _, err := rand.Read(b); err != nil {
			return Key{}, err
		}
	}
	return k, nil
}

// KIDHex is the key id as 32 hex digits.
func (k Key) KIDHex() string { return hex.EncodeToString(k.KID[:]) }

// KIDUUID is the key id as a UUID (8-4-4-4-12), as DASH's
// cenc:default_KID writes it.
func (k Key) KIDUUID() string {
	h := k.KIDHex()
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Master wraps content keys for storage (AES-256-GCM).
type Master struct {
	aead cipher.AEAD
}

// ParseMaster reads a master key: 32 bytes in hex.
func ParseMaster(s string) (*Master, error) {
	raw, err := hex.DecodeString(s)
	if err != nil || len(raw) != 32 {
		return nil, errors.New("the master key must be 32 bytes in hex (generate one with: openssl rand -hex 32)")
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Master{aead: aead}, nil
}

// Wrap seals a content key, bound to the title it is for (id), so that a
// wrapped key moved to another title does not open.
func (m *Master) Wrap(id string, k Key) (string, error) {
	nonce := make([]byte, m.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	plain := append(append(append([]byte{}, k.KID[:]...), k.Key[:]...), k.IV[:]...)
	return base64.RawStdEncoding.EncodeToString(m.aead.Seal(nonce, nonce, plain, []byte(id))), nil
}

// Unwrap opens a key Wrap sealed for title id.
func (m *Master) Unwrap(id, wrapped string) (Key, error) {
	raw, err := base64.RawStdEncoding.DecodeString(wrapped)
	n := m.aead.NonceSize()
	if err != nil || len(raw) < n {
		return Key{}, errors.New("not a wrapped key")
	}
	plain, err := m.aead.Open(nil, raw[:n], raw[n:], []byte(id))
	if err != nil || len(plain) != 48 {
		return Key{}, errors.New("the key does not open with this master key for this title")
	}
	var k Key
	copy(k.KID[:], plain[:16])
	copy(k.Key[:], plain[16:32])
	copy(k.IV[:], plain[32:])
	return k, nil
}

// ClearKeyPSSH is the W3C ClearKey pssh box (version 1, naming the KIDs).
func ClearKeyPSSH(keys ...Key) (*mp4.PsshBox, error) {
	kids := make([]string, len(keys))
	for i, k := range keys {
		kids[i] = k.KIDHex()
	}
	return mp4.NewPsshBox(ClearKeySystemID, kids, nil)
}

// Track encrypts the media segments of one track.
type Track struct {
	key Key
	ipd *mp4.InitProtectData
}

// ProtectInit adds the protection boxes for scheme (cenc or cbcs) to a
// CMAF init segment of one track, with a ClearKey pssh, and returns it
// with the Track that encrypts the track's segments.
func ProtectInit(init []byte, scheme string, k Key) ([]byte, *Track, error) {
	f, err := mp4.DecodeFile(bytes.NewReader(init))
	if err != nil || f.Init == nil {
		return nil, nil, fmt.Errorf("protect init segment: not an init segment: %v", err)
	}
	pssh, err := ClearKeyPSSH(k)
	if err != nil {
		return nil, nil, err
	}
	ipd, err := mp4.InitProtect(f.Init, k.Key[:], k.IV[:], scheme, mp4.UUID(k.KID[:]), []*mp4.PsshBox{pssh})
	if err != nil {
		return nil, nil, fmt.Errorf("protect init segment: %w", err)
	}
	var out bytes.Buffer
	if err := f.Init.Encode(&out); err != nil {
		return nil, nil, err
	}
	return out.Bytes(), &Track{key: k, ipd: ipd}, nil
}

// Segment encrypts every fragment of a CMAF media segment. Under cenc
// each fragment starts from a fresh random IV (its samples' IVs follow in
// its senc box); cbcs uses the title's constant IV.
func (t *Track) Segment(seg []byte) ([]byte, error) {
	f, err := mp4.DecodeFile(bytes.NewReader(seg))
	if err != nil {
		return nil, fmt.Errorf("protect segment: %w", err)
	}
	if len(f.Segments) == 0 {
		return nil, errors.New("protect segment: no fragments")
	}
	for _, s := range f.Segments {
		for _, frag := range s.Fragments {
			iv := t.key.IV[:]
			if t.ipd.Scheme == CENC {
				iv = make([]byte, 16)
				if _, err := rand.Read(iv); err != nil {
					return nil, err
				}
			}
			if err := mp4.EncryptFragment(frag, t.key.Key[:], iv, t.ipd); err != nil {
				return nil, fmt.Errorf("protect segment: %w", err)
			}
		}
	}
	var out bytes.Buffer
	if err := f.Encode(&out); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// EncryptAES128 encrypts a whole segment for HLS METHOD=AES-128: AES-CBC
// with PKCS#7 padding, with iv (the playlist's IV attribute).
func EncryptAES128(data []byte, key, iv [16]byte) []byte {
	block, _ := aes.NewCipher(key[:])
	pad := aes.BlockSize - len(data)%aes.BlockSize
	out := make([]byte, len(data)+pad)
	copy(out, data)
	for i := len(data); i < len(out); i++ {
		out[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, iv[:]).CryptBlocks(out, out)
	return out
}

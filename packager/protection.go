package packager

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// Protection is how a title's tracks are encrypted, as its manifests
// signal it.
type Protection struct {
	// Scheme is "cbcs", "cenc" (Common Encryption of the samples) or
	// "aes-128" (whole segments, HLS only).
	Scheme string
	// KeyID is the key's id as a UUID (DASH cenc:default_KID).
	KeyID string
	// PSSH is the W3C ClearKey pssh box naming the key, in base64: the
	// data URI of HLS's SAMPLE-AES keys.
	PSSH string
	// IV is the constant IV of aes-128, as 32 hex digits.
	IV string
	// KeyURI is where a player gets an aes-128 title's key, relative to
	// the title's folder, where its master playlist is (a media playlist,
	// one folder down, names it with "../" before).
	KeyURI string
}

// The names of W3C ClearKey: the system id of its pssh box (the common
// one, which names the key ids), which HLS names it by, and the DASH-IF
// ClearKey system id of DASH.
const (
	clearKeySystem = "urn:uuid:1077efec-c0b2-4d02-ace3-3c1e52e2fb4b"
	dashIFClearKey = "urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e"
)

// keyAttrs are the attribute lists of the HLS EXT-X-KEY (or
// EXT-X-SESSION-KEY) tags for p, with the key's URI as seen from a
// playlist up folders below the title's folder. AES-128 keeps the IV
// constant (stated). SAMPLE-AES (cbcs) and SAMPLE-AES-CTR (cenc) have two
// tags of the same key: KEYFORMAT "org.w3.clearkey" naming the key id
// (KEYID, and the data URI's 16 bytes, as hls.js reads them), and the W3C
// common system id with the ClearKey pssh.
func (p *Protection) keyAttrs(up int) []string {
	switch p.Scheme {
	case "aes-128":
		return []string{fmt.Sprintf("METHOD=AES-128,URI=%q,IV=0x%s", strings.Repeat("../", up)+p.KeyURI, p.IV)}
	case "cbcs", "cenc":
		method := "SAMPLE-AES"
		if p.Scheme == "cenc" {
			method = "SAMPLE-AES-CTR"
		}
		kid := strings.ReplaceAll(p.KeyID, "-", "")
		raw, _ := hex.DecodeString(kid)
		return []string{
			fmt.Sprintf(`METHOD=%s,URI="data:text/plain;base64,%s",KEYFORMAT="org.w3.clearkey",KEYFORMATVERSIONS="1",KEYID=0x%s`,
				method, base64.StdEncoding.EncodeToString(raw), kid),
			fmt.Sprintf(`METHOD=%s,URI="data:text/plain;base64,%s",KEYFORMAT=%q,KEYFORMATVERSIONS="1"`, method, p.PSSH, clearKeySystem),
		}
	}
	return nil
}

// writeKey writes a media playlist's EXT-X-KEY tags, after its
// EXT-X-MAP: the initialization segment stays in the clear.
func writeKey(b *strings.Builder, t Track) {
	if t.Protection != nil {
		for _, a := range t.Protection.keyAttrs(1) {
			b.WriteString("#EXT-X-KEY:" + a + "\n")
		}
	}
}

// writeSessionKey writes a master playlist's EXT-X-SESSION-KEY tags, so
// that a player can set up decryption before it loads a media playlist.
func writeSessionKey(b *strings.Builder, video []Track) {
	if len(video) > 0 && video[0].Protection != nil {
		for _, a := range video[0].Protection.keyAttrs(0) {
			b.WriteString("#EXT-X-SESSION-KEY:" + a + "\n")
		}
	}
}

// writeContentProtection writes the ContentProtection descriptors of an
// encrypted adaptation set: the Common Encryption scheme with the default
// key id, and ClearKey under its DASH-IF system id (DASH-IF IOP 4.1
// 7.6.2.4), whose request names that key id; the W3C ClearKey pssh is in
// the initialization segments.
func writeContentProtection(b *strings.Builder, t Track) {
	p := t.Protection
	if p == nil || (p.Scheme != "cbcs" && p.Scheme != "cenc") {
		return
	}
	fmt.Fprintf(b, `      <ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value=%q cenc:default_KID=%q/>`+"\n", p.Scheme, p.KeyID)
	fmt.Fprintf(b, `      <ContentProtection schemeIdUri=%q value="ClearKey1.0"/>`+"\n", dashIFClearKey)
}

// protected says whether any of tracks is encrypted with Common
// Encryption (the MPD then declares the cenc namespace).
func protected(tracks ...[]Track) bool {
	for _, ts := range tracks {
		for _, t := range ts {
			if t.Protection != nil && t.Protection.Scheme != "aes-128" {
				return true
			}
		}
	}
	return false
}

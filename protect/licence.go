package protect

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
)

// licenceRequest is a W3C ClearKey licence request.
type licenceRequest struct {
	KIDs []string `json:"kids"`
	Type string   `json:"type"`
}

type jwk struct {
	Kty string `json:"kty"`
	K   string `json:"k"`
	KID string `json:"kid"`
}

// ClearKeyLicence answers a W3C ClearKey licence request (JSON, key ids
// in unpadded base64url) with the keys it asks for among keys; a key id
// it does not know is left out, and a request for none of them is an
// error.
func ClearKeyLicence(request []byte, keys ...Key) ([]byte, error) {
	var req licenceRequest
	if err := json.Unmarshal(request, &req); err != nil || len(req.KIDs) == 0 || len(req.KIDs) > 16 {
		return nil, errors.New(`a ClearKey licence request is {"kids": ["base64url key id", ...], "type": "temporary"}`)
	}
	b64 := base64.RawURLEncoding
	var out struct {
		Keys []jwk  `json:"keys"`
		Type string `json:"type"`
	}
	out.Type = "temporary"
	for _, kid := range req.KIDs {
		raw, err := b64.DecodeString(kid)
		if err != nil || len(raw) != 16 {
			return nil, fmt.Errorf("key id %q is not 16 bytes in unpadded base64url", kid)
		}
		for _, k := range keys {
			if bytes.Equal(raw, k.KID[:]) {
				out.Keys = append(out.Keys, jwk{Kty: "oct", K: b64.EncodeToString(k.Key[:]), KID: b64.EncodeToString(k.KID[:])})
			}
		}
	}
	if len(out.Keys) == 0 {
		return nil, errors.New("none of the key ids asked for is this title's")
	}
	return json.Marshal(out)
}

// CPIX is a DASH-IF CPIX document with the title's keys, for a DRM key
// server: each content key (in the clear, so the document itself must be
// guarded) with its scheme (none for AES-128, which is not Common
// Encryption) and constant IV (cbcs, AES-128), and the ClearKey pssh of
// each.
func CPIX(contentID, scheme string, keys ...Key) ([]byte, error) {
	type plain struct {
		Value string `xml:"pskc:PlainValue"`
	}
	type secret struct {
		Secret plain `xml:"pskc:Secret"`
	}
	type contentKey struct {
		KID    string `xml:"kid,attr"`
		Scheme string `xml:"commonEncryptionScheme,attr,omitempty"`
		IV     string `xml:"explicitIV,attr,omitempty"`
		Data   secret `xml:"cpix:Data"`
	}
	type drmSystem struct {
		KID      string `xml:"kid,attr"`
		SystemID string `xml:"systemId,attr"`
		PSSH     string `xml:"cpix:PSSH"`
	}
	type doc struct {
		XMLName   xml.Name     `xml:"cpix:CPIX"`
		NS        string       `xml:"xmlns:cpix,attr"`
		PSKC      string       `xml:"xmlns:pskc,attr"`
		ContentID string       `xml:"contentId,attr"`
		Keys      []contentKey `xml:"cpix:ContentKeyList>cpix:ContentKey"`
		DRM       []drmSystem  `xml:"cpix:DRMSystemList>cpix:DRMSystem"`
	}
	d := doc{NS: "urn:dashif:org:cpix", PSKC: "urn:ietf:params:xml:ns:keyprov:pskc", ContentID: contentID}
	b64 := base64.StdEncoding
	for _, k := range keys {
		ck := contentKey{KID: k.KIDUUID(), Scheme: scheme, Data: secret{plain{b64.EncodeToString(k.Key[:])}}}
		if scheme == AES128 {
			ck.Scheme = "" // whole segments: no Common Encryption scheme
		}
		if scheme != CENC {
			ck.IV = b64.EncodeToString(k.IV[:]) // the constant IV
		}
		d.Keys = append(d.Keys, ck)
		pssh, err := ClearKeyPSSH(k)
		if err != nil {
			return nil, err
		}
		var box bytes.Buffer
		if err := pssh.Encode(&box); err != nil {
			return nil, err
		}
		d.DRM = append(d.DRM, drmSystem{KID: k.KIDUUID(), SystemID: ClearKeySystemID, PSSH: b64.EncodeToString(box.Bytes())})
	}
	out, err := xml.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), out...), nil
}

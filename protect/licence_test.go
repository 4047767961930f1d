package protect_test

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/reel-video/reel/protect"
)

func TestClearKeyLicence(t *testing.T) {
	k, _ := protect.NewKey()
	other, _ := protect.NewKey()
	b64 := base64.RawURLEncoding
	req := `{"kids":["` + b64.EncodeToString(k.KID[:]) + `"],"type":"temporary"}`
	out, err := protect.ClearKeyLicence([]byte(req), k)
	if err != nil {
		t.Fatal(err)
	}
	var lic struct {
		Keys []struct{ Kty, K, KID string }
		Type string
	}
	if err := json.Unmarshal(out, &lic); err != nil || len(lic.Keys) != 1 || lic.Keys[0].Kty != "oct" ||
		lic.Keys[0].K != b64.EncodeToString(k.Key[:]) || lic.Keys[0].KID != b64.EncodeToString(k.KID[:]) {
		t.Fatalf("licence %s: %v", out, err)
	}
	for what, bad := range map[string]string{
		"another title's key id": `{"kids":["` + b64.EncodeToString(other.KID[:]) + `"]}`,
		"no key ids":             `{"kids":[]}`,
		"not JSON":               `kids`,
		"a short key id":         `{"kids":["AAAA"]}`,
	} {
		if out, err := protect.ClearKeyLicence([]byte(bad), k); err == nil {
			t.Errorf("%s: %s", what, out)
		}
	}
}

func TestCPIX(t *testing.T) {
	k, _ := protect.NewKey()
	out, err := protect.CPIX("job-1", protect.CBCS, k)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		ContentID string `xml:"contentId,attr"`
		Keys      []struct {
			KID    string `xml:"kid,attr"`
			Scheme string `xml:"commonEncryptionScheme,attr"`
			IV     string `xml:"explicitIV,attr"`
			Value  string `xml:"Data>Secret>PlainValue"`
		} `xml:"ContentKeyList>ContentKey"`
		DRM []struct {
			SystemID string `xml:"systemId,attr"`
			PSSH     string `xml:"PSSH"`
		} `xml:"DRMSystemList>DRMSystem"`
	}
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if doc.ContentID != "job-1" || len(doc.Keys) != 1 || doc.Keys[0].KID != k.KIDUUID() || doc.Keys[0].Scheme != "cbcs" ||
		doc.Keys[0].Value != base64.StdEncoding.EncodeToString(k.Key[:]) || doc.Keys[0].IV == "" ||
		len(doc.DRM) != 1 || doc.DRM[0].SystemID != protect.ClearKeySystemID || doc.DRM[0].PSSH == "" {
		t.Fatalf("CPIX:\n%s", out)
	}
	if !strings.Contains(string(out), `xmlns:cpix="urn:dashif:org:cpix"`) {
		t.Errorf("no CPIX namespace:\n%s", out)
	}
}

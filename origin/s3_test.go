package origin_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/origin"
)

func TestLoopback(t *testing.T) {
	for endpoint, want := range map[string]bool{
		"127.0.0.1:9000": true, "localhost:9000": true, "[::1]:9000": true, "127.8.0.2:80": true,
		"10.0.0.5:9000": false, "minio:9000": false, "s3.amazonaws.com": false, "[2001:db8::1]:9000": false,
	} {
		if got := origin.Loopback(endpoint); got != want {
			t.Errorf("loopback(%q) = %v, want %v", endpoint, got, want)
		}
	}
}

// TestUploadsSignedAndUnsigned: a real MinIO stores what each upload path
// sends, whole, with the payload signed (a store across a network) and
// unsigned (a store on this machine): minio-go's file and stream uploads,
// in several parts, and tusd's S3 store on the AWS SDK.
func TestUploadsSignedAndUnsigned(t *testing.T) {
	ctx := context.Background()
	s := testenv.S3(t)
	if !s.Unsigned() {
		t.Fatal("a store on the loopback address is not taken as this machine's")
	}
	data := make([]byte, origin.PartSize+origin.PartSize/2)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "master.bin")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, unsigned := range []bool{false, true} {
		s.SetUnsigned(unsigned)
		check := func(how, key string) {
			t.Helper()
			o, err := s.C.GetObject(ctx, s.Bucket(), key, minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			got, err := io.ReadAll(o)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("unsigned %v, %s: read back %d bytes (%v), sent %d", unsigned, how, len(got), err, len(data))
			}
		}
		if err := s.PutFile(ctx, s.Bucket(), "file", file, "application/octet-stream", "", false); err != nil {
			t.Fatalf("unsigned %v: %v", unsigned, err)
		}
		check("PutFile", "file")
		if _, err := s.PutStream(ctx, s.Bucket(), "stream", bytes.NewReader(data), "application/octet-stream"); err != nil {
			t.Fatalf("unsigned %v: %v", unsigned, err)
		}
		check("PutStream", "stream")
		store := s.UploadStore(t.TempDir())
		up, err := store.NewUpload(ctx, handler.FileInfo{Size: int64(len(data))})
		if err != nil {
			t.Fatalf("unsigned %v: %v", unsigned, err)
		}
		if n, err := up.WriteChunk(ctx, 0, bytes.NewReader(data)); err != nil || n != int64(len(data)) {
			t.Fatalf("unsigned %v: tus wrote %d of %d: %v", unsigned, n, len(data), err)
		}
		if err := up.FinishUpload(ctx); err != nil {
			t.Fatalf("unsigned %v: %v", unsigned, err)
		}
		info, err := up.GetInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		check("tusd's S3 store", info.Storage["Key"])
	}
}

// Package origin stores masters, intermediate chunks and published titles
// in S3-compatible object storage through minio-go, retrying transfers
// while the store is unreachable.
package origin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/tus/tusd/v2/pkg/s3store"

	"github.com/reel-video/reel/pipeline"
)

// Config says where the object store is.
type Config struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	Secure    bool   // HTTPS
	Region    string // default us-east-1
	// Bucket holds masters and intermediate work; it stays private.
	Bucket string
	// OriginBucket holds published titles, readable by anyone.
	OriginBucket string
	// PublicURL is the base URL players fetch the origin bucket from; default
	// the endpoint's own URL with the bucket as first path element.
	PublicURL string
	// RetryFor is how long a transfer keeps retrying, with growing pauses,
	// while the store is unreachable or answers 5xx; default 2 minutes.
	RetryFor time.Duration
	// OnBytes, if set, is told the bytes each transfer moved: direction
	// "out" for uploads, "in" for downloads.
	OnBytes func(direction string, n int64)
	// Log, if set, is told when a transfer finds the store unreachable and
	// starts retrying, and when it gets through again.
	Log *slog.Logger
}

// DefaultRetryFor is how long transfers ride out an unreachable store.
const DefaultRetryFor = 2 * time.Minute

// transient reports whether err may pass if tried again: the store was
// unreachable, or answered 5xx or 429. Missing objects, refused requests
// and local file errors are final.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return false
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) && er.StatusCode != 0 {
		return er.StatusCode >= 500 || er.StatusCode == http.StatusTooManyRequests
	}
	return true
}

// retry runs f until it succeeds, fails for good, or RetryFor has passed,
// pausing 1 s, 2 s, 4 s … up to 15 s between tries.
func (s *S3) retry(ctx context.Context, f func() error) error {
	limit := s.cfg.RetryFor
	if limit <= 0 {
		limit = DefaultRetryFor
	}
	deadline := time.Now().Add(limit)
	pause := time.Second
	for tries := 0; ; tries++ {
		err := f()
		if tries > 0 && err == nil && s.cfg.Log != nil {
			s.cfg.Log.Info("object store reachable again", "tries", tries+1)
		}
		if !transient(err) || time.Now().Add(pause).After(deadline) {
			return err
		}
		if tries == 0 && s.cfg.Log != nil {
			s.cfg.Log.Warn("object store unreachable; retrying", "for", limit, "err", err)
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(pause):
		}
		pause = min(2*pause, 15*time.Second)
	}
}

// S3 is the object store.
type S3 struct {
	C   *minio.Client
	cfg Config
	// unsigned: uploads leave their payload out of the request signature
	// (UNSIGNED-PAYLOAD) instead of hashing every byte with SHA-256 on
	// both sides. Only for a store on this machine over plain HTTP: the
	// hash guards bytes on a network, and over HTTPS the SDKs leave it out
	// already.
	unsigned bool
}

// PartSize is the multipart part size of streamed uploads; memory use per
// upload is about one part.
const PartSize = 16 << 20

// New connects to the store (no network call).
func New(cfg Config) (*S3, error) {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""), Secure: cfg.Secure, Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 %s: %w", cfg.Endpoint, err)
	}
	return &S3{C: c, cfg: cfg, unsigned: !cfg.Secure && loopback(cfg.Endpoint)}, nil
}

// loopback reports whether endpoint (host:port) is on this machine: a
// loopback address or localhost, so requests to it cross no network.
func loopback(endpoint string) bool {
	host, _, err := net.SplitHostPort(endpoint)
	if err != nil {
		host = endpoint
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Bucket and OriginBucket return the configured bucket names.
func (s *S3) Bucket() string { return s.cfg.Bucket }

// OriginBucket is the bucket of published titles.
func (s *S3) OriginBucket() string { return s.cfg.OriginBucket }

// PublicURL returns the URL players use for key in the origin bucket.
func (s *S3) PublicURL(key string) string {
	base := s.cfg.PublicURL
	if base == "" {
		scheme := "http"
		if s.cfg.Secure {
			scheme = "https"
		}
		base = scheme + "://" + s.cfg.Endpoint + "/" + s.cfg.OriginBucket
	}
	return strings.TrimRight(base, "/") + "/" + key
}

// AccessTag is the object tag that makes an object of the origin bucket
// readable without credentials when its value is AccessPublic: the
// objects of titles published with "public": true. Every other object is
// read with credentials (edges, the API) or a presigned URL.
const (
	AccessTag    = "reel-access"
	AccessPublic = "public"
)

func accessTags(public bool) map[string]string {
	if !public {
		return nil
	}
	return map[string]string{AccessTag: AccessPublic}
}

// EnsureBuckets creates the buckets if missing and sets the origin
// bucket's policy: objects tagged public (AccessTag) are readable by
// anyone, every other object only with credentials.
func (s *S3) EnsureBuckets(ctx context.Context) error {
	// A store just started (a MinIO cluster settling) may answer 503 for
	// a moment: retried like any transfer.
	return s.retry(ctx, func() error { return s.ensureBuckets(ctx) })
}

func (s *S3) ensureBuckets(ctx context.Context) error {
	for _, b := range []string{s.cfg.Bucket, s.cfg.OriginBucket} {
		ok, err := s.C.BucketExists(ctx, b)
		if err != nil {
			return fmt.Errorf("s3 bucket %s: %w", b, err)
		}
		if !ok {
			if err := s.C.MakeBucket(ctx, b, minio.MakeBucketOptions{Region: s.cfg.Region}); err != nil {
				var er minio.ErrorResponse
				if !errors.As(err, &er) || (er.Code != "BucketAlreadyOwnedByYou" && er.Code != "BucketAlreadyExists") {
					return fmt.Errorf("s3 make bucket %s: %w", b, err)
				}
			}
		}
	}
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],`+
		`"Resource":["arn:aws:s3:::%s/*"],"Condition":{"StringEquals":{"s3:ExistingObjectTag/%s":["%s"]}}}]}`, s.cfg.OriginBucket, AccessTag, AccessPublic)
	if err := s.C.SetBucketPolicy(ctx, s.cfg.OriginBucket, policy); err != nil {
		return fmt.Errorf("s3 policy on %s: %w", s.cfg.OriginBucket, err)
	}
	return nil
}

// Ping checks that the store answers.
func (s *S3) Ping(ctx context.Context) error {
	_, err := s.C.BucketExists(ctx, s.cfg.Bucket)
	return err
}

// PutStream uploads r of unknown size to bucket/key in parts of PartSize,
// holding one part in memory at a time. It returns the bytes written.
func (s *S3) PutStream(ctx context.Context, bucket, key string, r io.Reader, contentType string) (int64, error) {
	info, err := s.C.PutObject(ctx, bucket, key, r, -1, minio.PutObjectOptions{
		ContentType: contentType, PartSize: PartSize, NumThreads: 1, DisableMultipart: false, DisableContentSha256: s.unsigned,
	})
	if err != nil {
		return 0, fmt.Errorf("s3 put %s/%s: %w", bucket, key, err)
	}
	s.count("out", info.Size)
	return info.Size, nil
}

// PutFile uploads a local file; public tags it readable without
// credentials (see EnsureBuckets).
func (s *S3) PutFile(ctx context.Context, bucket, key, path, contentType, cacheControl string, public bool) error {
	err := s.retry(ctx, func() error {
		_, err := s.C.FPutObject(ctx, bucket, key, path, minio.PutObjectOptions{ContentType: contentType, CacheControl: cacheControl, PartSize: PartSize,
			DisableContentSha256: s.unsigned, UserTags: accessTags(public)})
		return err
	})
	if err != nil {
		return fmt.Errorf("s3 put %s/%s: %w", bucket, key, err)
	}
	s.countFile("out", path)
	return nil
}

// PutBytes uploads data to bucket/key.
func (s *S3) PutBytes(ctx context.Context, bucket, key string, data []byte, contentType string) error {
	err := s.retry(ctx, func() error {
		_, err := s.C.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{ContentType: contentType,
			DisableContentSha256: s.unsigned})
		return err
	})
	if err != nil {
		return fmt.Errorf("s3 put %s/%s: %w", bucket, key, err)
	}
	s.count("out", int64(len(data)))
	return nil
}

// GetBytes downloads bucket/key whole; an object larger than max bytes is
// refused.
func (s *S3) GetBytes(ctx context.Context, bucket, key string, max int64) ([]byte, error) {
	var data []byte
	err := s.retry(ctx, func() error {
		obj, err := s.C.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
		if err != nil {
			return err
		}
		defer obj.Close()
		data, err = io.ReadAll(io.LimitReader(obj, max+1))
		if err == nil && int64(len(data)) > max {
			return fmt.Errorf("larger than %d bytes", max)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("s3 get %s/%s: %w", bucket, key, err)
	}
	s.count("in", int64(len(data)))
	return data, nil
}

// GetFile downloads bucket/key to a local file.
func (s *S3) GetFile(ctx context.Context, bucket, key, path string) error {
	if err := s.retry(ctx, func() error { return s.C.FGetObject(ctx, bucket, key, path, minio.GetObjectOptions{}) }); err != nil {
		return fmt.Errorf("s3 get %s/%s: %w", bucket, key, err)
	}
	s.countFile("in", path)
	return nil
}

func (s *S3) count(direction string, n int64) {
	if s.cfg.OnBytes != nil {
		s.cfg.OnBytes(direction, n)
	}
}

func (s *S3) countFile(direction, path string) {
	if s.cfg.OnBytes == nil {
		return
	}
	if fi, err := os.Stat(path); err == nil {
		s.cfg.OnBytes(direction, fi.Size())
	}
}

// Stat returns an object's size, or an error if it does not exist.
func (s *S3) Stat(ctx context.Context, bucket, key string) (int64, error) {
	var info minio.ObjectInfo
	err := s.retry(ctx, func() (err error) {
		info, err = s.C.StatObject(ctx, bucket, key, minio.StatObjectOptions{})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("s3 stat %s/%s: %w", bucket, key, err)
	}
	return info.Size, nil
}

// IsNotFound reports whether err says the object or bucket does not exist.
func IsNotFound(err error) bool {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		return er.Code == "NoSuchKey" || er.Code == "NoSuchBucket" || er.StatusCode == 404
	}
	return false
}

// PresignGet returns a URL that reads bucket/key for d, for ffmpeg to stream.
func (s *S3) PresignGet(ctx context.Context, bucket, key string, d time.Duration) (string, error) {
	return s.Presign(ctx, http.MethodGet, bucket, key, d)
}

// Presign returns a URL for a GET or a HEAD (method) of bucket/key for d:
// a presigned URL is good for the method it was signed for only.
func (s *S3) Presign(ctx context.Context, method, bucket, key string, d time.Duration) (string, error) {
	if method != http.MethodHead {
		method = http.MethodGet
	}
	var u *url.URL
	err := s.retry(ctx, func() (err error) {
		u, err = s.C.Presign(ctx, method, bucket, key, d, url.Values{})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("s3 presign %s %s/%s: %w", method, bucket, key, err)
	}
	return u.String(), nil
}

// Copy copies an object server-side, setting its Content-Type and
// Cache-Control; public tags the copy readable without credentials (see
// EnsureBuckets).
func (s *S3) Copy(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey, contentType, cacheControl string, public bool) error {
	err := s.retry(ctx, func() error {
		_, err := s.C.CopyObject(ctx,
			minio.CopyDestOptions{Bucket: dstBucket, Object: dstKey, ReplaceMetadata: true, ReplaceTags: true, UserTags: accessTags(public),
				UserMetadata: map[string]string{"Content-Type": contentType, "Cache-Control": cacheControl}},
			minio.CopySrcOptions{Bucket: srcBucket, Object: srcKey})
		return err
	})
	if err != nil {
		return fmt.Errorf("s3 copy %s/%s to %s/%s: %w", srcBucket, srcKey, dstBucket, dstKey, err)
	}
	return nil
}

// List returns the keys under prefix.
func (s *S3) List(ctx context.Context, bucket, prefix string) ([]string, error) {
	var keys []string
	err := s.retry(ctx, func() error {
		keys = nil
		for obj := range s.C.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
			if obj.Err != nil {
				return obj.Err
			}
			keys = append(keys, obj.Key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("s3 list %s/%s: %w", bucket, prefix, err)
	}
	return keys, nil
}

// Usage returns the bytes of the objects under prefix.
func (s *S3) Usage(ctx context.Context, bucket, prefix string) (int64, error) {
	var n int64
	err := s.retry(ctx, func() error {
		n = 0
		for obj := range s.C.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
			if obj.Err != nil {
				return obj.Err
			}
			n += obj.Size
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("s3 list %s/%s: %w", bucket, prefix, err)
	}
	return n, nil
}

// RemovePrefix deletes every object under prefix.
func (s *S3) RemovePrefix(ctx context.Context, bucket, prefix string) error {
	return s.retry(ctx, func() error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel() // stops the listing if removal fails early
		objs := s.C.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true})
		for res := range s.C.RemoveObjects(ctx, bucket, objs, minio.RemoveObjectsOptions{}) {
			if res.Err != nil {
				return fmt.Errorf("s3 remove %s/%s: %w", bucket, res.ObjectName, res.Err)
			}
		}
		return nil
	})
}

// UploadPartSize is the size of each part of a resumable upload, buffered
// on disk and then sent to S3.
const UploadPartSize = 16 << 20

// UploadStore is tusd's S3 store for resumable uploads in the masters
// bucket, under pipeline.UploadsPrefix. Each part is buffered in tempDir
// before it is sent, so memory stays flat whatever the upload's size.
func (s *S3) UploadStore(tempDir string) s3store.S3Store {
	st := s3store.New(s.cfg.Bucket, s.sdkClient())
	st.ObjectPrefix = strings.TrimSuffix(pipeline.UploadsPrefix, "/")
	st.TemporaryDirectory = tempDir
	st.PreferredPartSize = UploadPartSize
	st.MaxBufferedParts = 2
	st.SetConcurrentPartUploads(2)
	return st
}

// sdkClient returns an aws-sdk-go-v2 S3 client for the same store, for
// libraries built on that SDK (tusd's S3 store).
func (s *S3) sdkClient() *awss3.Client {
	scheme := "http"
	if s.cfg.Secure {
		scheme = "https"
	}
	var unsigned []func(*middleware.Stack) error
	if s.unsigned {
		unsigned = append(unsigned, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
	}
	return awss3.New(awss3.Options{
		BaseEndpoint: aws.String(scheme + "://" + s.cfg.Endpoint),
		Region:       s.cfg.Region,
		Credentials:  awscreds.NewStaticCredentialsProvider(s.cfg.AccessKey, s.cfg.SecretKey, ""),
		UsePathStyle: true,
		// MinIO and other S3-compatible stores do not all take the SDK's
		// newer default checksums.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		APIOptions:                 unsigned,
	})
}

// TusUpload is a resumable upload as the store holds it: its tus id
// (OBJECT+MULTIPART) and when it last received bytes.
type TusUpload struct {
	ID         string
	LastActive time.Time
}

// TusUploads lists the resumable uploads tusd's S3 store keeps under
// pipeline.UploadsPrefix of the masters bucket, each with the time of its
// last activity: the latest of its record, its buffered incomplete part
// and the parts of its multipart upload.
func (s *S3) TusUploads(ctx context.Context) ([]TusUpload, error) {
	latest := map[string]time.Time{} // by object id
	infos := map[string]string{}     // object id -> tus id
	err := s.retry(ctx, func() error {
		clear(latest)
		clear(infos)
		for obj := range s.C.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: pipeline.UploadsPrefix, Recursive: true}) {
			if obj.Err != nil {
				return obj.Err
			}
			name := strings.TrimPrefix(obj.Key, pipeline.UploadsPrefix)
			oid := strings.TrimSuffix(strings.TrimSuffix(name, ".info"), ".part")
			if obj.LastModified.After(latest[oid]) {
				latest[oid] = obj.LastModified
			}
			if strings.HasSuffix(name, ".info") {
				infos[oid] = ""
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("s3 list uploads: %w", err)
	}
	core := minio.Core{Client: s.C}
	var out []TusUpload
	for oid := range infos {
		info, err := s.GetBytes(ctx, s.cfg.Bucket, pipeline.UploadsPrefix+oid+".info", 1<<20)
		if IsNotFound(err) {
			continue // finished or removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		var rec struct{ ID string }
		if json.Unmarshal(info, &rec) != nil || rec.ID == "" {
			continue
		}
		last := latest[oid]
		if _, multipart, ok := strings.Cut(rec.ID, "+"); ok {
			for marker := 0; ; {
				res, err := core.ListObjectParts(ctx, s.cfg.Bucket, pipeline.UploadsPrefix+oid, multipart, marker, 1000)
				if err != nil {
					break // a completed upload has no parts to list
				}
				for _, p := range res.ObjectParts {
					if p.LastModified.After(last) {
						last = p.LastModified
					}
				}
				if !res.IsTruncated {
					break
				}
				marker = res.NextPartNumberMarker
			}
		}
		out = append(out, TusUpload{ID: rec.ID, LastActive: last})
	}
	return out, nil
}

// PresignForeign returns a URL that reads bucket/key of another S3 store
// (at endpoint, host[:port]) for ttl, signed here with its credentials
// (no request is made), so that the credentials are kept nowhere.
func PresignForeign(ctx context.Context, endpoint, region, accessKey, secretKey string, secure bool, bucket, key string, ttl time.Duration) (string, error) {
	if region == "" {
		region = "us-east-1"
	}
	c, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, ""), Secure: secure, Region: region})
	if err != nil {
		return "", fmt.Errorf("s3 endpoint %q: %w", endpoint, err)
	}
	u, err := c.PresignedGetObject(ctx, bucket, key, ttl, url.Values{})
	if err != nil {
		return "", fmt.Errorf("presign s3://%s/%s: %w", bucket, key, err)
	}
	return u.String(), nil
}

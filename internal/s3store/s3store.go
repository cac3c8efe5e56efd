// Package s3store keeps Mediagate's blobs in an S3-compatible bucket
// (SeaweedFS in the tests): it implements media.Blobs with the
// Accelerator (presigned URLs behind nginx's internal S3 location),
// Publisher (a public prefix the engine serves anonymously) and Inspector
// (fsck) abilities.
package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/media"
)

// Object layout under the prefix: blobs/<sha256> for private content,
// public/<name> for published copies, fsck-trash/<run>/<name> for what
// "mediagate fsck --repair" took out of blobs/ (never presigned, never
// public).
const (
	blobsDir  = "blobs/"
	publicDir = "public/"
	trashDir  = "fsck-trash/"
)

// presignFor is how long a presigned URL handed to nginx stays valid: nginx
// uses it at once, so it only has to outlive the hop.
const presignFor = time.Minute

// Store is a bucket holding blobs under prefix.
type Store struct {
	c       *s3.Client
	presign *s3.PresignClient
	// signer presigns the URLs nginx fetches without the SDK's per-call
	// machinery (which was a third of the app's CPU per request); it
	// caches the derived signing key.
	signer *v4.Signer
	creds  aws.CredentialsProvider
	region string
	bucket string
	prefix string // "" or ending in "/"
	target *url.URL
}

// Options are what Open needs: config.Config's S3 settings.
type Options struct {
	Endpoint, Region, Bucket, Prefix string
	AccessKey, SecretKey             string
	PathStyle                        bool
	// HTTPClient, when set, is the SDK's HTTP client.
	HTTPClient *http.Client
}

// FromConfig returns the Options of cfg.
func FromConfig(cfg config.Config) Options {
	return Options{Endpoint: cfg.S3Endpoint, Region: cfg.S3Region, Bucket: cfg.S3Bucket, Prefix: cfg.S3Prefix,
		AccessKey: cfg.S3AccessKey, SecretKey: cfg.S3SecretKey, PathStyle: cfg.S3PathStyle}
}

// New returns a Store for o without talking to the engine; Check does.
func New(o Options) (*Store, error) {
	u, err := url.Parse(o.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("s3-endpoint: want a URL such as http://127.0.0.1:8333, got %q", o.Endpoint)
	}
	if err := config.CheckS3Prefix(o.Prefix); err != nil {
		return nil, err
	}
	prefix := o.Prefix
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	opts := s3.Options{
		Region:       o.Region,
		BaseEndpoint: aws.String(o.Endpoint),
		UsePathStyle: o.PathStyle,
		Credentials:  credentials.NewStaticCredentialsProvider(o.AccessKey, o.SecretKey, ""),
		// Checksums only where S3 requires them: blobs are verified by
		// their SHA-256 already, and the trailing checksums of newer SDKs are
		// not spoken by every engine.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if o.HTTPClient != nil {
		opts.HTTPClient = o.HTTPClient
	}
	c := s3.New(opts)
	s := &Store{c: c, presign: s3.NewPresignClient(c), bucket: o.Bucket, prefix: prefix,
		signer: v4.NewSigner(), creds: opts.Credentials, region: o.Region}
	// Where presigned URLs point: nginx's S3 location proxies to this host
	// with this Host header.
	probe, err := s.presign.PresignGetObject(context.Background(), &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + blobsDir + "x")})
	if err != nil {
		return nil, fmt.Errorf("s3: presign: %w", err)
	}
	if s.target, err = url.Parse(probe.URL); err != nil {
		return nil, fmt.Errorf("s3: presign: %w", err)
	}
	return s, nil
}

// Client returns the store's S3 client (for resumable uploads' store).
func (s *Store) Client() *s3.Client { return s.c }

// Bucket returns the bucket's name.
func (s *Store) Bucket() string { return s.bucket }

// Prefix returns the key prefix, "" or ending in "/".
func (s *Store) Prefix() string { return s.prefix }

// Describe names the bucket and prefix; never a secret.
func (s *Store) Describe() string {
	return "s3 " + s.target.Scheme + "://" + s.target.Host + " bucket " + s.bucket + " prefix " + s.prefix
}

// Host is the Host header presigned URLs are signed for.
func (s *Store) Host() string { return s.target.Host }

// PublicPath is the request path, on Host, of the published file name: what
// nginx's public location proxies to.
func (s *Store) PublicPath(name string) string {
	return strings.TrimSuffix(s.target.Path, s.prefix+blobsDir+"x") + s.prefix + publicDir + name
}

// publicPolicy lets anyone read the public prefix, and nothing else.
func (s *Store) publicPolicy() string {
	return `{"Version":"2012-10-17","Statement":[{"Sid":"MediagatePublic","Effect":"Allow","Principal":"*",` +
		`"Action":"s3:GetObject","Resource":"arn:aws:s3:::` + s.bucket + `/` + s.prefix + publicDir + `*"}]}`
}

// Check makes sure the bucket can be used: the credentials work, the bucket
// exists, and anyone may read its public prefix (a bucket without a policy
// gets Mediagate's; one with another policy must grant it already).
func (s *Store) Check(ctx context.Context) error {
	if _, err := s.c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		return fmt.Errorf("s3: bucket %q at %s: %w", s.bucket, s.target.Host, describe(err))
	}
	pol, err := s.c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: &s.bucket})
	switch {
	case err == nil && strings.Contains(aws.ToString(pol.Policy), s.prefix+publicDir+"*"):
		return nil
	case err == nil && aws.ToString(pol.Policy) != "":
		return fmt.Errorf("s3: bucket %q has a policy that does not let anyone read %s*; add: %s", s.bucket, s.prefix+publicDir, s.publicPolicy())
	}
	if _, err := s.c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: &s.bucket, Policy: aws.String(s.publicPolicy())}); err != nil {
		return fmt.Errorf("s3: let anyone read %s* in bucket %q: %w", s.prefix+publicDir, s.bucket, describe(err))
	}
	return nil
}

func (s *Store) blobKey(key string) string { return s.prefix + blobsDir + key }

func (s *Store) publicKey(name string) string { return s.prefix + publicDir + name }

// Put uploads the file at path under key unless the key is there already.
// PutObject is atomic: the object is whole or absent.
func (s *Store) Put(ctx context.Context, key, path string) error {
	if !media.ValidKey(key) {
		return fmt.Errorf("store blob: %q is not a content key", key)
	}
	k := s.blobKey(key)
	if _, err := s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &k}); err == nil {
		return nil
	} else if !notFound(err) {
		return fmt.Errorf("%w: store blob: %w", errs.ErrUnavailable, describe(err))
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store blob: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store blob: %w", err)
	}
	_, err = s.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &k, Body: f, ContentLength: aws.Int64(fi.Size()),
		ContentType: aws.String("application/octet-stream")})
	if err != nil {
		return storageError("store blob", err)
	}
	return nil
}

// Size tells the size of key's object, from its head.
func (s *Store) Size(ctx context.Context, key string) (int64, error) {
	if !media.ValidKey(key) {
		return 0, fmt.Errorf("size: %q is not a content key", key)
	}
	k := s.blobKey(key)
	out, err := s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &k})
	if notFound(err) {
		return 0, fmt.Errorf("blob %s: %w", key, media.ErrBlobMissing)
	}
	if err != nil {
		return 0, describe(err)
	}
	return aws.ToInt64(out.ContentLength), nil
}

// Inventory implements media.Inspector: every object under blobs/, by its
// key below that.
func (s *Store) Inventory(ctx context.Context, fn func(media.StoredObject) error) error {
	prefix := s.prefix + blobsDir
	p := s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, describe(err))
		}
		for _, o := range page.Contents {
			name := strings.TrimPrefix(aws.ToString(o.Key), prefix)
			so := media.StoredObject{Name: name, Size: aws.ToInt64(o.Size)}
			if media.ValidKey(name) {
				so.Key = name
			}
			if err := fn(so); err != nil {
				return err
			}
		}
	}
	return nil
}

// Trash implements media.Inspector: the object blobs/<name> is copied to
// fsck-trash/<run>/<name>, then deleted. A name that is not a content key
// goes there escaped, as one segment, so that no "/.." in it can lead out
// of the trash on an engine that cleans paths. (CopyObject takes objects
// of up to 5 GiB, as Publish does.)
func (s *Store) Trash(ctx context.Context, name, run string) (string, error) {
	if name == "" || run == "" || strings.ContainsAny(run, "/") {
		return "", fmt.Errorf("trash: bad name %q or run %q", name, run)
	}
	as := name
	if !media.ValidKey(name) {
		as = "stray-" + url.PathEscape(name)
	}
	src, dst := s.prefix+blobsDir+name, s.prefix+trashDir+run+"/"+as
	source := (&url.URL{Path: s.bucket + "/" + src}).EscapedPath()
	if _, err := s.c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &s.bucket, Key: &dst, CopySource: &source}); err != nil {
		return "", storageError("trash", err)
	}
	if _, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &src}); err != nil && !notFound(err) {
		return "", storageError("trash", err)
	}
	return "s3://" + s.bucket + "/" + dst, nil
}

// Remove deletes key's object; a missing one is no error in S3.
func (s *Store) Remove(ctx context.Context, key string) error {
	if !media.ValidKey(key) {
		return fmt.Errorf("remove blob: %q is not a content key", key)
	}
	k := s.blobKey(key)
	if _, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &k}); err != nil && !notFound(err) {
		return fmt.Errorf("remove blob: %w", describe(err))
	}
	return nil
}

// Walk lists the blobs' keys.
func (s *Store) Walk(ctx context.Context, fn func(key string) error) error {
	return s.walk(ctx, s.prefix+blobsDir, media.ValidKey, fn)
}

// WalkPublic lists the published names.
func (s *Store) WalkPublic(ctx context.Context, fn func(name string) error) error {
	return s.walk(ctx, s.prefix+publicDir, func(string) bool { return true }, fn)
}

func (s *Store) walk(ctx context.Context, prefix string, valid func(string) bool, fn func(string) error) error {
	p := s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, describe(err))
		}
		for _, o := range page.Contents {
			name := strings.TrimPrefix(aws.ToString(o.Key), prefix)
			if !valid(name) {
				continue
			}
			if err := fn(name); err != nil {
				return err
			}
		}
	}
	return nil
}

// Open returns a reader of key's object that fetches from the engine with a
// Range from wherever it was last sought to: nothing is held in memory.
func (s *Store) Open(ctx context.Context, key string, size int64) (io.ReadSeekCloser, error) {
	if !media.ValidKey(key) {
		return nil, fmt.Errorf("open blob: %q is not a content key", key)
	}
	return &rangeReader{ctx: ctx, s: s, key: s.blobKey(key), size: size}, nil
}

// rangeReader reads an object from off on, one GetObject per seek.
type rangeReader struct {
	ctx       context.Context
	s         *Store
	key       string
	size, off int64
	body      io.ReadCloser
}

func (r *rangeReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if r.body == nil {
		out, err := r.s.c.GetObject(r.ctx, &s3.GetObjectInput{Bucket: &r.s.bucket, Key: &r.key,
			Range: aws.String(fmt.Sprintf("bytes=%d-", r.off))})
		if notFound(err) {
			return 0, fmt.Errorf("read blob %s: %w", r.key, media.ErrBlobMissing)
		}
		if err != nil {
			return 0, fmt.Errorf("read blob %s: %w", r.key, describe(err))
		}
		r.body = out.Body
	}
	n, err := r.body.Read(p)
	r.off += int64(n)
	if errors.Is(err, io.EOF) && r.off < r.size {
		err = fmt.Errorf("read blob %s: %w at %d of %d bytes", r.key, io.ErrUnexpectedEOF, r.off, r.size)
	}
	return n, err
}

func (r *rangeReader) Seek(offset int64, whence int) (int64, error) {
	var off int64
	switch whence {
	case io.SeekStart:
		off = offset
	case io.SeekCurrent:
		off = r.off + offset
	case io.SeekEnd:
		off = r.size + offset
	default:
		return r.off, errors.New("seek: bad whence")
	}
	if off < 0 {
		return r.off, errors.New("seek: negative position")
	}
	if off != r.off && r.body != nil {
		r.body.Close()
		r.body = nil
	}
	r.off = off
	return off, nil
}

func (r *rangeReader) Close() error {
	if r.body != nil {
		return r.body.Close()
	}
	return nil
}

// AccelPrefix is nginx's internal location for presigned S3 requests. The
// rest of an accel path is the presigned URL's path, ending in the content
// key, then its query: nginx proxies it to the engine as it is.
const AccelPrefix = "/_s3/"

// AccelPath returns the X-Accel-Redirect target for key: a presigned URL
// for req's method, short-lived, its path behind AccelPrefix and a mode
// ("r": nginx forwards the client's Range; "w": the whole object).
func (s *Store) AccelPath(ctx context.Context, key string, req media.AccelRequest) (string, error) {
	if !media.ValidKey(key) {
		return "", fmt.Errorf("accel path: %q is not a content key", key)
	}
	// nginx passes the engine's Content-Type on, not the app's: the engine
	// is asked to answer with the item's, and with its disposition.
	q := url.Values{"X-Amz-Expires": {strconv.Itoa(int(presignFor / time.Second))}}
	if req.ContentType != "" {
		q.Set("response-content-type", req.ContentType)
	}
	if req.ContentDisposition != "" {
		q.Set("response-content-disposition", req.ContentDisposition)
	}
	method := http.MethodGet
	if req.Method == http.MethodHead { // a presigned GET refuses HEAD
		method = http.MethodHead
	}
	u := url.URL{Scheme: s.target.Scheme, Host: s.target.Host,
		Path: strings.TrimSuffix(s.target.Path, blobsDir+"x") + blobsDir + key, RawQuery: strings.ReplaceAll(q.Encode(), "+", "%20")}
	hr, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return "", fmt.Errorf("presign: %w", err)
	}
	creds, err := s.creds.Retrieve(ctx)
	if err != nil {
		return "", fmt.Errorf("presign: %w", err)
	}
	signed, _, err := s.signer.PresignHTTP(ctx, creds, hr, "UNSIGNED-PAYLOAD", "s3", s.region, time.Now(),
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err != nil {
		return "", fmt.Errorf("presign: %w", err)
	}
	pu, err := url.Parse(signed)
	if err != nil {
		return "", fmt.Errorf("presign: %w", err)
	}
	mode := "r"
	if req.Whole {
		mode = "w"
	}
	return AccelPrefix + mode + pu.EscapedPath() + "?" + pu.RawQuery, nil
}

// Proxied is true: nginx proxies presigned URLs to the engine, which gets
// If-Range wrong and answers errors in XML, so the Sender answers
// conditionals and unsatisfiable ranges itself, nginx forwards only a
// checked Range, and the engine answers with the file's type and
// disposition (response-content-type, response-content-disposition).
func (s *Store) Proxied() bool { return true }

// Publish copies key's object to the public prefix as name, with the type
// the name's extension gives.
func (s *Store) Publish(ctx context.Context, key, name string) error {
	if !media.ValidKey(key) || !media.ValidPublicName(name) {
		return fmt.Errorf("publish: bad key or name")
	}
	ct := "application/octet-stream"
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		if t, ok := config.PublicTypes[name[i:]]; ok {
			ct = t
		}
	}
	dst := s.publicKey(name)
	_, err := s.c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &s.bucket, Key: &dst,
		CopySource: aws.String(s.bucket + "/" + s.blobKey(key)), ContentType: &ct,
		MetadataDirective: types.MetadataDirectiveReplace})
	if err != nil {
		return storageError("publish blob", err)
	}
	return nil
}

// Unpublish deletes the public copy name.
func (s *Store) Unpublish(ctx context.Context, name string) error {
	if !media.ValidPublicName(name) {
		return fmt.Errorf("unpublish: bad name")
	}
	k := s.publicKey(name)
	if _, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &k}); err != nil && !notFound(err) {
		return fmt.Errorf("unpublish: %w", describe(err))
	}
	return nil
}

// notFound reports a missing key or object.
func notFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var api smithy.APIError
	return errors.As(err, &nsk) || errors.As(err, &nf) || (errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound"))
}

// describe shortens an SDK error to its code and message: the SDK's own
// text carries the request's URL.
func describe(err error) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		return fmt.Errorf("%s: %s", api.ErrorCode(), api.ErrorMessage())
	}
	return err
}

// storageError is a failed write: a full engine is a 507 to clients, an
// unreachable one a 503.
func storageError(what string, err error) error {
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "QuotaExceeded" || api.ErrorCode() == "EntityTooLarge" || api.ErrorCode() == "InsufficientStorage") {
		return fmt.Errorf("%w: %s: %w", errs.ErrInsufficientStorage, what, describe(err))
	}
	return fmt.Errorf("%w: %s: %w", errs.ErrUnavailable, what, describe(err))
}

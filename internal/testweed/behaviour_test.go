package testweed

// These tests pin down how SeaweedFS's S3 API behaves where Mediagate's
// design depends on it; docs/seaweedfs.md lists the same facts. When one
// fails after a SeaweedFS upgrade, the engine changed: update the doc and
// check the design before changing the test.

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/mediagate/mediagate/internal/testenv"
)

// content is the object most probes read: 36 bytes.
const content = "0123456789abcdefghijklmnopqrstuvwxyz"

var bg = context.Background()

var httpClient = &http.Client{Timeout: 30 * time.Second}

// put stores body at key in b.
func put(t *testing.T, b Bucket, key, body string, mutate ...func(*s3.PutObjectInput)) {
	t.Helper()
	in := &s3.PutObjectInput{Bucket: &b.Name, Key: &key, Body: strings.NewReader(body)}
	for _, m := range mutate {
		m(in)
	}
	if _, err := b.Client().PutObject(bg, in); err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
}

// presignGet returns a presigned GET URL for key in b.
func presignGet(t *testing.T, b Bucket, in *s3.GetObjectInput, opts ...func(*s3.PresignOptions)) string {
	t.Helper()
	if in.Bucket == nil {
		in.Bucket = &b.Name
	}
	req, err := s3.NewPresignClient(b.Client()).PresignGetObject(bg, in, opts...)
	if err != nil {
		t.Fatalf("presign %q: %v", aws.ToString(in.Key), err)
	}
	return req.URL
}

// fetch does one plain net/http request; header is name, value, name, value...
func fetch(t *testing.T, method, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func headerNames(h http.Header) []string {
	var names []string
	for name := range h {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func quotedMD5(s string) string {
	sum := md5.Sum([]byte(s))
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// s3Error is the XML body of an S3 error response.
type s3Error struct {
	XMLName    xml.Name `xml:"Error"`
	Code       string
	Message    string
	Resource   string
	RequestID  string `xml:"RequestId"`
	Key        string
	BucketName string
}

func parseError(t *testing.T, body string) s3Error {
	t.Helper()
	var e s3Error
	if err := xml.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e
}

// wantError checks an S3 error response: status, XML content type, code.
func wantError(t *testing.T, resp *http.Response, body string, status int, code string) s3Error {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d (body %q)", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/xml" {
		t.Errorf("Content-Type = %q, want application/xml", ct)
	}
	if !strings.HasPrefix(body, `<?xml version="1.0" encoding="UTF-8"?>`) {
		t.Errorf("body %q has no XML declaration", body)
	}
	e := parseError(t, body)
	if e.Code != code {
		t.Errorf("error code = %q, want %q (%+v)", e.Code, code, e)
	}
	return e
}

func TestObjectsThroughTheSDK(t *testing.T) {
	b := New(t)
	c := b.Client()
	put(t, b, "obj", content, func(in *s3.PutObjectInput) { in.ContentType = aws.String("video/mp4") })

	head, err := c.HeadObject(bg, &s3.HeadObjectInput{Bucket: &b.Name, Key: aws.String("obj")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(head.ContentLength) != int64(len(content)) || aws.ToString(head.ContentType) != "video/mp4" ||
		aws.ToString(head.ETag) != quotedMD5(content) || head.LastModified == nil {
		t.Errorf("HeadObject = length %d, type %q, ETag %s, modified %v",
			aws.ToInt64(head.ContentLength), aws.ToString(head.ContentType), aws.ToString(head.ETag), head.LastModified)
	}

	got, err := c.GetObject(bg, &s3.GetObjectInput{Bucket: &b.Name, Key: aws.String("obj"), Range: aws.String("bytes=0-9")})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(got.Body)
	got.Body.Close()
	raw, _ := awsmiddleware.GetRawResponse(got.ResultMetadata).(*smithyhttp.Response)
	if raw == nil || raw.StatusCode != http.StatusPartialContent {
		t.Errorf("ranged GetObject status = %v, want 206", raw)
	}
	if string(body) != content[:10] || aws.ToString(got.ContentRange) != "bytes 0-9/36" || aws.ToInt64(got.ContentLength) != 10 {
		t.Errorf("ranged GetObject = %q, Content-Range %q, length %d", body, aws.ToString(got.ContentRange), aws.ToInt64(got.ContentLength))
	}

	if _, err := c.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: &b.Name, Key: aws.String("obj")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.HeadObject(bg, &s3.HeadObjectInput{Bucket: &b.Name, Key: aws.String("obj")})
	var notFound *types.NotFound
	if !errors.As(err, &notFound) {
		t.Errorf("HeadObject after delete: %v, want NotFound", err)
	}
	_, err = c.GetObject(bg, &s3.GetObjectInput{Bucket: &b.Name, Key: aws.String("obj")})
	var noSuchKey *types.NoSuchKey
	var respErr *awshttp.ResponseError
	if !errors.As(err, &noSuchKey) || !errors.As(err, &respErr) || respErr.HTTPStatusCode() != 404 {
		t.Errorf("GetObject after delete: %v, want NoSuchKey 404", err)
	}
	// Deleting what is not there succeeds, as on AWS.
	if _, err := c.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: &b.Name, Key: aws.String("obj")}); err != nil {
		t.Errorf("second DeleteObject: %v", err)
	}

	for _, k := range []string{"p/0", "p/1", "p/2", "p/3", "p/4", "q/0", "pp"} {
		put(t, b, k, k)
	}
	pages := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &b.Name, Prefix: aws.String("p/"), MaxKeys: aws.Int32(2)})
	var listed [][]string
	var truncated []bool
	for pages.HasMorePages() {
		page, err := pages.NextPage(bg)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
			if aws.ToInt64(o.Size) != 3 || aws.ToString(o.ETag) != quotedMD5(aws.ToString(o.Key)) {
				t.Errorf("listed %s: size %d, ETag %s", aws.ToString(o.Key), aws.ToInt64(o.Size), aws.ToString(o.ETag))
			}
		}
		listed = append(listed, keys)
		truncated = append(truncated, aws.ToBool(page.IsTruncated))
		if int(aws.ToInt32(page.KeyCount)) != len(keys) {
			t.Errorf("KeyCount = %d for %d keys", aws.ToInt32(page.KeyCount), len(keys))
		}
	}
	if fmt.Sprint(listed) != "[[p/0 p/1] [p/2 p/3] [p/4]]" || fmt.Sprint(truncated) != "[true true false]" {
		t.Errorf("pages = %v, truncated %v", listed, truncated)
	}
}

func TestPresignedGet(t *testing.T) {
	b := New(t)
	put(t, b, "obj", content, func(in *s3.PutObjectInput) { in.ContentType = aws.String("video/mp4") })
	url := presignGet(t, b, &s3.GetObjectInput{Key: aws.String("obj")})

	resp, body := fetch(t, "GET", url)
	if resp.StatusCode != 200 || body != content {
		t.Fatalf("GET = %d %q", resp.StatusCode, body)
	}
	// Everything SeaweedFS sends on a plain 200; nginx must hide what is the engine's.
	want := []string{"Accept-Ranges", "Content-Length", "Content-Type", "Date", "Etag", "Last-Modified", "Server", "Vary", "X-Amz-Request-Id"}
	if got := headerNames(resp.Header); !slices.Equal(got, want) {
		t.Errorf("headers = %v, want %v", got, want)
	}
	etag, lastModified := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if etag != quotedMD5(content) {
		t.Errorf("ETag = %s, want the quoted MD5 %s", etag, quotedMD5(content))
	}
	if _, err := time.Parse(http.TimeFormat, lastModified); err != nil {
		t.Errorf("Last-Modified %q: %v", lastModified, err)
	}
	for name, value := range map[string]string{"Accept-Ranges": "bytes", "Vary": "Origin", "Content-Type": "video/mp4", "Content-Length": "36"} {
		if got := resp.Header.Get(name); got != value {
			t.Errorf("%s = %q, want %q", name, got, value)
		}
	}
	if s := resp.Header.Get("Server"); !strings.HasPrefix(s, "SeaweedFS ") {
		t.Errorf("Server = %q, want SeaweedFS <version>", s)
	}
	if resp.Header.Get("X-Amz-Request-Id") == "" {
		t.Error("no X-Amz-Request-Id")
	}

	cases := []struct {
		name         string
		header       []string
		status       int
		contentRange string
		body         string
	}{
		{"first ten bytes", []string{"Range", "bytes=0-9"}, 206, "bytes 0-9/36", content[:10]},
		{"open-ended", []string{"Range", "bytes=5-"}, 206, "bytes 5-35/36", content[5:]},
		{"suffix", []string{"Range", "bytes=-5"}, 206, "bytes 31-35/36", content[31:]},
		{"end past the end", []string{"Range", "bytes=30-99"}, 206, "bytes 30-35/36", content[30:]},
		// Several ranges: the whole object, no multipart/byteranges.
		{"multi-range", []string{"Range", "bytes=0-1,4-5"}, 200, "", content},
		{"If-None-Match current", []string{"If-None-Match", etag}, 304, "", ""},
		{"If-None-Match other", []string{"If-None-Match", `"0123"`}, 200, "", content},
		{"If-Modified-Since Last-Modified", []string{"If-Modified-Since", lastModified}, 304, "", ""},
		{"If-Modified-Since 2001", []string{"If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT"}, 200, "", content},
		{"If-Range current", []string{"Range", "bytes=0-9", "If-Range", etag}, 206, "bytes 0-9/36", content[:10]},
		// If-Range is ignored: a stale validator still gets the range, where
		// RFC 9110 asks for the whole new object.
		{"If-Range stale ETag", []string{"Range", "bytes=0-9", "If-Range", `"0123"`}, 206, "bytes 0-9/36", content[:10]},
		{"If-Range stale date", []string{"Range", "bytes=0-9", "If-Range", "Mon, 01 Jan 2001 00:00:00 GMT"}, 206, "bytes 0-9/36", content[:10]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := fetch(t, "GET", url, c.header...)
			if resp.StatusCode != c.status || resp.Header.Get("Content-Range") != c.contentRange || body != c.body {
				t.Errorf("= %d, Content-Range %q, body %q; want %d, %q, %q",
					resp.StatusCode, resp.Header.Get("Content-Range"), body, c.status, c.contentRange, c.body)
			}
			if c.status == 304 {
				want := []string{"Accept-Ranges", "Date", "Etag", "Server", "Vary", "X-Amz-Request-Id"}
				if got := headerNames(resp.Header); !slices.Equal(got, want) {
					t.Errorf("304 headers = %v, want %v", got, want)
				}
			}
		})
	}

	t.Run("unsatisfiable range", func(t *testing.T) {
		resp, body := fetch(t, "GET", url, "Range", "bytes=999999-")
		e := wantError(t, resp, body, 416, "InvalidRange")
		if cr := resp.Header.Get("Content-Range"); cr != "bytes */36" {
			t.Errorf("Content-Range = %q, want bytes */36", cr)
		}
		if e.Message != "The requested range is not satisfiable" || e.Key != "obj" || e.BucketName != b.Name {
			t.Errorf("error = %+v", e)
		}
	})
	t.Run("If-Match stale", func(t *testing.T) {
		resp, body := fetch(t, "GET", url, "If-Match", `"0123"`)
		wantError(t, resp, body, 412, "PreconditionFailed")
	})
	t.Run("If-Unmodified-Since 2001", func(t *testing.T) {
		resp, body := fetch(t, "GET", url, "If-Unmodified-Since", "Mon, 01 Jan 2001 00:00:00 GMT")
		wantError(t, resp, body, 412, "PreconditionFailed")
	})
}

func TestPresignedHead(t *testing.T) {
	b := New(t)
	put(t, b, "obj", content)
	// The method is part of the signature: HEAD on a GET URL is refused.
	resp, body := fetch(t, "HEAD", presignGet(t, b, &s3.GetObjectInput{Key: aws.String("obj")}))
	if resp.StatusCode != 403 || body != "" {
		t.Errorf("HEAD on a presigned GET = %d %q, want 403", resp.StatusCode, body)
	}
	head, err := s3.NewPresignClient(b.Client()).PresignHeadObject(bg, &s3.HeadObjectInput{Bucket: &b.Name, Key: aws.String("obj")})
	if err != nil {
		t.Fatal(err)
	}
	resp, body = fetch(t, "HEAD", head.URL)
	if resp.StatusCode != 200 || body != "" || resp.Header.Get("Content-Length") != "36" || resp.Header.Get("ETag") != quotedMD5(content) {
		t.Errorf("presigned HEAD = %d, Content-Length %q, ETag %q", resp.StatusCode, resp.Header.Get("Content-Length"), resp.Header.Get("ETag"))
	}
}

func TestPresignedResponseOverrides(t *testing.T) {
	b := New(t)
	put(t, b, "obj", content, func(in *s3.PutObjectInput) { in.ContentType = aws.String("video/mp4") })
	url := presignGet(t, b, &s3.GetObjectInput{
		Key:                        aws.String("obj"),
		ResponseContentType:        aws.String("application/x-test"),
		ResponseContentDisposition: aws.String(`attachment; filename="a b.mp4"`),
		ResponseCacheControl:       aws.String("private, max-age=60"),
	})
	resp, body := fetch(t, "GET", url, "Range", "bytes=0-1")
	if resp.StatusCode != 206 || body != "01" {
		t.Errorf("= %d %q", resp.StatusCode, body)
	}
	for name, value := range map[string]string{
		"Content-Type":        "application/x-test",
		"Content-Disposition": `attachment; filename="a b.mp4"`,
		"Cache-Control":       "private, max-age=60",
	} {
		if got := resp.Header.Get(name); got != value {
			t.Errorf("%s = %q, want %q", name, got, value)
		}
	}
}

func TestStoredHeaders(t *testing.T) {
	b := New(t)
	put(t, b, "obj", content, func(in *s3.PutObjectInput) {
		in.CacheControl = aws.String("max-age=5")
		in.ContentDisposition = aws.String("inline")
		in.Metadata = map[string]string{"owner": "x"}
	})
	url := presignGet(t, b, &s3.GetObjectInput{Key: aws.String("obj")})
	resp, _ := fetch(t, "GET", url)
	for name, value := range map[string]string{
		"Cache-Control":       "max-age=5",
		"Content-Disposition": "inline",
		"X-Amz-Meta-Owner":    "x",
		// Without a type at upload, objects are served as octet-stream.
		"Content-Type": "application/octet-stream",
	} {
		if got := resp.Header.Get(name); got != value {
			t.Errorf("%s = %q, want %q", name, got, value)
		}
	}
	// CORS is on for every origin by default (-s3.allowedOrigins=*), with
	// credentials: nginx must not pass these through.
	resp, _ = fetch(t, "GET", url, "Origin", "http://elsewhere.example")
	for name, value := range map[string]string{
		"Access-Control-Allow-Origin":      "http://elsewhere.example",
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Allow-Methods":     "GET, PUT, POST, DELETE, HEAD",
		"Access-Control-Allow-Headers":     "*",
		"Access-Control-Expose-Headers":    "ETag, Content-Length, Content-Type, Last-Modified, x-amz-request-id, x-amz-version-id",
	} {
		if got := resp.Header.Get(name); got != value {
			t.Errorf("%s = %q, want %q", name, got, value)
		}
	}
}

// pastPresigner signs as if it were an hour ago, so that a URL is already
// expired without waiting.
type pastPresigner struct{ signer *v4.Signer }

func (p pastPresigner) PresignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, service, region string,
	_ time.Time, optFns ...func(*v4.SignerOptions)) (string, http.Header, error) {
	return p.signer.PresignHTTP(ctx, creds, r, payloadHash, service, region, time.Now().Add(-time.Hour), optFns...)
}

func TestErrors(t *testing.T) {
	b := New(t)
	put(t, b, "obj", content)

	t.Run("missing key", func(t *testing.T) {
		resp, body := fetch(t, "GET", presignGet(t, b, &s3.GetObjectInput{Key: aws.String("missing")}))
		e := wantError(t, resp, body, 404, "NoSuchKey")
		want := s3Error{XMLName: e.XMLName, Code: "NoSuchKey", Message: "The specified key does not exist.",
			Resource: "/" + b.Name + "/missing", RequestID: resp.Header.Get("X-Amz-Request-Id"), Key: "missing", BucketName: b.Name}
		if e != want {
			t.Errorf("error = %+v, want %+v", e, want)
		}
		wantNames := []string{"Accept-Ranges", "Content-Length", "Content-Type", "Date", "Server", "Vary", "X-Amz-Request-Id"}
		if got := headerNames(resp.Header); !slices.Equal(got, wantNames) {
			t.Errorf("headers = %v, want %v", got, wantNames)
		}
	})
	t.Run("missing bucket", func(t *testing.T) {
		resp, body := fetch(t, "GET", presignGet(t, b, &s3.GetObjectInput{Bucket: aws.String("mgtest-none-" + randomHex(4)), Key: aws.String("obj")}))
		wantError(t, resp, body, 404, "NoSuchBucket")
	})
	t.Run("expired", func(t *testing.T) {
		url := presignGet(t, b, &s3.GetObjectInput{Key: aws.String("obj")}, func(o *s3.PresignOptions) {
			o.Presigner = pastPresigner{v4.NewSigner()}
			o.Expires = time.Minute
		})
		resp, body := fetch(t, "GET", url)
		if e := wantError(t, resp, body, 403, "AccessDenied"); e.Message != "Request has expired" {
			t.Errorf("message = %q", e.Message)
		}
	})
	t.Run("tampered signature", func(t *testing.T) {
		resp, body := fetch(t, "GET", presignGet(t, b, &s3.GetObjectInput{Key: aws.String("obj")})+"0")
		wantError(t, resp, body, 403, "SignatureDoesNotMatch")
	})
	t.Run("unsigned", func(t *testing.T) {
		resp, body := fetch(t, "GET", b.Endpoint+"/"+b.Name+"/obj")
		if e := wantError(t, resp, body, 403, "AccessDenied"); e.Message != "Access Denied." {
			t.Errorf("message = %q", e.Message)
		}
	})
}

// checkPublicPrefix checks that unsigned requests read the objects under
// bucket/public/ (public/p holds "pub", public/deep/p "deep") and nothing else.
func checkPublicPrefix(t *testing.T, endpoint, bucket string) {
	t.Helper()
	base := endpoint + "/" + bucket + "/"
	resp, body := fetch(t, "GET", base+"public/p", "Range", "bytes=1-")
	if resp.StatusCode != 206 || body != "ub" {
		t.Errorf("unsigned GET public/p = %d %q, want 206 \"ub\"", resp.StatusCode, body)
	}
	if resp, _ := fetch(t, "HEAD", base+"public/p"); resp.StatusCode != 200 {
		t.Errorf("unsigned HEAD public/p = %d, want 200", resp.StatusCode)
	}
	// The * of the grant spans slashes.
	if resp, body := fetch(t, "GET", base+"public/deep/p"); resp.StatusCode != 200 || body != "deep" {
		t.Errorf("unsigned GET public/deep/p = %d %q, want 200 \"deep\"", resp.StatusCode, body)
	}
	// A missing public key says so (AWS would say 403 without s3:ListBucket).
	resp, body = fetch(t, "GET", base+"public/missing")
	wantError(t, resp, body, 404, "NoSuchKey")
	for _, c := range []struct{ method, path string }{
		{"GET", "private/p"}, {"HEAD", "private/p"}, {"GET", ""}, {"GET", "?list-type=2&prefix=public/"}, {"PUT", "public/new"}, {"DELETE", "public/p"},
	} {
		if resp, _ := fetch(t, c.method, base+c.path); resp.StatusCode != 403 {
			t.Errorf("unsigned %s /%s/%s = %d, want 403", c.method, bucket, c.path, resp.StatusCode)
		}
	}
}

func TestPublicPrefixByBucketPolicy(t *testing.T) {
	b := New(t)
	put(t, b, "public/p", "pub")
	put(t, b, "public/deep/p", "deep")
	put(t, b, "private/p", "priv")
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",` +
		`"Resource":"arn:aws:s3:::` + b.Name + `/public/*"}]}`
	if _, err := b.Client().PutBucketPolicy(bg, &s3.PutBucketPolicyInput{Bucket: &b.Name, Policy: &policy}); err != nil {
		t.Fatal(err)
	}
	checkPublicPrefix(t, b.Endpoint, b.Name)
	// Signed requests are unaffected.
	resp, body := fetch(t, "GET", presignGet(t, b, &s3.GetObjectInput{Key: aws.String("private/p")}))
	if resp.StatusCode != 200 || body != "priv" {
		t.Errorf("presigned GET private/p = %d %q", resp.StatusCode, body)
	}
}

func TestPublicPrefixByAnonymousIdentity(t *testing.T) {
	bin, err := Binary()
	if err != nil {
		testenv.Missing(t, err.Error())
	}
	bucket, other := "mgpub-"+randomHex(4), "mgpub-"+randomHex(4)
	s, err := Start(bin, Config{Anonymous: []string{"Read:" + bucket + "/public/*"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	c := newClient(s.Endpoint, AccessKey, SecretKey)
	for _, name := range []string{bucket, other} {
		if _, err := c.CreateBucket(bg, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		for key, body := range map[string]string{"public/p": "pub", "public/deep/p": "deep", "private/p": "priv"} {
			if _, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: aws.String(name), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	checkPublicPrefix(t, s.Endpoint, bucket)
	if resp, _ := fetch(t, "GET", s.Endpoint+"/"+other+"/public/p"); resp.StatusCode != 403 {
		t.Errorf("unsigned GET of another bucket's public/p = %d, want 403", resp.StatusCode)
	}
}

func TestKeysThroughPresigning(t *testing.T) {
	b := New(t)
	c := b.Client()
	survive := []string{"a%b", "a+b", "a b", "a%20b", "ü/ß", "a?b#c&d", "trail/"}
	for _, k := range survive {
		put(t, b, k, "v:"+k)
		resp, body := fetch(t, "GET", presignGet(t, b, &s3.GetObjectInput{Key: aws.String(k)}))
		if resp.StatusCode != 200 || body != "v:"+k {
			t.Errorf("presigned GET %q = %d %q", k, resp.StatusCode, body)
		}
	}
	// SeaweedFS keys are filer paths: a backslash becomes a slash
	// (-s3.allowBackslashInKey keeps it), "//" collapses and a leading slash
	// goes, so these name other keys than the ones given.
	for _, k := range []string{`x\y`, "x//y"} {
		put(t, b, k, "v:"+k)
	}
	put(t, b, "/lead", "v:/lead")
	out, err := c.ListObjectsV2(bg, &s3.ListObjectsV2Input{Bucket: &b.Name})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	want := append(slices.Clone(survive), "x/y", "lead")
	sort.Strings(want)
	if !slices.Equal(keys, want) {
		t.Errorf("listed %q, want %q", keys, want)
	}
	resp, body := fetch(t, "GET", presignGet(t, b, &s3.GetObjectInput{Key: aws.String(`x\y`)}))
	if resp.StatusCode != 200 || body != "v:x//y" {
		t.Errorf(`GET x\y = %d %q, want the last write to x//y`, resp.StatusCode, body)
	}
}

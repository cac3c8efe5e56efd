package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mediagate/mediagate/internal/s3store"
	"github.com/mediagate/mediagate/internal/testenv"
	"github.com/mediagate/mediagate/internal/testweed"
)

// The S3 stack: the same Mediagate and nginx as the local one, on
// MEDIAGATE_STORAGE=s3 with a SeaweedFS of its own (internal/testweed).
const (
	s3Prefix      = "bench/" // MEDIAGATE_S3_PREFIX
	presignPrefix = "/p/"    // the extra nginx location: a presigned URL, no app
	// presignedFor is how long the presigned URLs wrk asks for stay valid:
	// the whole run.
	presignedFor = 6 * time.Hour
)

// s3Stack is a stack on S3 storage, the engine it uses, and presigned URLs
// for its two items that nginx proxies with the same settings as the
// X-Accel-Redirect answers, without the app. Its stub nginx is in front of
// a handler that replays the app's answers with those URLs.
type s3Stack struct {
	*stack
	weed               *testweed.Server
	bucket             string
	store              *s3store.Store // the app's client settings, for the baselines
	smallURL, bigURL   string         // presignPrefix + "w" + presigned path and query
	smallHdrs, bigHdrs string         // how the /smedia answer's headers differ from the presigned one's
}

var theS3Stack once[*s3Stack]

// servingS3 returns the shared S3 stack, starting it (and the local stack,
// whose static target is the other baseline) on first use.
func servingS3(b *testing.B) *s3Stack {
	b.Helper()
	local := serving(b)
	weedBin, err := testweed.Binary()
	if err != nil {
		testenv.Missing(b, err.Error())
	}
	s, err := theS3Stack.get(func() (*s3Stack, error) { return startS3Stack(local, weedBin) })
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func startS3Stack(local *stack, weedBin string) (*s3Stack, error) {
	// A SeaweedFS of our own, not testweed.New's shared one: its buckets go
	// in the benchmark's Cleanup, which runs after every call of the
	// benchmark function, and its pid is needed for the CPU accounting.
	weed, err := testweed.Start(weedBin, testweed.Config{})
	if err != nil {
		return nil, fmt.Errorf("start SeaweedFS: %w", err)
	}
	atExit(weed.Stop)
	bk := testweed.Bucket{Endpoint: weed.Endpoint, Region: testweed.Region,
		AccessKey: testweed.AccessKey, SecretKey: testweed.SecretKey, Name: "mgbench-" + randomHex(8)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := bk.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bk.Name}); err != nil {
		return nil, fmt.Errorf("create bucket: %w", err)
	}
	// The app's own client settings (path style, checksums only when
	// required), from the same package.
	store, err := s3store.New(s3store.Options{Endpoint: bk.Endpoint, Region: bk.Region, Bucket: bk.Name, Prefix: s3Prefix,
		AccessKey: bk.AccessKey, SecretKey: bk.SecretKey, PathStyle: true})
	if err != nil {
		return nil, err
	}
	st, err := startStack(local.bin, local.nginxPath, stackConfig{
		name: "s3",
		env: []string{"MEDIAGATE_STORAGE=s3", "MEDIAGATE_S3_ENDPOINT=" + bk.Endpoint, "MEDIAGATE_S3_BUCKET=" + bk.Name,
			"MEDIAGATE_S3_REGION=" + bk.Region, "MEDIAGATE_S3_ACCESS_KEY=" + bk.AccessKey,
			"MEDIAGATE_S3_SECRET_KEY=" + bk.SecretKey, "MEDIAGATE_S3_PREFIX=" + s3Prefix},
		patch: addPresignLocation,
	})
	if err != nil {
		return nil, err
	}
	s := &s3Stack{stack: st, weed: weed, bucket: bk.Name, store: store}
	// The same bytes as the local stack's items (same generator), so the
	// static baseline sends the same object.
	if st.small.sha != local.small.sha || st.big.sha != local.big.sha {
		return nil, fmt.Errorf("the S3 stack's items are not the local stack's")
	}
	replay := map[string]http.Header{}
	for _, c := range []struct {
		it  served
		url *string
	}{{st.small, &s.smallURL}, {st.big, &s.bigURL}} {
		accel, h, err := s.appAccel(c.it)
		if err != nil {
			return nil, err
		}
		if *c.url, err = s.presigned(context.Background(), c.it, accel); err != nil {
			return nil, err
		}
		if err := sameRequest(c.it, accel, *c.url); err != nil {
			return nil, err
		}
		if err := check(st.base+*c.url, "", c.it); err != nil {
			return nil, fmt.Errorf("presigned %s: %w", c.it.filename, err)
		}
		h.Set("X-Accel-Redirect", s3store.AccelPrefix+strings.TrimPrefix(*c.url, presignPrefix))
		replay[c.it.smedia] = h
	}
	// The best the X-Accel design can do on S3: nginx in front of a handler
	// that answers what the app answers, from memory.
	stubAddr, err := startReplayStub(replay)
	if err != nil {
		return nil, err
	}
	if st.stubNginx, st.stubBase, err = st.startNginx("nginx-stub", stubAddr, nil); err != nil {
		return nil, err
	}
	for _, it := range []served{st.small, st.big} {
		if err := check(st.stubBase+it.smedia, "", it); err != nil {
			return nil, fmt.Errorf("stub %s: %w", it.filename, err)
		}
	}
	if s.smallHdrs, err = s.headerDiff(st.small, s.smallURL); err != nil {
		return nil, err
	}
	if s.bigHdrs, err = s.headerDiff(st.big, s.bigURL); err != nil {
		return nil, err
	}
	return s, nil
}

// appAccel returns the app's X-Accel-Redirect for a GET of it, asked of the
// app directly as nginx asks, and the answer's other headers.
func (s *s3Stack) appAccel(it served) (string, http.Header, error) {
	status, _, h, err := call(http.MethodGet, s.appBase+it.smedia, nil, -1, "Cookie", s.cookie, "X-Sendfile-Type", "X-Accel-Redirect")
	if err != nil {
		return "", nil, err
	}
	accel := h.Get("X-Accel-Redirect")
	if status != http.StatusOK || !strings.HasPrefix(accel, s3store.AccelPrefix) {
		return "", nil, fmt.Errorf("%s: the app answered %d, X-Accel-Redirect %q", it.filename, status, accel)
	}
	for _, k := range []string{"Date", "Content-Length"} {
		h.Del(k)
	}
	return accel, h, nil
}

// startReplayStub answers each path of byPath with its headers and an empty
// 200, and /healthz with 200, in this process.
func startReplayStub(byPath map[string]http.Header) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			for k, v := range byPath[r.URL.Path] {
				h[k] = v
			}
			w.WriteHeader(http.StatusOK)
		}),
	}
	go srv.Serve(ln)
	atExit(func() { srv.Close() })
	return ln.Addr().String(), nil
}

// presigned returns the /p/ URL of it: a GET presigned for presignedFor
// with the app's client settings, for the key and the response-* overrides
// the app's own X-Accel-Redirect accel carries, in the same mode.
func (s *s3Stack) presigned(ctx context.Context, it served, accel string) (string, error) {
	ap, aq, _ := strings.Cut(strings.TrimPrefix(accel, s3store.AccelPrefix), "?")
	av, err := url.ParseQuery(aq)
	if err != nil || len(ap) < 2 {
		return "", fmt.Errorf("%s: X-Accel-Redirect %q: %v", it.filename, accel, err)
	}
	key := s3Prefix + "blobs/" + it.sha
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}
	for k := range av {
		v := aws.String(av.Get(k))
		switch k {
		case "response-content-type":
			in.ResponseContentType = v
		case "response-content-disposition":
			in.ResponseContentDisposition = v
		case "response-cache-control":
			in.ResponseCacheControl = v
		case "response-content-encoding":
			in.ResponseContentEncoding = v
		case "response-content-language":
			in.ResponseContentLanguage = v
		default:
			if strings.HasPrefix(k, "response-") {
				return "", fmt.Errorf("%s: the app presigns %s, which the benchmark does not know", it.filename, k)
			}
		}
	}
	signed, err := s3.NewPresignClient(s.store.Client()).PresignGetObject(ctx, in,
		func(o *s3.PresignOptions) { o.Expires = presignedFor })
	if err != nil {
		return "", fmt.Errorf("presign %s: %w", it.filename, err)
	}
	u, err := url.Parse(signed.URL)
	if err != nil {
		return "", err
	}
	return presignPrefix + ap[:1] + u.EscapedPath() + "?" + u.RawQuery, nil
}

// sameRequest checks that the app's X-Accel-Redirect accel asks the engine
// for what the presigned URL p asks: the same mode, path and parameters but
// for the signature's time, lifetime and value.
func sameRequest(it served, accel, p string) error {
	ap, aq, _ := strings.Cut(strings.TrimPrefix(accel, s3store.AccelPrefix), "?")
	pp, pq, _ := strings.Cut(strings.TrimPrefix(p, presignPrefix), "?")
	if ap != pp || !strings.HasPrefix(ap, "w/") {
		return fmt.Errorf("%s: the app redirects to %q, the presigned URL is %q", it.filename, accel, p)
	}
	av, err1 := url.ParseQuery(aq)
	pv, err2 := url.ParseQuery(pq)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("%s: queries %q, %q: %v %v", it.filename, aq, pq, err1, err2)
	}
	for _, k := range []string{"X-Amz-Date", "X-Amz-Expires", "X-Amz-Signature", "x-id"} { // x-id: the SDK's own operation tag, not S3's
		av.Del(k)
		pv.Del(k)
	}
	// The credential names the signing day, which may differ at midnight.
	for _, v := range []url.Values{av, pv} {
		if c := v.Get("X-Amz-Credential"); c != "" {
			f := strings.Split(c, "/")
			if len(f) == 5 {
				f[1] = "DAY"
			}
			v.Set("X-Amz-Credential", strings.Join(f, "/"))
		}
	}
	if av.Encode() != pv.Encode() {
		return fmt.Errorf("%s: the app presigns %q, the benchmark %q", it.filename, av.Encode(), pv.Encode())
	}
	return nil
}

// headerDiff describes how the /smedia answer's header names differ from the
// presigned URL's, through the same nginx (the app adds its own).
func (s *s3Stack) headerDiff(it served, p string) (string, error) {
	_, _, hs, err := call(http.MethodGet, s.base+it.smedia, nil, -1, "Cookie", s.cookie)
	if err != nil {
		return "", err
	}
	_, _, hp, err := call(http.MethodGet, s.base+p, nil, -1)
	if err != nil {
		return "", err
	}
	var only []string
	for k := range hs {
		if _, ok := hp[k]; !ok {
			only = append(only, k)
		}
	}
	var missing []string
	for k := range hp {
		if _, ok := hs[k]; !ok {
			missing = append(missing, k)
		}
	}
	slices.Sort(only)
	slices.Sort(missing)
	return fmt.Sprintf("only in /smedia: %s; only in presigned: %s", strings.Join(only, ", "), strings.Join(missing, ", ")), nil
}

// addPresignLocation copies the rendered S3 accel location to presignPrefix,
// without "internal": the same proxying of a presigned URL, asked for
// directly instead of through the app's X-Accel-Redirect.
func addPresignLocation(conf string) (string, error) {
	const marker = `location ~ "^` + s3store.AccelPrefix
	start := strings.Index(conf, marker)
	if start < 0 || strings.Count(conf, marker) != 1 {
		return "", fmt.Errorf("nginx-config: no single S3 accel location (%q)", marker)
	}
	start = strings.LastIndexByte(conf[:start], '\n') + 1
	end, err := blockEnd(conf, start)
	if err != nil {
		return "", err
	}
	block := conf[start:end]
	cp := strings.Replace(block, marker, `location ~ "^`+presignPrefix, 1)
	lines := strings.SplitAfter(cp, "\n")
	kept := lines[:0]
	for _, l := range lines {
		if strings.TrimSpace(l) != "internal;" {
			kept = append(kept, l)
		}
	}
	if len(kept) != len(lines)-1 {
		return "", fmt.Errorf("nginx-config: the S3 accel location has no single internal directive:\n%s", block)
	}
	indent := block[:len(block)-len(strings.TrimLeft(block, " "))]
	cp = indent + "# Benchmark only: the location above, asked for directly.\n" + strings.Join(kept, "")
	return conf[:end] + "\n" + cp + conf[end:], nil
}

// blockEnd returns the index just after the "}" that closes the first "{" at
// or after start, skipping quoted strings and comments.
func blockEnd(conf string, start int) (int, error) {
	depth, quote, comment := 0, byte(0), false
	for i := start; i < len(conf); i++ {
		c := conf[i]
		switch {
		case comment:
			comment = c != '\n'
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#':
			comment = true
		case c == '{':
			depth++
		case c == '}':
			depth--
			if depth == 0 {
				return i + 1, nil
			}
		}
	}
	return 0, fmt.Errorf("nginx-config: unclosed block at %d", start)
}

// procs accounts both stacks (the static target is the local one's) and
// the engine.
func (s *s3Stack) procs(local *stack) map[string]func(int, int, string) bool {
	return mergeProcs(local.procs(), s.stack.procs(),
		map[string]func(int, int, string) bool{"weed": pidOrChildOf(s.weed.Pid)})
}

// rotated is sh with the targets' order rotating from round to round, so
// that neither S3 target always follows static nor always goes first: at
// 100 MiB the rounds scatter widely (their ratios from 0.73 to 1.49 in the
// runs of docs/benchmarks.md) and a fixed order would add its own bias.
func rotated(sh shape) shape {
	sh.rotate = true
	return sh
}

func (s *s3Stack) targets(local *stack, big, stub bool) []target {
	it, lit, p := s.small, local.small, s.smallURL
	if big {
		it, lit, p = s.big, local.big, s.bigURL
	}
	ts := []target{
		{name: "static", url: local.base + lit.public},
		{name: "smedia", url: s.base + it.smedia, header: []string{"Cookie: " + s.cookie}},
		{name: "presign", url: s.base + p},
	}
	if stub {
		ts = append(ts, target{name: "stub", url: s.stubBase + it.smedia})
	}
	return ts
}

// BenchmarkSmediaS3_1KB is BenchmarkSmedia1KB on S3 storage: /smedia (nginx
// -> app decides and presigns -> X-Accel-Redirect -> nginx proxies the
// presigned URL to SeaweedFS) against the ceiling of that path, nginx
// proxying a presigned URL of the same object with the same location
// settings and no app ("presign"), against nginx static from local disk (the
// local stack's /media/ URL of the same bytes), and against a second nginx
// in front of a stub that answers what the app answers, from memory ("stub":
// the best the X-Accel design can do): 64 connections, 3 interleaved rounds
// of 10 s. Target: smedia >= 0.9 of presign's requests/s.
func BenchmarkSmediaS3_1KB(b *testing.B) {
	measureOnce(b, func(b *testing.B) map[string]float64 {
		s := servingS3(b)
		local := serving(b)
		targets := s.targets(local, false, true)
		note(b, "headers: %s", s.smallHdrs)
		waitQuiet(b)
		m := load(b, rotated(smallLoad), targets, s.procs(local))
		cpuPerRequest(b, targets, m)
		static, smedia, presign := m["static"], m["smedia"], m["presign"]
		rps := func(r wrkResult) float64 { return r.RPS }
		perRound, median := roundRatios(smedia, presign, rps)
		_, staticMedian := roundRatios(smedia, static, rps)
		ratio := smedia.rps() / presign.rps()
		b.Logf("smedia/presign requests/s: %.3f (rounds %s, median %.3f; target >= 0.9: %s); smedia/static %.3f (median %.3f), presign/static %.3f",
			ratio, ratios(perRound), median, verdict(ratio >= 0.9), smedia.rps()/static.rps(), staticMedian, presign.rps()/static.rps())
		stub := m["stub"]
		b.Logf("stub/presign %.3f, smedia/stub %.3f; static %.0f req/s, smedia %.0f, presign %.0f, stub %.0f; p99 static %s, smedia %s, presign %s, stub %s",
			stub.rps()/presign.rps(), smedia.rps()/stub.rps(), static.rps(), smedia.rps(), presign.rps(), stub.rps(),
			round2(static.p99()), round2(smedia.p99()), round2(presign.p99()), round2(stub.p99()))
		out := s3ServingMetrics(targets, m, median, func(m *measurement) float64 { return m.rps() }, "req/s")
		out["stub/presign"] = stub.rps() / presign.rps()
		out["smedia/stub"] = smedia.rps() / stub.rps()
		out["stub-handler-cpu-us/req"] = us(stub.cpu["bench"]) / float64(stub.requests())
		return out
	})
}

// BenchmarkSmediaS3_100MB is BenchmarkSmedia100MB on S3 storage: a 100 MiB
// item through /smedia against the presigned ceiling and nginx static from
// local disk: 2 connections, 4 interleaved rounds of 8 s. Target: smedia >=
// 0.9 of presign's bytes/s.
func BenchmarkSmediaS3_100MB(b *testing.B) {
	measureOnce(b, func(b *testing.B) map[string]float64 {
		s := servingS3(b)
		local := serving(b)
		targets := s.targets(local, true, false)
		note(b, "headers: %s", s.bigHdrs)
		waitQuiet(b)
		m := load(b, rotated(bigLoad), targets, s.procs(local))
		cpuPerRequest(b, targets, m)
		static, smedia, presign := m["static"], m["smedia"], m["presign"]
		bps := func(r wrkResult) float64 { return r.BytesPerSec }
		perRound, median := roundRatios(smedia, presign, bps)
		_, staticMedian := roundRatios(smedia, static, bps)
		ratio := smedia.bytesPerSec() / presign.bytesPerSec()
		b.Logf("smedia/presign throughput: %.3f (rounds %s, median %.3f; target >= 0.9: %s); smedia/static %.3f (median %.3f), presign/static %.3f",
			ratio, ratios(perRound), median, verdict(ratio >= 0.9), smedia.bytesPerSec()/static.bytesPerSec(), staticMedian,
			presign.bytesPerSec()/static.bytesPerSec())
		b.Logf("static %.0f MiB/s, smedia %.0f MiB/s, presign %.0f MiB/s",
			static.bytesPerSec()/(1<<20), smedia.bytesPerSec()/(1<<20), presign.bytesPerSec()/(1<<20))
		return s3ServingMetrics(targets, m, median, func(m *measurement) float64 { return m.bytesPerSec() / (1 << 20) }, "MiB/s")
	})
}

// s3ServingMetrics are the reported figures of both S3 serving benchmarks;
// fig is the compared figure in unit.
func s3ServingMetrics(targets []target, m map[string]*measurement, median float64, fig func(*measurement) float64, unit string) map[string]float64 {
	static, smedia, presign := m["static"], m["smedia"], m["presign"]
	out := map[string]float64{
		"smedia/presign":        fig(smedia) / fig(presign),
		"smedia/presign-median": median,
		"smedia/static":         fig(smedia) / fig(static),
		"presign/static":        fig(presign) / fig(static),
		"smedia-p99-ms":         ms(smedia.p99()),
		"presign-p99-ms":        ms(presign.p99()),
	}
	other := 0.0
	for _, t := range targets {
		mt := m[t.name]
		out[t.name+"-"+unit] = fig(mt)
		other += mt.otherShare() / float64(len(targets))
	}
	for _, k := range []string{"app", "nginx", "weed"} {
		out["smedia-"+k+"-cpu-us/req"] = us(smedia.cpu[k]) / float64(smedia.requests())
		out["presign-"+k+"-cpu-us/req"] = us(presign.cpu[k]) / float64(presign.requests())
	}
	out["other-cpu-%"] = 100 * other
	return out
}

// The upload benchmark's sizes.
const (
	uploadSize         = 1 << 30
	uploadRounds       = 3
	uploadTimeout      = 5 * time.Minute
	maxUploadRSSGrowth = 32 << 20
	// uploadDiskNeed is the free space the benchmark wants in the temp dir:
	// the baseline's file, the spool files of both apps and, per round, both
	// objects in SeaweedFS (which reclaims deleted ones only when it
	// vacuums), with room to spare.
	uploadDiskNeed = (3+2*uploadRounds)*uploadSize + 2<<30
)

// BenchmarkUploadS3 uploads 1 GiB through POST /api/media (a raw body sent
// straight to the app, generated on the fly) on S3 storage, against the
// SDK's PutObject of the same bytes from a local file (the page cache) to
// the same engine with the app's client settings, and, for context, the same
// upload to the local stack (the spool and rename alone, no S3): 3 rounds,
// the order rotating, each with new content (identical content would be
// stored once and not put again). Targets: the app's throughput >= 0.8 of
// the SDK's, and the app's peak RSS (VmHWM) grows by less than 32 MiB.
func BenchmarkUploadS3(b *testing.B) {
	measureOnce(b, func(b *testing.B) map[string]float64 {
		s := servingS3(b)
		local := serving(b)
		free := freeDisk(b, s.root)
		if free < uploadDiskNeed {
			testenv.Missing(b, fmt.Sprintf("%.1f GiB free in %s, %d GiB needed", float64(free)/(1<<30), s.root, uploadDiskNeed>>30))
		}
		note(b, "%.1f GiB free in %s", float64(free)/(1<<30), s.root)
		procs := s.procs(local)
		waitQuiet(b)
		before := peakRSS(b, s.app.pid())
		kinds := []string{"app", "sdk", "local"}
		times := map[string][]time.Duration{}
		cpu := map[string]map[string]time.Duration{}
		for _, k := range kinds {
			cpu[k] = map[string]time.Duration{}
		}
		var other, wall time.Duration
		for round := 1; round <= uploadRounds; round++ {
			seed := [32]byte{'u', 'p', 'l', 'o', 'a', 'd', byte(round)}
			file := filepath.Join(s.root, "upload-"+strconv.Itoa(round)+".bin")
			if err := writeRandomFile(file, seed, uploadSize); err != nil {
				b.Fatal(err)
			}
			for i := range kinds {
				what := kinds[(i+round-1)%len(kinds)]
				quietBriefly()
				cpuBefore := map[string]time.Duration{}
				for k, f := range procs {
					cpuBefore[k] = cpuOf(f)
				}
				busy, start := machineBusy(), time.Now()
				var cleanup func() error
				var err error
				switch what {
				case "app":
					cleanup, err = s.stack.uploadRandom(seed, round)
				case "sdk":
					cleanup, err = s.putWithSDK(file, round)
				case "local":
					cleanup, err = local.uploadRandom(seed, round)
				}
				d := time.Since(start)
				if err != nil {
					b.Fatalf("round %d, %s: %v", round, what, err)
				}
				known := time.Duration(0)
				for k, f := range procs {
					c := cpuOf(f) - cpuBefore[k]
					cpu[what][k] += c
					known += c
				}
				other += max(0, machineBusy()-busy-known)
				wall += d
				times[what] = append(times[what], d)
				note(b, "round %d %-5s %d MiB in %s: %.0f MiB/s; S3 app VmHWM %d KiB", round, what, uploadSize>>20,
					round2(d), float64(uploadSize>>20)/d.Seconds(), peakRSS(b, s.app.pid())>>10)
				if err := cleanup(); err != nil {
					b.Fatalf("round %d, %s: removing the upload: %v", round, what, err)
				}
			}
			if err := os.Remove(file); err != nil {
				b.Fatal(err)
			}
		}
		after := peakRSS(b, s.app.pid())
		perRound := make([]float64, uploadRounds)
		for i := range perRound {
			perRound[i] = times["sdk"][i].Seconds() / times["app"][i].Seconds()
		}
		sorted := slices.Clone(perRound)
		slices.Sort(sorted)
		median := sorted[(len(sorted)-1)/2]
		mibps := func(ds []time.Duration) float64 {
			var sum float64
			for _, d := range ds {
				sum += float64(uploadSize>>20) / d.Seconds()
			}
			return sum / float64(len(ds))
		}
		mean := func(ds []time.Duration) time.Duration {
			var sum time.Duration
			for _, d := range ds {
				sum += d
			}
			return sum / time.Duration(len(ds))
		}
		app, sdk, loc := mibps(times["app"]), mibps(times["sdk"]), mibps(times["local"])
		ratio := app / sdk
		growth := after - before
		for _, what := range kinds {
			var parts []string
			for _, k := range []string{"app", "weed", "postgres", "bench"} {
				parts = append(parts, fmt.Sprintf("%s %.2fs", k, cpu[what][k].Seconds()/uploadRounds))
			}
			note(b, "CPU per GiB, %-5s %s", what, strings.Join(parts, ", "))
		}
		otherShare := other.Seconds() / (wall.Seconds() * float64(runtime.NumCPU()))
		note(b, "mean times: app %s, sdk %s, local %s (sdk + local = %.2f x app); other processes used %.0f%% of the machine meanwhile; %.1f GiB free at the end",
			round2(mean(times["app"])), round2(mean(times["sdk"])), round2(mean(times["local"])),
			(mean(times["sdk"])+mean(times["local"])).Seconds()/mean(times["app"]).Seconds(), 100*otherShare,
			float64(freeDisk(b, s.root))/(1<<30))
		b.Logf("app/sdk upload throughput: %.3f (rounds %s, median %.3f; target >= 0.8: %s); app %.0f MiB/s, sdk %.0f MiB/s, local (no S3) %.0f MiB/s",
			ratio, ratios(perRound), median, verdict(ratio >= 0.8), app, sdk, loc)
		b.Logf("app VmHWM %d KiB before, %d KiB after: grew %.1f MiB (target < %d MiB: %s)",
			before>>10, after>>10, float64(growth)/(1<<20), maxUploadRSSGrowth>>20, verdict(growth < maxUploadRSSGrowth))
		return map[string]float64{
			"app-MiB/s":           app,
			"sdk-MiB/s":           sdk,
			"local-MiB/s":         loc,
			"app/sdk":             ratio,
			"app/sdk-median":      median,
			"rss-growth-MiB":      float64(growth) / (1 << 20),
			"rss-growth/32MiB":    float64(growth) / maxUploadRSSGrowth,
			"app-cpu-s/GiB":       cpu["app"]["app"].Seconds() / uploadRounds,
			"local-app-cpu-s/GiB": cpu["local"]["app"].Seconds() / uploadRounds,
			"app-weed-cpu-s/GiB":  cpu["app"]["weed"].Seconds() / uploadRounds,
			"sdk-weed-cpu-s/GiB":  cpu["sdk"]["weed"].Seconds() / uploadRounds,
			"other-cpu-%":         100 * otherShare,
		}
	})
}

// uploadRandom sends uploadSize bytes from a ChaCha8 seeded with seed as a
// raw body straight to the stack's app, as the owner, and returns how to
// delete the item.
func (s *stack) uploadRandom(seed [32]byte, round int) (func() error, error) {
	body := io.LimitReader(rand.NewChaCha8(seed), uploadSize)
	ctx, cancel := context.WithTimeout(context.Background(), uploadTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.appBase+"/api/media?filename=upload-"+strconv.Itoa(round)+".bin", body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = uploadSize
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("upload: %s %s", resp.Status, msg)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/api/media/") {
		return nil, fmt.Errorf("upload: Location %q", loc)
	}
	return func() error {
		status, body, _, err := call(http.MethodDelete, s.appBase+loc, nil, -1, "Authorization", "Bearer "+s.token)
		if err == nil && status != http.StatusNoContent {
			err = fmt.Errorf("DELETE %s: %d %s", loc, status, body)
		}
		return err
	}, nil
}

// putWithSDK puts the file with the app's S3 client settings, as the app's
// store puts a blob (a file body of known length), under a key outside the
// app's prefix, and returns how to delete it.
func (s *s3Stack) putWithSDK(file string, round int) (func() error, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), uploadTimeout)
	defer cancel()
	key := "baseline/upload-" + strconv.Itoa(round) + ".bin"
	_, err = s.store.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: f,
		ContentLength: aws.Int64(uploadSize), ContentType: aws.String("application/octet-stream")})
	if err != nil {
		return nil, err
	}
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := s.store.Client().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key})
		return err
	}, nil
}

// writeRandomFile writes size bytes from a ChaCha8 seeded with seed to path
// and syncs it, so that the measurement that reads it finds it in the page
// cache with no writeback pending.
func writeRandomFile(path string, seed [32]byte, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	_, err = io.Copy(w, io.LimitReader(rand.NewChaCha8(seed), size))
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// quietBriefly waits, at most 20 s, until the machine's other processes
// use under a quarter of its CPUs over one second: the engine finishing a
// deletion, say, between two uploads.
func quietBriefly() {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		busy, mine, t := machineBusy(), cpuOf(self), time.Now()
		time.Sleep(time.Second)
		other := max(0, machineBusy()-busy-(cpuOf(self)-mine))
		if other.Seconds()/(time.Since(t).Seconds()*float64(runtime.NumCPU())) < 0.25 {
			return
		}
	}
}

// freeDisk returns the bytes available to this user on dir's file system.
func freeDisk(b *testing.B, dir string) int64 {
	b.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		b.Fatalf("statfs %s: %v", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// peakRSS returns the process's peak resident set size (VmHWM) in bytes.
func peakRSS(b *testing.B, pid int) int64 {
	b.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatalf("reading the server's memory figures: %v", err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				b.Fatalf("VmHWM line %q: %v", line, err)
			}
			return kb << 10
		}
	}
	b.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

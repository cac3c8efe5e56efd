package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// probe is one kind of request that fault tests send over and over, with
// what the access model says of it.
type probe struct {
	name string
	// call makes the request (afresh each time: a body is read once).
	call func() call
	// direct sends it to the app itself, announcing nginx
	// (X-Sendfile-Type), so that the app's own headers are seen.
	direct bool
	// allowed says whether the model allows the request when sent at the
	// given time.
	allowed func(sent time.Time) bool
	// either, when set, says whether a request in flight from sent to done
	// met a change of the model on its way, so that it may be answered
	// either way.
	either func(sent, done time.Time) bool
	// want is what an allowed answer carries (nil: not checked); a direct
	// one carries X-Accel-Redirect and no body instead.
	want []byte
	// ok is the status of an allowed answer.
	ok int
}

// outcome is what one request got.
type outcome struct {
	p      *probe
	sent   time.Time
	took   time.Duration
	status int // 0: no answer (err)
	err    error
	accel  bool // the answer carried X-Accel-Redirect
	body   []byte
}

// traffic sends probes from several workers until stopped, and keeps what
// they got.
type traffic struct {
	s       *suite
	probes  []*probe
	stopped chan struct{}
	wg      sync.WaitGroup
	next    atomic.Uint64

	mu       sync.Mutex
	outcomes []outcome
}

// startTraffic starts workers sending probes round-robin through the
// suite's nginx (or to the app, for direct probes).
func (s *suite) startTraffic(workers int, probes ...*probe) *traffic {
	tr := &traffic{s: s, probes: probes, stopped: make(chan struct{})}
	direct := *s
	direct.base = "http://" + s.appAddr
	direct.rec = nil
	for range workers {
		tr.wg.Go(func() {
			for {
				select {
				case <-tr.stopped:
					return
				default:
				}
				p := tr.probes[tr.next.Add(1)%uint64(len(tr.probes))]
				c := p.call()
				if c.timeout == 0 {
					// Past what a restarted engine takes to accept writes
					// again (SeaweedFS: some 11 s), which uploads wait for.
					c.timeout = 30 * time.Second
				}
				via := s
				if p.direct {
					via = &direct
					c.headers = append(c.headers, [2]string{"X-Sendfile-Type", "X-Accel-Redirect"})
				}
				o := outcome{p: p, sent: time.Now()}
				a, err := via.try(c)
				o.took = time.Since(o.sent)
				if err != nil {
					o.err = err
				} else {
					o.status, o.body, o.accel = a.Status, a.Body, a.Header.Get("X-Accel-Redirect") != ""
				}
				tr.mu.Lock()
				tr.outcomes = append(tr.outcomes, o)
				tr.mu.Unlock()
			}
		})
	}
	return tr
}

// stop ends the traffic and returns what it got.
func (tr *traffic) stop() []outcome {
	close(tr.stopped)
	tr.wg.Wait()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.outcomes
}

// since returns the outcomes of requests sent at or after t.
func (tr *traffic) since(t time.Time) []outcome {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []outcome
	for _, o := range tr.outcomes {
		if !o.sent.Before(t) {
			out = append(out, o)
		}
	}
	return out
}

// succeeded reports whether o is an allowed answer, right in every way.
func (o outcome) succeeded() bool {
	if o.status != o.p.ok {
		return false
	}
	if o.p.direct {
		return o.accel && len(o.body) == 0
	}
	return o.p.want == nil || bytes.Equal(o.body, o.p.want)
}

// checkModel fails t for any answer the model forbids: an allowed status
// for a request the model denies, an allowed answer with wrong bytes, an
// error that is not one of errStatuses or that carries X-Accel-Redirect or
// the file's bytes, and any request that got no answer at all.
func checkModel(t *testing.T, outcomes []outcome, errStatuses ...int) {
	t.Helper()
	bad := 0
	fail := func(o outcome, format string, args ...any) {
		bad++
		if bad <= 10 {
			t.Errorf("%s sent at %s: %s", o.p.name, o.sent.Format("15:04:05.000"), fmt.Sprintf(format, args...))
		}
	}
	for _, o := range outcomes {
		if o.p.either != nil && o.p.either(o.sent, o.sent.Add(o.took)) && o.err == nil && (o.status < 500 || containsInt(errStatuses, o.status)) {
			continue
		}
		switch {
		case o.err != nil:
			fail(o, "no answer: %v", o.err)
		case o.status == o.p.ok || o.status == http.StatusOK || o.status == http.StatusPartialContent || o.status == http.StatusCreated:
			if !o.p.allowed(o.sent) {
				fail(o, "allowed (%d) although the model denies it", o.status)
			} else if !o.succeeded() {
				fail(o, "answer %d with %d bytes (accel %v), not the file", o.status, len(o.body), o.accel)
			}
		case o.status >= 500:
			if !containsInt(errStatuses, o.status) {
				fail(o, "status %d, want one of %v", o.status, errStatuses)
			}
			if o.accel {
				fail(o, "error %d carries X-Accel-Redirect", o.status)
			}
			if len(o.p.want) > 0 && bytes.Contains(o.body, o.p.want[:min(len(o.p.want), 64)]) {
				fail(o, "error %d carries the file's bytes", o.status)
			}
		case o.p.allowed(o.sent) && o.status < 500:
			// Refused although allowed: only an outage may do that, and
			// then with an error status.
			fail(o, "refused with %d (%s) although the model allows it", o.status, trim(o.body))
		}
	}
	if bad > 10 {
		t.Errorf("... %d bad answers in all", bad)
	}
}

// tally counts outcomes by status, as "503:12 200:40", for the log.
func tally(outcomes []outcome) string {
	counts := map[string]int{}
	for _, o := range outcomes {
		k := fmt.Sprint(o.status)
		if o.err != nil {
			k = "no answer"
		}
		counts[k]++
	}
	var parts []string
	for k, n := range counts {
		parts = append(parts, fmt.Sprintf("%s:%d", k, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// count counts the outcomes with status.
func count(outcomes []outcome, status int) int {
	n := 0
	for _, o := range outcomes {
		if o.err == nil && o.status == status {
			n++
		}
	}
	return n
}

// waitRecovered polls until every probe the model allows has succeeded
// at least once with a request sent at or after from, and returns when the
// last of them first did; it fails t after timeout.
func (tr *traffic) waitRecovered(t *testing.T, from time.Time, timeout time.Duration) time.Time {
	t.Helper()
	var at time.Time
	ok := eventually(timeout, func() bool {
		first := map[*probe]time.Time{}
		for _, o := range tr.since(from) {
			if o.p.allowed(o.sent) && o.succeeded() {
				if _, seen := first[o.p]; !seen {
					first[o.p] = o.sent.Add(o.took)
				}
			}
		}
		at = time.Time{}
		for _, p := range tr.probes {
			if !p.allowed(time.Now()) {
				continue
			}
			f, seen := first[p]
			if !seen {
				return false
			}
			if f.After(at) {
				at = f
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("the allowed requests did not all succeed within %v: %s", timeout, tally(tr.since(from)))
	}
	return at
}

// recoveries says, per allowed probe, how long after from its first
// request sent then succeeded, as "owner GET 120ms, ...", for the log.
func recoveries(outcomes []outcome, from time.Time) string {
	first := map[string]time.Duration{}
	var names []string
	for _, o := range outcomes {
		if o.sent.Before(from) || !o.p.allowed(o.sent) || !o.succeeded() {
			continue
		}
		if _, seen := first[o.p.name]; !seen {
			first[o.p.name] = o.sent.Add(o.took).Sub(from)
			names = append(names, o.p.name)
		}
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %v", n, first[n].Round(time.Millisecond)))
	}
	return strings.Join(parts, ", ")
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func trim(b []byte) string {
	if len(b) > 120 {
		b = b[:120]
	}
	return string(b)
}

// always and never are probes' models that do not change.
func always(time.Time) bool { return true }
func never(time.Time) bool  { return false }

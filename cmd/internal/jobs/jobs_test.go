package jobs_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dgfip/apex-partenaires/cmd/internal/jobs"
	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
	"github.com/dgfip/apex-partenaires/directory/testkit"
)

func TestMain(m *testing.M) { slapdtest.Main(m) }

var ctx = context.Background()

// instances opens n stores on one fresh tree of the package's slapd, as n
// apexd on one directory, sharing a clock the test moves.
func instances(t *testing.T, n int) ([]*directory.Store, *testkit.Clock) {
	t.Helper()
	srv := slapdtest.Shared(t)
	cfg := slapdtest.StoreConfig(srv, slapdtest.NewBase(t, srv))
	clock := testkit.NewClock(time.Now())
	cfg.Now = clock.Now
	stores := make([]*directory.Store, n)
	for i := range stores {
		stores[i] = slapdtest.OpenStore(t, cfg)
	}
	return stores, clock
}

func scheduler(t *testing.T, store *directory.Store, lease time.Duration, list ...jobs.Job) *jobs.Scheduler {
	t.Helper()
	s, err := jobs.New(jobs.Config{Store: store, Jobs: list, Lease: lease, Tick: 20 * time.Millisecond,
		Log: slog.New(slog.NewJSONHandler(&testkit.LogBuffer{}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// runs reads apex_job_runs_total{job,outcome} of a scheduler's metrics.
func runs(s *jobs.Scheduler, job, outcome string) float64 {
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collectors()...)
	families, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, f := range families {
		if f.GetName() != "apex_job_runs_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["job"] == job && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

// Four schedulers on one directory, each running its due jobs at the same
// moment, again and again: each job runs once in its interval, whoever
// runs it, and not again before the interval has passed.
func TestEachJobRunsOnceAcrossInstances(t *testing.T) {
	t.Parallel()
	stores, clock := instances(t, 4)
	names := []string{"alpha", "beta", "gamma"}
	counts := map[string]*atomic.Int64{}
	var list []jobs.Job
	for _, n := range names {
		counts[n] = &atomic.Int64{}
		list = append(list, jobs.Job{Name: n, Interval: time.Hour, Run: func(context.Context, directory.Progress) (map[string]int, error) {
			counts[n].Add(1)
			time.Sleep(20 * time.Millisecond) // long enough for the others to try meanwhile
			return nil, nil
		}})
	}
	var scheds []*jobs.Scheduler
	for _, st := range stores {
		scheds = append(scheds, scheduler(t, st, time.Minute, list...))
	}
	round := func() {
		var wg sync.WaitGroup
		for range 3 {
			for _, s := range scheds {
				wg.Go(func() { s.RunDue(ctx) })
			}
		}
		wg.Wait()
	}
	round()
	clock.Add(59 * time.Minute)
	round()
	for _, n := range names {
		if got := counts[n].Load(); got != 1 {
			t.Errorf("%s ran %d times within its interval, want 1", n, got)
		}
	}
	clock.Add(time.Minute)
	round()
	for _, n := range names {
		total := 0.0
		for _, s := range scheds {
			total += runs(s, n, jobs.OutcomeSuccess)
		}
		if got := counts[n].Load(); got != 2 || total != 2 {
			t.Errorf("%s ran %d times in two intervals (%v successes counted), want 2", n, got, total)
		}
	}
}

// A holder that stops answering loses its lease: once it has expired,
// another instance takes the job over and resumes it from its cursor; the
// first one's run is stopped (its context done) at its next renewal.
func TestJobTakenOverWhenItsHolderIsGone(t *testing.T) {
	t.Parallel()
	stores, clock := instances(t, 2)
	started := make(chan struct{})
	stopped := make(chan error, 1)
	var seen []string
	var mu sync.Mutex
	job := func(block bool) jobs.Job {
		return jobs.Job{Name: "long", Interval: time.Hour, Run: func(ctx context.Context, p directory.Progress) (map[string]int, error) {
			mu.Lock()
			seen = append(seen, p.Cursor())
			mu.Unlock()
			if !block {
				return nil, p.SaveCursor(ctx, "done")
			}
			if err := p.SaveCursor(ctx, "half"); err != nil {
				return nil, err
			}
			close(started)
			<-ctx.Done() // stuck, until its lease is found lost
			stopped <- ctx.Err()
			return nil, ctx.Err()
		}}
	}
	a := scheduler(t, stores[0], 300*time.Millisecond, job(true))
	b := scheduler(t, stores[1], 300*time.Millisecond, job(false))
	outcome := make(chan map[string]string, 1)
	go func() { outcome <- a.RunDue(ctx) }()
	<-started
	if got := b.RunDue(ctx); len(got) != 0 {
		t.Fatalf("taken while held: %v", got)
	}
	clock.Add(2 * time.Second) // a's lease (stored to the second) is over: a is as good as gone
	if got := b.RunDue(ctx); got["long"] != jobs.OutcomeSuccess {
		t.Fatalf("taken over: %v", got)
	}
	select {
	case err := <-stopped:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the first run stopped with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first run was not stopped")
	}
	if got := <-outcome; got["long"] != jobs.OutcomeLost {
		t.Errorf("first holder's outcome: %v, want lost", got)
	}
	if strings.Join(seen, ",") != ",half" {
		t.Errorf("cursors seen by the runs: %q, want the second to resume from the first's", seen)
	}
	if st, _ := stores[0].JobStatus(ctx, "long"); st.Cursor != "done" || st.Holder != "" || st.LastSuccess.IsZero() {
		t.Errorf("status: %+v", st)
	}
}

// A run stopped by an error, or by apexd stopping, frees the lease: the
// job is due again at once, on any instance.
func TestFailedOrInterruptedRunIsDueAgain(t *testing.T) {
	t.Parallel()
	stores, _ := instances(t, 2)
	var fail atomic.Bool
	fail.Store(true)
	flaky := jobs.Job{Name: "flaky", Interval: time.Hour, Run: func(ctx context.Context, _ directory.Progress) (map[string]int, error) {
		if fail.Load() {
			return nil, errors.New("directory away")
		}
		return map[string]int{"done": 1}, nil
	}}
	a := scheduler(t, stores[0], time.Minute, flaky)
	b := scheduler(t, stores[1], time.Minute, flaky)
	if got := a.RunDue(ctx); got["flaky"] != jobs.OutcomeFailure {
		t.Fatalf("failing: %v", got)
	}
	fail.Store(false)
	if got := b.RunDue(ctx); got["flaky"] != jobs.OutcomeSuccess {
		t.Fatalf("after a failure: %v", got)
	}

	stuck := jobs.Job{Name: "stuck", Interval: time.Hour, Run: func(ctx context.Context, _ directory.Progress) (map[string]int, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	c := scheduler(t, stores[0], time.Minute, stuck)
	stopCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); c.Run(stopCtx) }()
	waitFor(t, func() bool { st, _ := stores[1].JobStatus(ctx, "stuck"); return st.Holder != "" })
	stop()
	<-done
	if got := runs(c, "stuck", jobs.OutcomeInterrupted); got != 1 {
		t.Errorf("interrupted runs: %v", got)
	}
	d := scheduler(t, stores[1], time.Minute, jobs.Job{Name: "stuck", Interval: time.Hour,
		Run: func(context.Context, directory.Progress) (map[string]int, error) { return nil, nil }})
	if got := d.RunDue(ctx); got["stuck"] != jobs.OutcomeSuccess {
		t.Errorf("after apexd stopped: %v, want taken at once", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

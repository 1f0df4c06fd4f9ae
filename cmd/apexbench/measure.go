package main

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// result is one side of a pair: how many operations in how long, and their latencies.
type result struct {
	ops     int
	errors  int
	elapsed time.Duration
	lat     []time.Duration
}

func (r result) throughput() float64 { return float64(r.ops) / r.elapsed.Seconds() }

func (r result) percentile(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), r.lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// run calls op from concurrency workers until d has passed or max
// operations were started (max <= 0: no bound), and times each call.
func run(concurrency int, d time.Duration, max int, op func(i int) error) result {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var next, errs atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if max > 0 && i >= max {
					break
				}
				t := time.Now()
				if err := op(i); err != nil {
					errs.Add(1)
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return result{ops: len(lat), errors: int(errs.Load()), elapsed: time.Since(start), lat: lat}
}

// rounds is how many turns each side of a pair takes: alternating short
// turns spreads the machine's noise over both sides alike.
const rounds = 4

// alternate measures a and b in turns of d/rounds each, as run does, with
// at most maxA and maxB operations in all (<= 0: no bound); the i given to
// each op counts across turns.
func alternate(concurrency int, d time.Duration, maxA, maxB int, a, b func(i int) error) (result, result) {
	var ra, rb result
	var na, nb atomic.Int64
	turn := func(r *result, n *atomic.Int64, max int, op func(int) error) {
		left := 0
		if max > 0 {
			if left = max - int(n.Load()); left <= 0 {
				return
			}
		}
		got := run(concurrency, d/rounds, left, func(int) error { return op(int(n.Add(1)) - 1) })
		r.ops += got.ops
		r.errors += got.errors
		r.elapsed += got.elapsed
		r.lat = append(r.lat, got.lat...)
	}
	for range rounds {
		turn(&ra, &na, maxA, a)
		turn(&rb, &nb, maxB, b)
	}
	return ra, rb
}

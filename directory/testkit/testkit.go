// Package testkit holds the small helpers that the tests of several
// packages share: a clock that a test moves, for StoreConfig.Now and
// whatever else takes a clock, and a log that goroutines write while a test
// reads it.
package testkit

import (
	"bytes"
	"sync"
	"time"
)

// Clock is an injected clock for expiry tests: it stands still until the
// test moves it.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock that reads t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// LogBuffer is a log's output (an io.Writer) that several goroutines write
// and a test reads.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// WrongCode returns a six-digit code that is not code.
func WrongCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

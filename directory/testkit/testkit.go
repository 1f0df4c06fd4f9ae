// Package testkit holds the small helpers that the tests of several
// packages share: a clock that a test moves, for StoreConfig.Now and
// whatever else takes a clock, and a log that goroutines write while a test
// reads it.
package testkit

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
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

// Holds reports whether secret appears in what was logged: in a value of a
// JSON line (a string, or a whole number), or anywhere in a line that is
// not JSON. Times and fractional numbers (durations) are left out, as a
// six-digit code stands in their digits now and then by chance.
func (b *LogBuffer) Holds(secret string) bool {
	for _, line := range strings.Split(b.String(), "\n") {
		var record map[string]any
		if err := json.Unmarshal([]byte(line), &record); err != nil {
			if strings.Contains(line, secret) {
				return true
			}
			continue
		}
		delete(record, "time")
		if holds(record, secret) {
			return true
		}
	}
	return false
}

func holds(v any, secret string) bool {
	switch v := v.(type) {
	case string:
		return strings.Contains(v, secret)
	case float64:
		return v == math.Trunc(v) && strings.Contains(strconv.FormatFloat(v, 'f', 0, 64), secret)
	case map[string]any:
		for key, x := range v {
			if strings.Contains(key, secret) || holds(x, secret) {
				return true
			}
		}
	case []any:
		for _, x := range v {
			if holds(x, secret) {
				return true
			}
		}
	}
	return false
}

// WrongCode returns a six-digit code that is not code.
func WrongCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

package core

import (
	"math"
	"sort"
	"sync"
	"time"
)

// MetricsWindow is how many recent messages a publisher's timing
// statistics cover.
const MetricsWindow = 100

// SourceMetrics is a snapshot of one source publisher's metrics. The
// durations describe how long each of the last DataPoints messages waited
// in the source queue before the publisher took it.
type SourceMetrics struct {
	ID         int64
	Count      uint64 // messages moved since the source was registered
	DataPoints int    // messages in the window, at most MetricsWindow
	Mean       time.Duration
	Median     time.Duration
	StdDev     time.Duration // population standard deviation
}

// metrics records a publisher's count and waiting times. Recording costs
// a lock and a store; the statistics are computed only on Snapshot.
type metrics struct {
	mu     sync.Mutex // guards every field below
	count  uint64
	window [MetricsWindow]int64 // nanoseconds, a ring of the latest waits
	next   int                  // index of the slot to write next
	filled int                  // slots holding data, at most MetricsWindow
}

func (m *metrics) record(wait int64) {
	m.mu.Lock()
	m.count++
	m.window[m.next] = wait
	m.next = (m.next + 1) % MetricsWindow
	if m.filled < MetricsWindow {
		m.filled++
	}
	m.mu.Unlock()
}

// recordBatch records the waits of a batch of messages taken at now.
func (m *metrics) recordBatch(now int64, batch []Message) {
	m.mu.Lock()
	for i := range batch {
		m.count++
		m.window[m.next] = now - batch[i].putAt
		m.next = (m.next + 1) % MetricsWindow
		if m.filled < MetricsWindow {
			m.filled++
		}
	}
	m.mu.Unlock()
}

func (m *metrics) snapshot(id int64) SourceMetrics {
	m.mu.Lock()
	s := SourceMetrics{ID: id, Count: m.count, DataPoints: m.filled}
	waits := make([]int64, m.filled)
	copy(waits, m.window[:m.filled])
	m.mu.Unlock()

	if len(waits) == 0 {
		return s
	}
	var sum float64
	for _, w := range waits {
		sum += float64(w)
	}
	mean := sum / float64(len(waits))
	var squares float64
	for _, w := range waits {
		d := float64(w) - mean
		squares += d * d
	}
	sort.Slice(waits, func(i, j int) bool { return waits[i] < waits[j] })
	half := len(waits) / 2
	median := float64(waits[half])
	if len(waits)%2 == 0 {
		median = (float64(waits[half-1]) + float64(waits[half])) / 2
	}
	s.Mean = time.Duration(mean)
	s.Median = time.Duration(median)
	s.StdDev = time.Duration(math.Sqrt(squares / float64(len(waits))))
	return s
}

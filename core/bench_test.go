package core

import (
	"fmt"
	"runtime"
	"testing"
)

// The throughput benchmarks move b.N messages from a producer goroutine to
// a consumer goroutine, through a link of engine queues or through a
// goroutine pumping between two buffered channels, the baseline. Each runs
// once per payload size. Payloads are shared, not copied, on both sides:
// a queue keeps the slice it is given, as a channel does.
//
// python/bench/run_all.py runs them for `make bench`:
//
//	go test -run '^$' -bench 'Link|ChannelPump' -count 3 ./core

// benchPayloadSizes are the payload sizes of every throughput benchmark,
// in bytes.
var benchPayloadSizes = []int{40, 4096}

// benchCapacity bounds the queues as the channel buffers are bounded, so
// a producer that runs ahead waits in both cases.
const benchCapacity = 1024

// benchBatch is how many messages one PutBatch or GetBatch call moves.
const benchBatch = 64

func forEachPayload(b *testing.B, run func(b *testing.B, payload []byte)) {
	for _, size := range benchPayloadSizes {
		payload := make([]byte, size)
		b.Run(fmt.Sprintf("payload=%d", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			run(b, payload)
		})
	}
}

// newBenchLink returns a link from a new bounded source to a new bounded
// destination, closed when the benchmark ends.
func newBenchLink(b *testing.B) (src, dst *Queue) {
	src, err := NewQueue(FIFO, benchCapacity)
	if err != nil {
		b.Fatal(err)
	}
	dst, err = NewQueue(FIFO, benchCapacity)
	if err != nil {
		b.Fatal(err)
	}
	link := NewLink("bench")
	b.Cleanup(link.Close)
	if _, err := link.Register(src, Source); err != nil {
		b.Fatal(err)
	}
	if _, err := link.Register(dst, Destination); err != nil {
		b.Fatal(err)
	}
	return src, dst
}

func BenchmarkLinkThroughput(b *testing.B) {
	forEachPayload(b, func(b *testing.B, payload []byte) {
		src, dst := newBenchLink(b)
		producerDone := make(chan error, 1)

		b.ResetTimer()
		go func() {
			for range b.N {
				if err := src.Put(Message{Kind: KindBytes, Payload: payload}, -1); err != nil {
					producerDone <- err
					return
				}
			}
			producerDone <- nil
		}()
		for range b.N {
			if _, err := dst.Get(-1); err != nil {
				b.Fatal(err)
			}
		}
		if err := <-producerDone; err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkLinkThroughputBatch(b *testing.B) {
	forEachPayload(b, func(b *testing.B, payload []byte) {
		src, dst := newBenchLink(b)
		producerDone := make(chan error, 1)

		b.ResetTimer()
		go func() {
			msgs := make([]Message, benchBatch)
			for i := range msgs {
				msgs[i] = Message{Kind: KindBytes, Payload: payload}
			}
			for sent := 0; sent < b.N; sent += benchBatch {
				if _, err := src.PutBatch(msgs[:min(benchBatch, b.N-sent)], -1); err != nil {
					producerDone <- err
					return
				}
			}
			producerDone <- nil
		}()
		got := make([]Message, 0, benchBatch)
		for received := 0; received < b.N; {
			var err error
			got, err = dst.GetBatch(got[:0], benchBatch, -1)
			if err != nil {
				b.Fatal(err)
			}
			received += len(got)
		}
		if err := <-producerDone; err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkChannelPump(b *testing.B) {
	forEachPayload(b, func(b *testing.B, payload []byte) {
		in := make(chan Message, benchCapacity)
		out := make(chan Message, benchCapacity)
		go func() {
			for m := range in {
				out <- m
			}
			close(out)
		}()

		b.ResetTimer()
		go func() {
			for range b.N {
				in <- Message{Kind: KindBytes, Payload: payload}
			}
			close(in)
		}()
		for range b.N {
			<-out
		}
	})
}

// The memory benchmarks hold memoryMessages messages of memoryPayloadSize
// bytes, each payload a separate allocation as a put through the C
// interface makes it, and report the live heap per message after a
// collection. Run them with -benchtime 1x: each iteration fills and
// measures once.
const (
	memoryMessages    = 1_000_000
	memoryPayloadSize = 100
)

// heapInUse returns the live heap in bytes after a full collection.
func heapInUse() int64 {
	runtime.GC()
	var stats runtime.MemStats
	runtime.ReadMemStats(&stats)
	return int64(stats.HeapAlloc)
}

func reportHeapPerMessage(b *testing.B, before, after int64) {
	b.ReportMetric(float64(after-before)/memoryMessages, "heap-B/msg")
}

func BenchmarkQueueMemory(b *testing.B) {
	for range b.N {
		before := heapInUse()
		q, err := NewQueue(FIFO, 0)
		if err != nil {
			b.Fatal(err)
		}
		for range memoryMessages {
			payload := make([]byte, memoryPayloadSize)
			if err := q.Put(Message{Kind: KindBytes, Payload: payload}, 0); err != nil {
				b.Fatal(err)
			}
		}
		after := heapInUse()
		reportHeapPerMessage(b, before, after)
		if q.Len() != memoryMessages {
			b.Fatalf("queue holds %d messages, expected %d", q.Len(), memoryMessages)
		}
		// Emptied now, the store is garbage at the next measurement. A
		// queue dropped unemptied keeps its store alive until its cleanup
		// has run, one collection later.
		q.Drain()
		q.Close()
	}
}

func BenchmarkChannelMemory(b *testing.B) {
	for range b.N {
		before := heapInUse()
		ch := make(chan Message, memoryMessages)
		for range memoryMessages {
			ch <- Message{Kind: KindBytes, Payload: make([]byte, memoryPayloadSize)}
		}
		after := heapInUse()
		reportHeapPerMessage(b, before, after)
		if len(ch) != memoryMessages {
			b.Fatalf("channel holds %d messages, expected %d", len(ch), memoryMessages)
		}
	}
}

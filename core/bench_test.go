package core

import (
	"testing"
)

// The benchmarks move b.N messages from a producer goroutine to a
// consumer goroutine, through a link of engine queues or through a
// goroutine pumping between two buffered channels, the baseline.

var benchPayload = make([]byte, 40)

// benchCapacity bounds the queues as the channel buffers are bounded, so
// a producer that runs ahead waits in both cases.
const benchCapacity = 1024

func BenchmarkLinkThroughput(b *testing.B) {
	src, _ := NewQueue(FIFO, benchCapacity)
	dst, _ := NewQueue(FIFO, benchCapacity)
	link := NewLink("bench")
	defer link.Close()
	if _, err := link.Register(src, Source); err != nil {
		b.Fatal(err)
	}
	if _, err := link.Register(dst, Destination); err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	go func() {
		for range b.N {
			_ = src.Put(Message{Kind: KindBytes, Payload: benchPayload}, -1)
		}
	}()
	for range b.N {
		if _, err := dst.Get(-1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLinkThroughputBatch(b *testing.B) {
	src, _ := NewQueue(FIFO, benchCapacity)
	dst, _ := NewQueue(FIFO, benchCapacity)
	link := NewLink("bench")
	defer link.Close()
	if _, err := link.Register(src, Source); err != nil {
		b.Fatal(err)
	}
	if _, err := link.Register(dst, Destination); err != nil {
		b.Fatal(err)
	}
	const batch = 64

	b.ResetTimer()
	go func() {
		msgs := make([]Message, batch)
		for i := range msgs {
			msgs[i] = Message{Kind: KindBytes, Payload: benchPayload}
		}
		for sent := 0; sent < b.N; sent += batch {
			_, _ = src.PutBatch(msgs[:min(batch, b.N-sent)], -1)
		}
	}()
	got := make([]Message, 0, batch)
	for received := 0; received < b.N; {
		var err error
		got, err = dst.GetBatch(got[:0], batch, -1)
		if err != nil {
			b.Fatal(err)
		}
		received += len(got)
	}
}

func BenchmarkChannelPump(b *testing.B) {
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
			in <- Message{Kind: KindBytes, Payload: benchPayload}
		}
		close(in)
	}()
	for range b.N {
		<-out
	}
}

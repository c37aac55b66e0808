package core

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readAllLines runs a reader with opts over input and returns the
// messages it put, in order.
func readAllLines(t *testing.T, input string, opts ReaderOptions) []Message {
	t.Helper()
	path := t.TempDir() + "/input"
	require.NoError(t, os.WriteFile(path, []byte(input), 0o600))
	q, err := NewQueue(FIFO, 0)
	require.NoError(t, err)
	r, err := OpenReader(q, path, opts)
	require.NoError(t, err)
	receive(t, r.Done(), "reader end")
	require.NoError(t, r.Err())

	var out []Message
	for q.Len() > 0 {
		m, err := q.Get(0)
		require.NoError(t, err)
		out = append(out, m)
	}
	return out
}

// payloadOf returns a message's payload, read from its spill file if it
// has one.
func payloadOf(t *testing.T, m Message) string {
	t.Helper()
	if !m.Spilled() {
		return string(m.Payload)
	}
	data, err := os.ReadFile(m.SpillPath())
	require.NoError(t, err)
	return string(data)
}

func spillCount(t *testing.T, dir string) int {
	t.Helper()
	files, err := SpillFiles(dir)
	require.NoError(t, err)
	return len(files)
}

func TestReaderWrapRules(t *testing.T) {
	const threshold = 30
	// "é" is two bytes in UTF-8, so these lines are counted in bytes.
	under := strings.Repeat("é", 14) + "\n" // 29 bytes
	at := strings.Repeat("é", 14) + "x\n"   // 30 bytes
	over := strings.Repeat("é", 15) + "\n"  // 31 bytes

	cases := []struct {
		name    string
		wrap    WrapWhen
		wrapped []bool
		spilled []bool
	}{
		{"never", WrapNever, []bool{false, false, false}, []bool{false, false, false}},
		{"auto wraps and spills over the threshold", WrapAuto, []bool{false, false, true}, []bool{false, false, true}},
		{"always wraps, spills at the threshold", WrapAlways, []bool{true, true, true}, []bool{false, true, true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			msgs := readAllLines(t, under+at+over, ReaderOptions{
				Kind: KindText, Wrap: tc.wrap, WrapThreshold: threshold, SpillDir: dir,
			})
			require.Len(t, msgs, 3)
			for i, want := range []string{under, at, over} {
				assert.Equal(t, tc.wrapped[i], msgs[i].Flags&FlagWrapped != 0, "line %d wrapped", i)
				assert.Equal(t, tc.spilled[i], msgs[i].Spilled(), "line %d spilled", i)
				assert.Equal(t, want, payloadOf(t, msgs[i]), "line %d payload", i)
				assert.Equal(t, KindText, msgs[i].Kind)
			}
			for _, m := range msgs {
				Discard(m)
			}
			assert.Zero(t, spillCount(t, dir), "spill files left after every message was discarded")
		})
	}
}

func TestReaderSpillsLongLineAsItArrives(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("0123456789", 300_000) + "\n" // 3 MB, many read buffers
	msgs := readAllLines(t, "short\n"+long+"tail", ReaderOptions{
		Kind: KindBytes, Wrap: WrapAuto, SpillDir: dir,
	})
	require.Len(t, msgs, 3)
	assert.False(t, msgs[0].Spilled())
	require.True(t, msgs[1].Spilled())
	assert.Equal(t, long, payloadOf(t, msgs[1]))
	assert.Equal(t, "tail", payloadOf(t, msgs[2]))
	assert.Equal(t, 1, spillCount(t, dir))
	Discard(msgs[1])
	assert.Zero(t, spillCount(t, dir))
}

func TestReaderRejectsBadWrapOptions(t *testing.T) {
	q, err := NewQueue(FIFO, 0)
	require.NoError(t, err)
	_, err = OpenReader(q, os.DevNull, ReaderOptions{Kind: KindText, Wrap: 9})
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = OpenReader(q, os.DevNull, ReaderOptions{Kind: KindText, Wrap: WrapAuto, WrapThreshold: -1})
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestLinkFansOutSpilledMessage(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	src, err := NewQueue(FIFO, 0)
	require.NoError(t, err)
	dests := make([]*Queue, 3)
	link := NewLink("spill fan-out")
	defer link.Close()
	_, err = link.Register(src, Source)
	require.NoError(t, err)
	for i := range dests {
		dests[i], err = NewQueue(FIFO, 0)
		require.NoError(t, err)
		_, err = link.Register(dests[i], Destination)
		require.NoError(t, err)
	}

	content := strings.Repeat("x", 50_000) + "\n"
	path := dir + "/input"
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	r, err := OpenReader(src, path, ReaderOptions{Kind: KindText, Wrap: WrapAuto, SpillDir: dir})
	require.NoError(t, err)
	receive(t, r.Done(), "reader end")

	paths := map[string]bool{}
	for i, d := range dests {
		m, err := d.Get(testTimeout)
		require.NoError(t, err, "destination %d", i)
		require.True(t, m.Spilled(), "destination %d", i)
		assert.Equal(t, content, payloadOf(t, m), "destination %d", i)
		paths[m.SpillPath()] = true
	}
	assert.Len(t, paths, 3, "each destination owns its own spill file")
	waitUntil(t, testTimeout, "the source's own file is removed", func() bool {
		return spillCount(t, dir) == 3
	})
	for p := range paths {
		Discard(Message{Flags: FlagSpilled, Payload: []byte(p)})
	}
	assert.Zero(t, spillCount(t, dir))
}

func TestWriterWritesSpilledMessageAndRemovesFile(t *testing.T) {
	dir := t.TempDir()
	content := strings.Repeat("abc", 10_000) + "\n"
	msgs := readAllLines(t, "first\n"+content, ReaderOptions{Kind: KindText, Wrap: WrapAlways, WrapThreshold: 100, SpillDir: dir})
	require.Len(t, msgs, 2)
	require.True(t, msgs[1].Spilled())

	q, err := NewQueue(FIFO, 0)
	require.NoError(t, err)
	for _, m := range msgs {
		require.NoError(t, q.Put(m, 0))
	}
	q.Close()
	out := dir + "/out"
	w, err := OpenWriter(q, out, WriterOptions{})
	require.NoError(t, err)
	receive(t, w.Done(), "writer end")
	require.NoError(t, w.Err())

	data, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, "first\n"+content, string(data))
	assert.Zero(t, spillCount(t, dir))
}

func TestQueueDrainRemovesSpillFiles(t *testing.T) {
	dir := t.TempDir()
	msgs := readAllLines(t, strings.Repeat("y", 100)+"\nsmall\n", ReaderOptions{Kind: KindBytes, Wrap: WrapAuto, WrapThreshold: 10, SpillDir: dir})
	q, err := NewQueue(LIFO, 0)
	require.NoError(t, err)
	for _, m := range msgs {
		require.NoError(t, q.Put(m, 0))
	}
	assert.Equal(t, 1, spillCount(t, dir))
	assert.Equal(t, 2, q.Drain())
	assert.Zero(t, spillCount(t, dir))
	assert.True(t, q.Closed())
}

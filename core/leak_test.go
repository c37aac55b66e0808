package core

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openDescriptors counts the process's open file descriptors.
func openDescriptors(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(entries)
}

// TestNoLeaksAfterClose runs a reader, a link with a fan-out, a writer and
// spilled lines, closes everything, and checks that no goroutine, file
// descriptor or spill file is left.
func TestNoLeaksAfterClose(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	input := filepath.Join(dir, "input")
	output := filepath.Join(dir, "output")
	content := "short\n" + strings.Repeat("long line ", 3000) + "\nlast"
	require.NoError(t, os.WriteFile(input, []byte(content), 0o600))
	fdsBefore := openDescriptors(t)

	lines := newQueue(t, FIFO, 0)
	toFile := newQueue(t, FIFO, 0)
	toConsumer := newQueue(t, FIFO, 0)
	l := NewLink("leaks")
	register(t, l, lines, Source)
	register(t, l, toFile, Destination)
	register(t, l, toConsumer, Destination)
	w, err := OpenWriter(toFile, output, WriterOptions{})
	require.NoError(t, err)
	r, err := OpenReader(lines, input, ReaderOptions{Kind: KindText, Wrap: WrapAuto, SpillDir: dir})
	require.NoError(t, err)

	receive(t, r.Done(), "reader end")
	require.NoError(t, r.Err())
	waitUntil(t, testTimeout, "the writer wrote every line", func() bool { return w.Count() == 3 })
	got := drainMessages(toConsumer)
	require.Len(t, got, 3)
	for _, m := range got {
		Discard(m) // the consumer is done with each message
	}

	w.Stop()
	l.Close()
	r.Stop()
	data, err := os.ReadFile(output)
	require.NoError(t, err)
	assert.Equal(t, content, string(data))

	left, err := SpillFiles(dir)
	require.NoError(t, err)
	assert.Empty(t, left, "spill files")
	waitUntil(t, testTimeout, "descriptors return to their count before the test",
		func() bool { return openDescriptors(t) <= fdsBefore })
}

// TestDrainedQueueLeavesNoSpillFiles drops a queue holding spilled
// messages and checks that Drain removes their files at once.
func TestDrainedQueueLeavesNoSpillFiles(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "input")
	require.NoError(t, os.WriteFile(input, []byte(strings.Repeat("x", 100)+"\n"+strings.Repeat("y", 100)+"\n"), 0o600))
	q := newQueue(t, FIFO, 0)
	r, err := OpenReader(q, input, ReaderOptions{Kind: KindBytes, Wrap: WrapAuto, WrapThreshold: 10, SpillDir: dir})
	require.NoError(t, err)
	receive(t, r.Done(), "reader end")
	files, err := SpillFiles(dir)
	require.NoError(t, err)
	require.Len(t, files, 2)

	assert.Equal(t, 2, q.Drain())
	files, err = SpillFiles(dir)
	require.NoError(t, err)
	assert.Empty(t, files)
}

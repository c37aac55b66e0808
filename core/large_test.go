//go:build !race

// These tests move large volumes; the race detector would slow them by an
// order of magnitude, so they run in the plain (non-race) pass of make test.

package core

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReaderHundredMegabyteLine(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	line := bytes.Repeat([]byte("0123456789abcdef"), 100<<20/16)
	line = append(line, '\n')
	input := filepath.Join(dir, "input")
	require.NoError(t, os.WriteFile(input, append(line, "tail"...), 0o600))

	for _, wrap := range []WrapWhen{WrapNever, WrapAuto} {
		t.Run("wrap "+strconv.Itoa(int(wrap)), func(t *testing.T) {
			q := newQueue(t, FIFO, 0)
			r, err := OpenReader(q, input, ReaderOptions{Kind: KindBytes, Wrap: wrap, SpillDir: dir})
			require.NoError(t, err)
			receive(t, r.Done(), "reader end")
			require.NoError(t, r.Err())

			msgs := drainMessages(q)
			require.Len(t, msgs, 2)
			got := msgs[0].Payload
			if msgs[0].Spilled() {
				got, err = os.ReadFile(msgs[0].SpillPath())
				require.NoError(t, err)
				Discard(msgs[0])
			}
			assert.Equal(t, len(line), len(got))
			assert.Equal(t, sha256.Sum256(line), sha256.Sum256(got))
			assert.Equal(t, "tail", string(msgs[1].Payload))
		})
	}
}

func TestReaderMillionTinyLines(t *testing.T) {
	checkGoroutines(t)
	const lines = 1_000_000
	var input bytes.Buffer
	for i := range lines {
		input.WriteString(strconv.Itoa(i % 10))
		input.WriteByte('\n')
	}
	path := filepath.Join(t.TempDir(), "input")
	require.NoError(t, os.WriteFile(path, input.Bytes(), 0o600))

	q := newQueue(t, FIFO, 0)
	r, err := OpenReader(q, path, ReaderOptions{Kind: KindText})
	require.NoError(t, err)

	count := 0
	var got []Message
	for count < lines {
		got, err = q.GetBatch(got[:0], 4096, testTimeout)
		require.NoError(t, err)
		for _, m := range got {
			require.Equal(t, strconv.Itoa(count%10)+"\n", string(m.Payload), "line %d", count)
			count++
		}
	}
	receive(t, r.Done(), "reader end")
	assert.Equal(t, uint64(lines), r.Count())
	assert.Equal(t, 0, q.Len())
}

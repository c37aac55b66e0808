package main

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/queuelink/queuelink/core"
)

// These tests keep the hand-written public header and this package in
// step: the same constants, the same functions, the same struct layouts.

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data)
}

func headerDefines(t *testing.T, header string) map[string]int {
	t.Helper()
	defines := map[string]int{}
	re := regexp.MustCompile(`(?m)^#define (QL_[A-Z0-9_]+) (-?\d+)`)
	for _, m := range re.FindAllStringSubmatch(header, -1) {
		v, err := strconv.Atoi(m[2])
		require.NoError(t, err)
		defines[m[1]] = v
	}
	return defines
}

func TestHeaderConstantsMatchEngine(t *testing.T) {
	defines := headerDefines(t, readFile(t, "../include/queuelink.h"))
	want := map[string]int{
		"QL_VERSION_MAJOR":      versionMajor,
		"QL_VERSION_MINOR":      versionMinor,
		"QL_VERSION_PATCH":      versionPatch,
		"QL_OK":                 statusOK,
		"QL_ERR_INVALID":        statusInvalid,
		"QL_ERR_HANDLE":         statusHandle,
		"QL_ERR_CLOSED":         statusClosed,
		"QL_ERR_EMPTY":          statusEmpty,
		"QL_ERR_FULL":           statusFull,
		"QL_ERR_TIMEOUT":        statusTimeout,
		"QL_ERR_EXISTS":         statusExists,
		"QL_ERR_NOT_FOUND":      statusNotFound,
		"QL_ERR_IO":             statusIO,
		"QL_ERR_STATE":          statusState,
		"QL_ERR_INTERNAL":       statusInternal,
		"QL_ERR_SPACE":          statusSpace,
		"QL_PACKED_FLAGS_SHIFT": packedFlagsShift,
		"QL_KIND_TEXT":          int(core.KindText),
		"QL_KIND_BYTES":         int(core.KindBytes),
		"QL_KIND_PICKLE":        int(core.KindPickle),
		"QL_ORDER_FIFO":         int(core.FIFO),
		"QL_ORDER_LIFO":         int(core.LIFO),
		"QL_ORDER_PRIORITY":     int(core.Priority),
		"QL_SOURCE":             int(core.Source),
		"QL_DESTINATION":        int(core.Destination),
		"QL_WRITE_TRUNCATE":     writeTruncate,
		"QL_WRITE_APPEND":       writeAppend,
		"QL_MSG_WRAPPED":        int(msgWrapped),
		"QL_MSG_SPILLED":        int(msgSpilled),
		"QL_FRAME_LINES":        int(frameLines),
		"QL_FRAME_CONNECTION":   int(frameConnection),
		"QL_WRAP_NEVER":         int(wrapNever),
		"QL_WRAP_AUTO":          int(wrapAuto),
		"QL_WRAP_ALWAYS":        int(wrapAlways),
		"QL_LOG_DEBUG":          logDebug,
		"QL_LOG_INFO":           logInfo,
		"QL_LOG_WARNING":        logWarning,
		"QL_LOG_ERROR":          logError,
	}
	for name, value := range want {
		got, ok := defines[name]
		if assert.Truef(t, ok, "%s is missing from include/queuelink.h", name) {
			assert.Equalf(t, value, got, "%s in include/queuelink.h", name)
		}
	}
	for name := range defines {
		_, ok := want[name]
		assert.Truef(t, ok, "%s in include/queuelink.h has no counterpart checked here", name)
	}
}

func TestStatusNamesCoverEveryCode(t *testing.T) {
	names := map[string]int{}
	for code := statusOK; code <= statusLast; code++ {
		name := statusName(code)
		assert.NotEqualf(t, "unknown status", name, "status %d has no name", code)
		names[name] = code
	}
	assert.Len(t, names, statusLast+1, "two status codes share a name")
	assert.Equal(t, "unknown status", statusName(statusLast+1))
	assert.Equal(t, "unknown status", statusName(-1))
}

func TestHeaderDeclaresEveryExport(t *testing.T) {
	header := readFile(t, "../include/queuelink.h")
	declared := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^[a-z][a-z0-9_ ]*\*?\s*\*?(ql_[a-z0-9_]+)\(`).FindAllStringSubmatch(header, -1) {
		declared[m[1]] = true
	}

	exported := map[string]bool{}
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	for _, file := range files {
		for _, m := range regexp.MustCompile(`(?m)^//export (ql_[a-z0-9_]+)$`).FindAllStringSubmatch(readFile(t, file), -1) {
			exported[m[1]] = true
		}
	}

	require.NotEmpty(t, declared)
	assert.Equal(t, sortedKeys(declared), sortedKeys(exported),
		"functions declared in include/queuelink.h and exported by capi differ")
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// structFields returns the field declarations of a typedef'd struct, with
// comments and spacing removed.
func structFields(t *testing.T, source, name string) []string {
	t.Helper()
	re := regexp.MustCompile(`(?s)typedef struct ` + name + ` \{(.*?)\} ` + name + `;`)
	m := re.FindStringSubmatch(source)
	require.NotNilf(t, m, "struct %s not found", name)
	body := regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(m[1], "")
	var fields []string
	for _, line := range strings.Split(body, ";") {
		line = strings.Join(strings.Fields(line), " ")
		if line != "" {
			fields = append(fields, line)
		}
	}
	return fields
}

func TestStructLayoutsMatchHeader(t *testing.T) {
	public := readFile(t, "../include/queuelink.h")
	internal := readFile(t, "capi.h")
	for _, name := range []string{"ql_msg", "ql_source_metrics", "ql_reader_options"} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, structFields(t, public, name), structFields(t, internal, name))
		})
	}
}

package hlc

import (
	"testing"
	"time"
)

func TestPackOrder(t *testing.T) {
	a := New(1000, 65535)
	b := New(1001, 0)
	if !(a < b) {
		t.Fatalf("%v should order before %v", a, b)
	}
	if a.UnixMilli() != 1000 || a.Counter() != 65535 {
		t.Fatalf("unpack: %d %d", a.UnixMilli(), a.Counter())
	}
	if a+1 != b {
		t.Fatalf("counter overflow must carry into the physical part")
	}
}

func TestFromTime(t *testing.T) {
	tm := time.Date(2026, 11, 21, 12, 0, 0, 123_456_789, time.UTC)
	ts := FromTime(tm)
	if got, want := ts.Time(), tm.Truncate(time.Millisecond); !got.Equal(want) {
		t.Fatalf("got %v want %v", got, want)
	}
	if got, want := New(ts.UnixMilli(), 7).String(), "2026-11-21T12:00:00.123Z+7"; got != want {
		t.Fatalf("String: got %q want %q", got, want)
	}
}

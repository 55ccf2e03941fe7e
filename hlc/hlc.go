// Package hlc defines trigsync's hybrid logical clock stamp: 48 bits of Unix
// milliseconds and a 16-bit counter packed into one integer that orders like
// the pair (milliseconds, counter).
package hlc

import (
	"fmt"
	"strconv"
	"time"
)

// CounterBits is the width of the logical counter.
const CounterBits = 16

// Timestamp is an HLC stamp: physical<<16 | counter.
type Timestamp uint64

// New packs a wall-clock millisecond value and a counter.
func New(unixMilli int64, counter uint16) Timestamp {
	return Timestamp(uint64(unixMilli)<<CounterBits | uint64(counter))
}

// FromTime returns the first stamp of the millisecond t falls in.
func FromTime(t time.Time) Timestamp { return New(t.UnixMilli(), 0) }

// UnixMilli is the physical part.
func (t Timestamp) UnixMilli() int64 { return int64(t >> CounterBits) }

// Counter is the logical part.
func (t Timestamp) Counter() uint16 { return uint16(t) }

// Time is the physical part as a time.Time in UTC.
func (t Timestamp) Time() time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

// String formats the stamp as RFC 3339 time with milliseconds, then the counter.
func (t Timestamp) String() string {
	return fmt.Sprintf("%s+%d", t.Time().Format("2006-01-02T15:04:05.000Z07:00"), t.Counter())
}

// MarshalText writes the stamp as its decimal integer, which JSON carries as
// a string: stamps exceed the 53 bits a JSON number holds exactly everywhere.
func (t Timestamp) MarshalText() ([]byte, error) { return strconv.AppendUint(nil, uint64(t), 10), nil }

// UnmarshalText reads what MarshalText wrote.
func (t *Timestamp) UnmarshalText(b []byte) error {
	u, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("hlc stamp %.30q: want a decimal 64-bit integer", b)
	}
	*t = Timestamp(u)
	return nil
}

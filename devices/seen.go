package devices

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
)

// SeenEvery is how often at most a device's last_seen is written.
const SeenEvery = time.Minute

// maxVersion bounds the version text kept of a client.
const maxVersion = 200

// Seen gathers in memory when devices were seen, so that a hub writes
// last_seen at most once a minute per device, many devices in one
// transaction, instead of once per request. Its zero value is ready.
type Seen struct {
	mu      sync.Mutex
	written map[string]seen // what was last recorded (or is pending) per device
	pending map[string]seen // not written yet
}

type seen struct {
	at      int64 // Unix ms
	version string
}

// Note records that device name made a request at now, with the client
// version it sent, unless it was noted with that version within SeenEvery.
func (s *Seen) Note(name, version string, now time.Time) {
	if len(version) > maxVersion {
		version = version[:maxVersion]
	}
	v := seen{now.UnixMilli(), version}
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.written[name]; ok && w.version == version && v.at-w.at < SeenEvery.Milliseconds() {
		return
	}
	if s.written == nil {
		s.written, s.pending = map[string]seen{}, map[string]seen{}
	}
	s.written[name], s.pending[name] = v, v
}

// Flush writes what was noted since the last flush, in one transaction;
// nothing when nothing was. What it could not write is kept for the next.
func (s *Seen) Flush(ctx context.Context, db *sqlx.DB) error {
	s.mu.Lock()
	batch := s.pending
	s.pending = map[string]seen{}
	s.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := write(ctx, db, batch)
	if err != nil {
		s.mu.Lock()
		for name, v := range batch {
			if _, newer := s.pending[name]; !newer {
				s.pending[name] = v
			}
		}
		s.mu.Unlock()
	}
	return err
}

func write(ctx context.Context, db *sqlx.DB, batch map[string]seen) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record devices seen: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PreparexContext(ctx, `UPDATE `+Table+` SET last_seen = max(ifnull(last_seen, 0), ?),
		version = nullif(?, '') WHERE name = ?`)
	if err != nil {
		return fmt.Errorf("record devices seen: %w", err)
	}
	defer stmt.Close()
	for name, v := range batch {
		if _, err := stmt.ExecContext(ctx, v.at, v.version, name); err != nil {
			return fmt.Errorf("record device %s seen: %w", name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record devices seen: %w", err)
	}
	return nil
}

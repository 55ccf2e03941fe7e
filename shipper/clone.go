package shipper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/internal/sqlitedb"
	"github.com/trigsync/trigsync/peers"
)

// Cloned says what Clone made.
type Cloned struct {
	Bytes    int64  // the snapshot's size
	NodeID   string // the new node's id
	Through  int64  // the peer's log was in the snapshot through this seq
	CaughtUp Summary
}

// Clone makes a new node at path, which must not exist, from the peer's
// consistent snapshot: it gives the copy a node id of its own, records
// that it holds the peer's log through the snapshot, and then syncs with
// the peer to catch up with what was written meanwhile. progress, when
// not nil, is told the snapshot's size and then every byte written.
func Clone(ctx context.Context, peer *Remote, path string, progress func(size int64) io.Writer, opts applier.Options) (Cloned, error) {
	var c Cloned
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return c, fmt.Errorf("clone into %s: the file exists; clone makes a new database", path)
	}
	tmp := path + ".clone"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return c, fmt.Errorf("clone: %w", err)
	}
	defer os.Remove(tmp) // gone after the rename, unless something failed
	var w io.Writer = f
	c.Bytes, err = peer.Snapshot(ctx, writerFunc(func(b []byte) (int, error) { return w.Write(b) }), func(size int64) {
		if progress != nil {
			w = io.MultiWriter(f, progress(size))
		}
	})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return c, fmt.Errorf("clone into %s: %w", tmp, err)
	}
	srcID, err := peer.NodeID(ctx)
	if err != nil {
		return c, err
	}
	if c.NodeID, c.Through, err = adopt(ctx, tmp, srcID, peer.URL()); err != nil {
		return c, fmt.Errorf("clone: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return c, fmt.Errorf("clone: %w", err)
	}
	db, err := sqlitedb.Open(ctx, path)
	if err != nil {
		return c, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `PRAGMA journal_mode=WAL`); err != nil {
		return c, fmt.Errorf("clone: WAL mode: %w", err)
	}
	c.CaughtUp, err = SyncRemote(ctx, db, peer, opts)
	return c, err
}

// adopt turns the snapshot at path, taken from node src, into a node of
// its own: it checks the file, drops the log rows src had not stamped yet
// (they reach the copy again, stamped, when it catches up), gives it a
// node id, and records that it holds src's log through the snapshot.
func adopt(ctx context.Context, path, src, url string) (id string, through int64, err error) {
	db, err := sqlitedb.Open(ctx, path)
	if err != nil {
		return "", 0, err
	}
	defer db.Close()
	var check string
	if err := db.GetContext(ctx, &check, `PRAGMA quick_check`); err != nil || check != "ok" {
		return "", 0, fmt.Errorf("the snapshot is damaged: %s %v", check, err)
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return "", 0, err
	}
	defer tx.Rollback()
	if got, err := changelog.NodeID(ctx, tx); err != nil || got != src {
		return "", 0, fmt.Errorf("the snapshot has node id %q, the peer says it is %s (%v)", got, src, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM `+changelog.LogTable+` WHERE seq > (SELECT stamped_seq FROM `+changelog.ClockTable+`)`); err != nil {
		return "", 0, fmt.Errorf("drop unstamped log rows: %w", err)
	}
	if err := tx.GetContext(ctx, &through, `SELECT stamped_seq FROM `+changelog.ClockTable); err != nil {
		return "", 0, err
	}
	if _, id, err = changelog.ResetNodeID(ctx, tx); err != nil {
		return "", 0, err
	}
	if err := peers.Cloned(ctx, tx, src, url, through); err != nil {
		return "", 0, err
	}
	return id, through, tx.Commit()
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

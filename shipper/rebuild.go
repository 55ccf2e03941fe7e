package shipper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/internal/sqlitedb"
	"github.com/trigsync/trigsync/schema"
)

// ErrUnsent means a rebuild found changes in this node that the peer's
// snapshot lacks (written after the push that went before it): nothing
// was replaced, and the next push sends them.
var ErrUnsent = errors.New("this node holds changes the peer's snapshot lacks")

// Rebuilt says what a rebuild did.
type Rebuilt struct {
	PrunedThrough int64  // the peer's log was pruned through this seq, past this node's cursor
	Pushed        int    // the changes the push before the rebuild had the peer apply
	Bytes         int64  // the snapshot's size
	Rows          int64  // rows of the replicated tables in the rebuilt database
	Through       int64  // the snapshot held the peer's log through this seq
	OldNodeID     string // this node's id before: its changes keep it as their origin
	NodeID        string // its id since
	Backup        string // the database as it was before, kept beside it
}

func (r Rebuilt) String() string {
	return fmt.Sprintf("this node was away past the peer's log horizon (pruned through seq %d): pushed its %d unsent changes, "+
		"rebuilt from the peer's snapshot (%d rows, the peer's log through seq %d), node id %s (was %s); the old file is kept at %s",
		r.PrunedThrough, r.Pushed, r.Rows, r.Through, r.NodeID, r.OldNodeID, r.Backup)
}

// restorer is what modernc.org/sqlite's connection offers for SQLite's
// online backup API, run into it.
type restorer interface {
	NewRestore(src string) (*sqlite.Backup, error)
}

// Rebuild replaces the content of local, the database at path, by the
// peer's consistent snapshot, for a node that lacks history the peer
// pruned (docs/PROTOCOL.md, "Pruned history"). The snapshot is made a node
// of its own as Clone makes it (a new node id; the peer's log through the
// snapshot held), and is then written into the live database through
// SQLite's backup API, in one transaction of it: connections the
// application holds open see the old content or the new, and the file
// keeps its inode; a database not in WAL mode is put in it first. While
// that transaction holds the write lock, before a
// page is written, Rebuild checks that the snapshot has every change
// local holds, of every origin, its own included (ErrUnsent otherwise,
// with nothing changed), and copies the old content to a file beside it
// (Rebuilt.Backup).
func Rebuild(ctx context.Context, local *sqlx.DB, path string, peer *Remote, prunedThrough int64) (Rebuilt, error) {
	r := Rebuilt{PrunedThrough: prunedThrough}
	var err error
	if r.OldNodeID, err = changelog.NodeID(ctx, local); err != nil {
		return r, err
	}
	tmp := path + ".rebuild"
	os.Remove(tmp) // what a rebuild that died left
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return r, fmt.Errorf("rebuild: %w", err)
	}
	defer os.Remove(tmp)
	r.Bytes, err = peer.Snapshot(ctx, f, nil)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return r, fmt.Errorf("rebuild: snapshot into %s: %w", tmp, err)
	}
	srcID, err := peer.NodeID(ctx)
	if err != nil {
		return r, err
	}
	if r.NodeID, r.Through, err = adopt(ctx, tmp, srcID, peer.URL()); err != nil {
		return r, fmt.Errorf("rebuild: %w", err)
	}
	has, err := snapshotHas(ctx, tmp, srcID, r.Through, &r.Rows)
	if err != nil {
		return r, err
	}
	if err := wal(ctx, local, path); err != nil {
		return r, err
	}
	r.Backup = fmt.Sprintf("%s.pre-rebuild-%s", path, time.Now().UTC().Format("20060102T150405Z"))
	conn, err := local.Conn(ctx)
	if err != nil {
		return r, fmt.Errorf("rebuild: %w", err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		rs, ok := dc.(restorer)
		if !ok {
			return fmt.Errorf("rebuild: the SQLite driver offers no backup API (%T)", dc)
		}
		b, err := rs.NewRestore(tmp)
		if err != nil {
			return fmt.Errorf("rebuild: read the snapshot %s: %w", tmp, err)
		}
		finished := false
		defer func() {
			if !finished {
				b.Finish()
			}
		}()
		// A step of no pages takes the write lock of the live database and
		// keeps it until the restore ends: no change is written meanwhile.
		if _, err := b.Step(0); err != nil {
			return fmt.Errorf("rebuild: lock %s: %w", path, err)
		}
		if err := holds(ctx, local, r.OldNodeID, has); err != nil {
			return err
		}
		if err := keep(ctx, local, r.Backup); err != nil {
			return err
		}
		if more, err := b.Step(-1); err != nil || more {
			return fmt.Errorf("rebuild: write the snapshot into %s (nothing changed): %v", path, err)
		}
		finished = true
		if err := b.Finish(); err != nil {
			return fmt.Errorf("rebuild: finish writing %s: %w", path, err)
		}
		return nil
	})
	return r, err
}

// wal puts local in WAL mode, unless it is already: while the restore
// holds the write lock, other connections must still read it (in a
// rollback journal, the lock the backup API takes keeps readers out).
func wal(ctx context.Context, local *sqlx.DB, path string) error {
	var mode string
	if err := local.GetContext(ctx, &mode, `PRAGMA journal_mode=WAL`); err != nil || mode != "wal" {
		return fmt.Errorf("rebuild: %s must be in WAL mode (PRAGMA journal_mode=WAL; it is %q): %v", path, mode, err)
	}
	return nil
}

// snapshotHas reads the version vector of the adopted snapshot at path,
// made from node src's log through seq through, and the rows of its
// replicated tables.
func snapshotHas(ctx context.Context, path, src string, through int64, rows *int64) (map[string]int64, error) {
	db, err := sqlitedb.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	has, err := applier.VersionVector(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("rebuild: the snapshot: %w", err)
	}
	has[src] = max(has[src], through) // src's own seqs are its log's
	tables, err := changelog.ActiveDescriptions(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("rebuild: the snapshot: %w", err)
	}
	for name := range tables {
		var n int64
		if err := db.GetContext(ctx, &n, `SELECT count(*) FROM `+schema.Quote(name)); err != nil {
			return nil, fmt.Errorf("rebuild: count the rows of %s: %w", schema.Quote(name), err)
		}
		*rows += n
	}
	return has, nil
}

// holds checks that the version vector has covers every change local
// holds: its own (node id self: its log rows without an origin, written
// or not yet stamped) and every other origin's.
func holds(ctx context.Context, local *sqlx.DB, self string, has map[string]int64) error {
	vv, err := applier.VersionVector(ctx, local)
	if err != nil {
		return err
	}
	var own int64
	if err := local.GetContext(ctx, &own, `SELECT ifnull(max(seq), 0) FROM `+changelog.LogTable+` WHERE origin IS NULL`); err != nil {
		return fmt.Errorf("rebuild: read this node's own changes: %w", err)
	}
	vv[self] = own
	origins := make([]string, 0, len(vv))
	for o := range vv {
		origins = append(origins, o)
	}
	sort.Strings(origins)
	for _, o := range origins {
		if vv[o] > has[o] {
			return fmt.Errorf("%w: changes of node %s through seq %d, the snapshot through %d; nothing was replaced",
				ErrUnsent, o, vv[o], has[o])
		}
	}
	return nil
}

// keep copies the database as it is to path, a new file, and syncs it.
func keep(ctx context.Context, db *sqlx.DB, path string) error {
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("rebuild: keep the old database at %s: %w", path, err)
	}
	f, err := os.Open(path)
	if err == nil {
		err = f.Sync()
		f.Close()
	}
	if err != nil {
		return fmt.Errorf("rebuild: keep the old database at %s: %w", path, err)
	}
	return nil
}

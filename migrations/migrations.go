// Package migrations creates trigsync's own tables and upgrades them in place.
//
// Each step is frozen once released: a later layout is a new step, never an
// edit of an old one, so that any older install upgrades by running the steps
// it lacks. The last step applied is kept in _trigsync_meta as
// metadata_version.
package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// steps[i] upgrades metadata version i to i+1.
var steps = [...]string{
	// 1: the first layout (docs/FORMAT.md, format 1).
	`CREATE TABLE _trigsync_meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
	CREATE TABLE _trigsync_clock(
		id INTEGER PRIMARY KEY CHECK (id = 0),
		hlc INTEGER NOT NULL DEFAULT 0,
		stamped_seq INTEGER NOT NULL DEFAULT 0,
		epoch INTEGER NOT NULL DEFAULT 0,
		applying INTEGER NOT NULL DEFAULT 0);
	INSERT INTO _trigsync_clock(id) VALUES (0);
	CREATE TABLE _trigsync_nodes(ref INTEGER PRIMARY KEY, node_id TEXT NOT NULL UNIQUE);
	CREATE TABLE _trigsync_tables(
		id INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		columns TEXT NOT NULL,
		fingerprint TEXT NOT NULL,
		active INTEGER NOT NULL DEFAULT 1);
	CREATE TABLE _trigsync_changelog(
		seq INTEGER PRIMARY KEY,
		hlc INTEGER,
		epoch INTEGER,
		tbl INTEGER,
		op TEXT,
		origin INTEGER,
		origin_seq INTEGER);
	INSERT INTO _trigsync_meta(key, value) VALUES ('format', 1);`,

	// 2: merge state (docs/MERGE.md) and each change's incarnation.
	`CREATE TABLE _trigsync_rows(
		tbl TEXT NOT NULL,
		pk TEXT NOT NULL,
		inc_hlc INTEGER NOT NULL,
		inc_node INTEGER NOT NULL,
		tomb_hlc INTEGER,
		tomb_node INTEGER,
		PRIMARY KEY (tbl, pk)) WITHOUT ROWID;
	CREATE TABLE _trigsync_cells(
		tbl TEXT NOT NULL,
		pk TEXT NOT NULL,
		col TEXT NOT NULL,
		hlc INTEGER NOT NULL,
		node INTEGER NOT NULL,
		PRIMARY KEY (tbl, pk, col)) WITHOUT ROWID;
	CREATE TABLE _trigsync_origins(
		node INTEGER PRIMARY KEY,
		seq INTEGER NOT NULL);
	CREATE TABLE _trigsync_peers(
		node INTEGER PRIMARY KEY,
		pulled_seq INTEGER NOT NULL DEFAULT 0);
	CREATE TABLE _trigsync_conflicts(
		id INTEGER PRIMARY KEY,
		kind TEXT NOT NULL,
		at TEXT NOT NULL,
		tbl TEXT NOT NULL,
		pk TEXT NOT NULL,
		change TEXT NOT NULL,
		error TEXT NOT NULL,
		resolved TEXT);
	CREATE INDEX _trigsync_conflicts_open ON _trigsync_conflicts(tbl, pk) WHERE resolved IS NULL;
	ALTER TABLE _trigsync_changelog ADD COLUMN inc_hlc INTEGER;
	ALTER TABLE _trigsync_changelog ADD COLUMN inc_node INTEGER;
	INSERT INTO _trigsync_meta(key, value) VALUES ('integrated_seq', 0);`,
	// 3: what each peer acknowledged and when it was last reached (status,
	// metrics, log GC), and what log GC removed (docs/PROTOCOL.md, "Pruned
	// history").
	`ALTER TABLE _trigsync_peers ADD COLUMN acked_seq INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE _trigsync_peers ADD COLUMN url TEXT;
	ALTER TABLE _trigsync_peers ADD COLUMN last_success INTEGER;
	ALTER TABLE _trigsync_peers ADD COLUMN last_error TEXT;
	ALTER TABLE _trigsync_peers ADD COLUMN last_error_at INTEGER;
	CREATE TABLE _trigsync_pruned(
		node INTEGER PRIMARY KEY,
		seq INTEGER NOT NULL);
	INSERT INTO _trigsync_meta(key, value) VALUES ('pruned_seq', 0);`,
	// 4: replicated schema changes (docs/MIGRATIONS.md): the schema
	// versions applied, and the version each table description belongs to.
	`CREATE TABLE _trigsync_schema(
		version INTEGER PRIMARY KEY,
		hlc INTEGER NOT NULL,
		node TEXT NOT NULL,
		sql TEXT NOT NULL,
		checksum TEXT NOT NULL);
	ALTER TABLE _trigsync_tables ADD COLUMN schema_version INTEGER NOT NULL DEFAULT 0;`,
	// 5: restored nodes (docs/PROTOCOL.md, "Restored nodes"): the stamp of
	// the peer's log row a cursor points at, and of each origin's last
	// change applied, so that a peer's log or a node's own history that
	// went backwards is detected instead of trusted; the forks of healed
	// nodes. Counter columns (docs/MERGE.md, "Counter columns"): the
	// columns install --counter and migrate declared, by table;
	// descriptions mark them ("counter": true) and the log carries their
	// deltas as op A rows, which a trigsync of metadata 4 must not read.
	`ALTER TABLE _trigsync_peers ADD COLUMN pulled_hlc INTEGER;
	ALTER TABLE _trigsync_origins ADD COLUMN hlc INTEGER;
	CREATE TABLE _trigsync_forks(
		node TEXT PRIMARY KEY,
		seq INTEGER NOT NULL,
		hlc INTEGER NOT NULL,
		successor TEXT NOT NULL);
	INSERT INTO _trigsync_meta(key, value) VALUES ('counters', '{}');`,
	// 6: per-device credentials of a hub (package devices, docs/PROTOCOL.md,
	// "Authentication"): the SHA-256 of each device's token, never the
	// token; the node id it is bound to (NULL until its first request);
	// whether it may relay changes of other origins; times in Unix ms.
	`CREATE TABLE _trigsync_devices(
		name TEXT PRIMARY KEY,
		token_hash BLOB NOT NULL UNIQUE,
		node TEXT,
		hub INTEGER NOT NULL DEFAULT 0,
		created_at INTEGER NOT NULL,
		revoked_at INTEGER,
		last_seen INTEGER,
		version TEXT);`,
}

// Latest is the metadata version this build of trigsync writes.
const Latest = len(steps)

// ErrTooNew means the database was installed by a newer trigsync.
var ErrTooNew = errors.New("metadata is newer than this trigsync")

// Version returns the metadata version of the database: 0 when trigsync was
// never installed.
func Version(ctx context.Context, q sqlx.QueryerContext) (int, error) {
	var n int
	err := sqlx.GetContext(ctx, q, &n,
		`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '_trigsync_meta'`)
	if err != nil || n == 0 {
		return 0, wrap(err)
	}
	var v int
	err = sqlx.GetContext(ctx, q, &v, `SELECT value FROM _trigsync_meta WHERE key = 'metadata_version'`)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errors.New("read metadata version: _trigsync_meta has no metadata_version")
	}
	return v, wrap(err)
}

// Migrate brings trigsync's tables to Latest inside tx and returns the
// version found before.
func Migrate(ctx context.Context, tx *sqlx.Tx) (from int, err error) {
	from, err = Version(ctx, tx)
	if err != nil {
		return 0, err
	}
	if from > Latest {
		return from, fmt.Errorf("%w: the database has metadata version %d, this trigsync knows up to %d; use a newer trigsync", ErrTooNew, from, Latest)
	}
	for v := from; v < Latest; v++ {
		if _, err := tx.ExecContext(ctx, steps[v]); err != nil {
			return from, fmt.Errorf("migrate metadata to version %d: %w", v+1, err)
		}
	}
	if from != Latest {
		_, err = tx.ExecContext(ctx,
			`INSERT OR REPLACE INTO _trigsync_meta(key, value) VALUES ('metadata_version', ?)`, Latest)
		if err != nil {
			return from, fmt.Errorf("record metadata version: %w", err)
		}
	}
	return from, nil
}

func wrap(err error) error {
	if err != nil {
		return fmt.Errorf("read metadata version: %w", err)
	}
	return nil
}

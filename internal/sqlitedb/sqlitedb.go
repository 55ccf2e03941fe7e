// Package sqlitedb opens SQLite databases the way every trigsync command
// needs them: an existing file, one connection, a busy timeout, and write
// transactions that take the write lock when they begin.
package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"

	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // the pure-Go driver, registered as "sqlite"
)

// BusyTimeoutMillis is how long a statement waits for another writer.
const BusyTimeoutMillis = 10_000

// MaxConns is the size of a database's connection pool.
const MaxConns = 4

// Open opens the existing database file at path. It refuses to create a
// file: a mistyped path is an error, not a new empty database.
func Open(ctx context.Context, path string) (*sqlx.DB, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("database %s does not exist", path)
		}
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	return open(ctx, path, "rw")
}

// OpenReadOnly opens the existing database file at path for reading only
// (SQLite's mode=ro): nothing through it can write the file.
func OpenReadOnly(ctx context.Context, path string) (*sqlx.DB, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("database %s does not exist", path)
		}
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	return open(ctx, path, "ro")
}

// Create opens the database at path, creating an empty one if it is missing.
func Create(ctx context.Context, path string) (*sqlx.DB, error) {
	return open(ctx, path, "rwc")
}

// openCaching opens dsn through modernc.org/sqlite with connections that
// keep their prepared statements (conn).
func openCaching(dsn string) (*sqlx.DB, error) {
	probe, err := sql.Open("sqlite", "") // connects to nothing: it names the driver
	if err != nil {
		return nil, err
	}
	drv := probe.Driver()
	probe.Close()
	return sqlx.NewDb(sql.OpenDB(connector{drv: drv, dsn: dsn}), "sqlite"), nil
}

func open(ctx context.Context, path, mode string) (*sqlx.DB, error) {
	u := url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath()}
	q := url.Values{}
	q.Set("mode", mode)
	q.Set("_txlock", "immediate")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeoutMillis))
	u.RawQuery = q.Encode()
	db, err := openCaching(u.String())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// A few connections: a node serving peers reads its log for one peer
	// while applying another's push (in WAL mode readers do not wait for
	// the writer), and SQLite's write lock, with the busy timeout, orders
	// the writers. Connection-level settings that matter to a transaction
	// (PRAGMA foreign_keys) are set on that transaction's own connection.
	db.SetMaxOpenConns(MaxConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// Write runs f in a write transaction of db (BEGIN IMMEDIATE) and commits
// it; an error from f rolls it back.
func Write(ctx context.Context, db *sqlx.DB, f func(*sqlx.Tx) error) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// Package shipper moves changes between nodes: it reads what a peer lacks
// from a node's log, in chunks of bounded size, and streams them into the
// peer's applier, committing only where an epoch ends so that every source
// transaction applies atomically. Pull works between two databases the
// process can open; the HTTP transport sends the same chunks.
package shipper

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/hlc"
	"github.com/trigsync/trigsync/internal/sqlitedb"
	"github.com/trigsync/trigsync/peers"
	"github.com/trigsync/trigsync/schema"
	"github.com/trigsync/trigsync/triggers"
)

// DefaultChunkRows is how many log rows are read and held at once; a
// destination transaction commits at the first epoch boundary after that
// many rows.
const DefaultChunkRows = 1000

// Prepare stamps src's log and integrates its own changes (in a write
// transaction of src), so that its rows can be read and shipped.
func Prepare(ctx context.Context, src *sqlx.DB) error {
	err := sqlitedb.Write(ctx, src, func(tx *sqlx.Tx) error { return applier.Integrate(ctx, tx, nil) })
	if err != nil {
		return fmt.Errorf("prepare the log: %w", err)
	}
	return nil
}

// PrepareWithin is Prepare for a node answering peers: it waits at most
// wait for the write lock, and reports false, having done nothing, when it
// did not get it; what is stamped already can still be read. It reads the
// schema through cache (nil: none). also, when
// not nil, runs in the same transaction. Waiting the full busy timeout
// there could deadlock two nodes that pull from each other at once, each
// holding its write lock while it applies a chunk of a long epoch.
func PrepareWithin(ctx context.Context, src *sqlx.DB, wait time.Duration, cache *schema.Cache, also func(*sqlx.Tx) error) (bool, error) {
	conn, err := src.Connx(ctx)
	if err != nil {
		return false, fmt.Errorf("prepare the log: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA busy_timeout = %d`, wait.Milliseconds())); err != nil {
		return false, fmt.Errorf("prepare the log: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`PRAGMA busy_timeout = %d`, sqlitedb.BusyTimeoutMillis))
	tx, err := conn.BeginTxx(ctx, nil)
	if isBusy(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("prepare the log: %w", err)
	}
	defer tx.Rollback()
	if err := applier.Integrate(ctx, tx, cache); err != nil {
		return false, err
	}
	if also != nil {
		if err := also(tx); err != nil {
			return false, err
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("prepare the log: %w", err)
	}
	return true, nil
}

// isBusy reports whether err is SQLite's SQLITE_BUSY: another writer.
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// Source is a log to pull from: a database file, or a peer over HTTP.
type Source interface {
	// NodeID is the source's node id.
	NodeID(ctx context.Context) (string, error)
	// ReadChunk returns up to limit rows of the log after seq `after`,
	// leaving out the changes of node peer, which has committed the log
	// through seq acked (an acknowledgement: after may be further, when
	// the reader reads ahead). The first call of a pull may stamp and
	// integrate the source's log first.
	ReadChunk(ctx context.Context, peer string, after, acked int64, limit int) (Chunk, error)
}

// File is a Source reading a database the process opened.
type File struct {
	DB       *sqlx.DB
	prepared bool
	acked    int64 // the reader's last acknowledgement recorded
}

var _ Source = (*File)(nil)

// NodeID returns the database's node id.
func (f *File) NodeID(ctx context.Context) (string, error) { return changelog.NodeID(ctx, f.DB) }

// ReadChunk prepares the log once, then reads it, and records the
// reader's acknowledgements.
func (f *File) ReadChunk(ctx context.Context, peer string, after, acked int64, limit int) (Chunk, error) {
	if !f.prepared {
		if err := shippable(ctx, f.DB); err != nil {
			return Chunk{Through: after}, err
		}
		if err := Prepare(ctx, f.DB); err != nil {
			return Chunk{Through: after}, err
		}
		f.prepared = true
	}
	ch, err := ReadChunk(ctx, f.DB, peer, after, limit)
	if err == nil && acked > f.acked {
		err = peers.Acked(ctx, f.DB, peer, acked)
		f.acked = acked
	}
	if err == nil && ch.Through == after {
		err = peers.Succeeded(ctx, f.DB, peer, "", time.Now())
	}
	return ch, err
}

// Chunk is a run of a log read for a peer.
type Chunk struct {
	Changes    []changelog.Change `json:"changes"`               // what the peer lacks: never its own changes
	Through    int64              `json:"through"`               // the log was read up to this seq
	ThroughHLC hlc.Timestamp      `json:"through_hlc,omitempty"` // the stamp of the row there, when the read moved
	EpochEnd   bool               `json:"epoch_end"`             // Through ends an epoch: a commit may follow
}

// shippable checks, once per exchange, that no replicated table changed by
// hand: such a table may have writes its triggers miss, and a node ships
// nothing rather than part of them. (Reading the schema costs about a
// millisecond: not once per chunk.)
func shippable(ctx context.Context, db *sqlx.DB) error {
	return triggers.CheckDrift(ctx, db)
}

// ErrRecloneNeeded means a node lacks changes a peer has pruned from its
// log: only a new copy (trigsync clone) brings it back in step.
var ErrRecloneNeeded = errors.New("re-clone needed")

// ErrPeerRefused means the peer refused the exchange for a reason a retry
// does not mend (409: its schema changed by hand, or a schema conflict);
// the error carries the peer's explanation.
var ErrPeerRefused = errors.New("the peer refused the exchange")

// PrunedError answers a read of pruned history: the log is pruned through
// seq Through, and Vector holds, per origin, the last change pruned. A
// reader whose version vector covers Vector lacks none of it and may go
// on from Through.
type PrunedError struct {
	Through int64            `json:"pruned_through"`
	Vector  map[string]int64 `json:"pruned"`
}

// silent wraps an error for errors.As without adding to the message.
type silent struct{ err error }

func (s silent) Error() string { return "" }
func (s silent) Unwrap() error { return s.err }

func (e *PrunedError) Error() string {
	return fmt.Sprintf("the log is pruned through seq %d", e.Through)
}

// ReadChunk reads up to limit rows of src's log after seq `after` for peer.
// Reading pruned history fails with a *PrunedError.
func ReadChunk(ctx context.Context, src *sqlx.DB, peer string, after int64, limit int) (Chunk, error) {
	tx, err := src.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true}) // a deferred BEGIN: writers go on
	if err != nil {
		return Chunk{Through: after}, fmt.Errorf("read changes: %w", err)
	}
	defer tx.Rollback()
	return ReadChunkTx(ctx, tx, nil, peer, after, limit)
}

// ReadChunkTx is ReadChunk in a read transaction of the caller's, decoding
// through readers (nil: none).
func ReadChunkTx(ctx context.Context, tx *sqlx.Tx, readers *changelog.ReaderCache, peer string, after int64, limit int) (Chunk, error) {
	ch := Chunk{Through: after}
	pruned, err := applier.PrunedThrough(ctx, tx)
	if err != nil {
		return ch, err
	}
	if after < pruned {
		v, err := applier.PrunedVector(ctx, tx)
		if err != nil {
			return ch, err
		}
		return ch, &PrunedError{Through: pruned, Vector: v}
	}
	integrated, err := applier.IntegratedThrough(ctx, tx)
	if err != nil {
		return ch, err
	}
	// The peer's own changes are never sent back: skip a run of them in
	// SQL rather than decode and drop each (after a big push, the
	// receiver's log is mostly the pusher's).
	var next sql.NullInt64
	if err := tx.GetContext(ctx, &next, `SELECT min(seq) FROM `+changelog.LogTable+`
		WHERE seq > ? AND seq <= ? AND origin IS NOT ifnull((SELECT ref FROM _trigsync_nodes WHERE node_id = ?), -1)`,
		after, integrated, peer); err != nil {
		return ch, fmt.Errorf("read changes: %w", err)
	}
	if !next.Valid { // nothing but the peer's own changes through integrated
		ch.Through, ch.EpochEnd = max(after, integrated), true
		if ch.Through > after {
			if err := tx.GetContext(ctx, &ch.ThroughHLC, `SELECT ifnull((SELECT hlc FROM `+changelog.LogTable+`
				WHERE seq = ? AND typeof(hlc) = 'integer'), 0)`, ch.Through); err != nil {
				return ch, fmt.Errorf("read changes: %w", err)
			}
		}
		return ch, nil
	}
	after = next.Int64 - 1
	r, err := readers.Reader(ctx, tx)
	if err != nil {
		return ch, err
	}
	rows, err := r.Read(ctx, tx, after, limit+1) // one more, to see whether the epoch ends
	if err != nil {
		return ch, err
	}
	// Only integrated rows carry their incarnation: the rest wait for the
	// next Prepare.
	for i, c := range rows {
		if c.Seq > integrated {
			if i == 0 {
				return ch, nil
			}
			rows, limit = rows[:i+1], min(limit, i)
			break
		}
	}
	ch.EpochEnd = len(rows) <= limit
	if size := 0; ch.EpochEnd {
		for _, c := range rows {
			size += c.Size()
		}
		// Cut short by changelog.ReadBytes: whether the epoch ends is not
		// known, and a commit may wait for the next chunk.
		ch.EpochEnd = size < changelog.ReadBytes
	}
	if len(rows) > limit {
		last, next := rows[limit-1], rows[limit]
		ch.EpochEnd = last.Origin != next.Origin || last.Epoch != next.Epoch
		rows = rows[:limit]
	}
	for _, c := range rows {
		ch.Through, ch.ThroughHLC = c.Seq, c.HLC
		if c.Origin != peer {
			ch.Changes = append(ch.Changes, c)
		}
	}
	return ch, nil
}

// Pull applies to dst every change of src's log that dst lacks. Chunks of
// limit rows stream into one dst transaction, which commits, with how far
// it read, whenever a chunk ends an epoch. First the source checks that
// it holds what dst read of it before; a source restored from an older
// copy heals (package restore) and is pulled again under its new id.
func Pull(ctx context.Context, dst *sqlx.DB, src Source, limit int, opts applier.Options) (applier.Result, error) {
	res, err := pull(ctx, dst, src, limit, opts)
	var restored *RestoredError
	if !errors.As(err, &restored) {
		return res, err
	}
	remote := src.(*Remote)
	if believed := remote.node; believed != "" && believed != restored.Node {
		// Another peer's heal made it a new node between this pull's
		// first look and its read: what dst knew was of the old id.
		remote.node = ""
		if err := forgetRestored(ctx, dst, believed); err != nil {
			return res, err
		}
	} else if err := healRemote(ctx, dst, remote, restored); err != nil {
		return res, err
	}
	more, err := pull(ctx, dst, src, limit, opts)
	res.Add(more)
	return res, err
}

func pull(ctx context.Context, dst *sqlx.DB, src Source, limit int, opts applier.Options) (applier.Result, error) {
	var total applier.Result
	srcID, err := src.NodeID(ctx)
	if err != nil {
		return total, err
	}
	dstID, err := changelog.NodeID(ctx, dst)
	if err != nil {
		return total, err
	}
	if srcID == dstID {
		return total, fmt.Errorf("both databases have node id %s: give a copied file its own with trigsync reset-node-id", srcID)
	}
	if srcID, dstID, err = checkRestores(ctx, dst, src, srcID, dstID, opts.Logger); err != nil {
		return total, err
	}
	cursor, err := applier.Cursor(ctx, dst, srcID)
	if err != nil {
		return total, err
	}
	var cursorHLC hlc.Timestamp // the stamp of the row at cursor, once a read moves it
	// Every read acknowledges what is committed; sentAck is the greatest
	// acknowledgement a read carried.
	committed, sentAck := cursor, int64(-1)
	// The next chunk is read while one applies: the source's reading and
	// the network overlap the local writes.
	type fetched struct {
		after int64
		ch    Chunk
		err   error
	}
	var ahead chan fetched // the read in flight, if any
	defer func() {
		if ahead != nil {
			<-ahead // the source is not used after Pull returns
		}
	}()
	prefetch := func(after int64) {
		ahead, sentAck = make(chan fetched, 1), committed
		go func(c chan<- fetched, acked int64) {
			ch, err := src.ReadChunk(ctx, dstID, after, acked, limit)
			c <- fetched{after, ch, err}
		}(ahead, committed)
	}
	readAt := func(after int64) (Chunk, error) {
		if ahead != nil {
			f := <-ahead
			ahead = nil
			if f.after == after {
				return f.ch, f.err
			}
		}
		sentAck = committed
		return src.ReadChunk(ctx, dstID, after, committed, limit)
	}
	// A chunk is read before the write transaction that applies it
	// begins: no write lock is held while the source answers, except
	// between the chunks of one epoch.
	read := func() (Chunk, error) {
		for {
			ch, err := readAt(cursor)
			var pruned *PrunedError
			if !errors.As(err, &pruned) {
				return ch, err
			}
			// Skip pruned history this node does not lack.
			if err := covers(ctx, dst, pruned, srcID, "this node"); err != nil {
				return ch, err
			}
			cursor = pruned.Through
		}
	}
	// read, then start reading what follows the chunk.
	readAndPrefetch := func() (Chunk, error) {
		ch, err := read()
		if err == nil && ch.Through != cursor {
			prefetch(ch.Through)
		}
		return ch, err
	}
	for {
		ch, err := readAndPrefetch()
		if err != nil {
			return total, err
		}
		// The first session runs even with nothing to read: it retries held changes.
		s, err := applier.Begin(ctx, dst, opts)
		if err != nil {
			return total, err
		}
		for {
			if ch.Through == cursor {
				res, err := s.Commit(ctx, srcID, cursor, cursorHLC)
				total.Add(res)
				if err == nil && cursor > sentAck {
					_, err = src.ReadChunk(ctx, dstID, cursor, cursor, 1) // acknowledge the last commit
				}
				return total, err
			}
			if err := s.Apply(ctx, ch.Changes); err != nil {
				s.Rollback()
				return total, err
			}
			cursor, cursorHLC = ch.Through, ch.ThroughHLC
			if ch.EpochEnd {
				break
			}
			if ch, err = readAndPrefetch(); err != nil {
				s.Rollback()
				return total, err
			}
		}
		res, err := s.Commit(ctx, srcID, cursor, cursorHLC)
		if err != nil {
			return total, err
		}
		committed = cursor
		total.Add(res)
	}
}

// Summary counts what a sync moved.
type Summary struct {
	Sent, Received applier.Result
	Rebuilt        *Rebuilt // what a rebuild did, when the sync made one (SyncRemoteRebuild)
}

// Sync pulls both ways between two databases.
func Sync(ctx context.Context, local, peer *sqlx.DB, opts applier.Options) (Summary, error) {
	var s Summary
	var err error
	if s.Sent, err = Pull(ctx, peer, &File{DB: local}, DefaultChunkRows, opts); err != nil {
		return s, fmt.Errorf("send: %w", err)
	}
	if s.Received, err = Pull(ctx, local, &File{DB: peer}, DefaultChunkRows, opts); err != nil {
		return s, fmt.Errorf("receive: %w", err)
	}
	return s, nil
}

// SyncRemote pushes to a node running serve, then pulls from it, and
// records the outcome for status and metrics.
func SyncRemote(ctx context.Context, local *sqlx.DB, peer *Remote, opts applier.Options) (Summary, error) {
	return syncRemote(ctx, local, "", peer, opts)
}

// rebuildRounds bounds the pushes a SyncRemoteRebuild makes while the
// application keeps writing between its push and its rebuild.
const rebuildRounds = 3

// SyncRemoteRebuild is SyncRemote for the node whose database file is
// path, which recovers by itself when its pull meets history the peer
// pruned that it lacks (it was away past the peer's log horizon): its
// push having sent every change it made, it rebuilds from the peer's
// snapshot (Rebuild), keeping the old file beside it, and pulls what was
// written since. Nothing it holds is discarded: a failed push fails the
// sync before anything is rebuilt, and a change written after the push
// is pushed in another round (at most rebuildRounds) before the rebuild.
func SyncRemoteRebuild(ctx context.Context, local *sqlx.DB, path string, peer *Remote, opts applier.Options) (Summary, error) {
	return syncRemote(ctx, local, path, peer, opts)
}

func syncRemote(ctx context.Context, local *sqlx.DB, path string, peer *Remote, opts applier.Options) (Summary, error) {
	if s, done, err := peer.exchange(ctx, local, opts); done || err != nil {
		return s, peer.record(ctx, local, err)
	}
	var s Summary
	for round := 1; ; round++ {
		sent, err := peer.Push(ctx, local, DefaultChunkRows)
		if err != nil {
			return s, peer.record(ctx, local, fmt.Errorf("send: %w", err))
		}
		s.Sent.Add(sent.Result)
		s.Received, err = Pull(ctx, local, peer, DefaultChunkRows, opts)
		var pruned *PrunedError
		if err != nil && path != "" && errors.Is(err, ErrRecloneNeeded) && errors.As(err, &pruned) {
			var r Rebuilt
			r, err = Rebuild(ctx, local, path, peer, pruned.Through)
			if errors.Is(err, ErrUnsent) && round < rebuildRounds {
				continue // written since the push: push again
			}
			if err == nil {
				r.Pushed = s.Sent.Applied
				s.Rebuilt = &r
				if opts.Logger != nil {
					opts.Logger.Warn(r.String())
				}
				s.Received, err = Pull(ctx, local, peer, DefaultChunkRows, opts)
			}
		}
		if err != nil {
			return s, peer.record(ctx, local, fmt.Errorf("receive: %w", err))
		}
		return s, peer.record(ctx, local, nil)
	}
}

// covers checks that the version vector of db (the node called who) has
// every change the pruned history of node source held.
func covers(ctx context.Context, db sqlx.QueryerContext, e *PrunedError, source, who string) error {
	have, err := applier.VersionVector(ctx, db)
	if err != nil {
		return err
	}
	return lacks(have, e, source, who)
}

func lacks(have map[string]int64, e *PrunedError, source, who string) error {
	if origin, had, needed := applier.Lacks(have, e.Vector); origin != "" {
		return fmt.Errorf("%w: node %s pruned its log through seq %d, and %s lacks changes of node %s (it has them through seq %d, the pruned ones go to %d): make a new copy with trigsync clone%w",
			ErrRecloneNeeded, source, e.Through, who, origin, had, needed, silent{e})
	}
	return nil
}

package applier

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/trigsync/trigsync/apptriggers"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/ddl"
	"github.com/trigsync/trigsync/hlc"
	"github.com/trigsync/trigsync/lww"
	"github.com/trigsync/trigsync/peers"
	"github.com/trigsync/trigsync/restore"
	"github.com/trigsync/trigsync/schema"
)

// Batch is a run of changes from one peer's log, in that log's order.
type Batch struct {
	Peer       string             // the peer's node id
	Through    int64              // the peer's log was read up to this seq
	ThroughHLC hlc.Timestamp      // the stamp of the peer's log row there (0: not known)
	Changes    []changelog.Change // may include changes this node already has
}

// Result counts what Apply did.
type Result struct {
	Applied    int `json:"applied"`    // changes merged (whether or not their cells won)
	Duplicates int `json:"duplicates"` // changes this node already had
	Conflicts  int `json:"conflicts"`  // set aside: a constraint failed, or a notice was recorded
	Held       int `json:"held"`       // set aside until this node's schema knows their table or column
	Dropped    int `json:"dropped"`    // made on an older schema version: cells of dropped columns, or all of a dropped table's change, left out
}

// Add adds o's counts to r.
func (r *Result) Add(o Result) {
	r.Applied += o.Applied
	r.Duplicates += o.Duplicates
	r.Conflicts += o.Conflicts
	r.Held += o.Held
	r.Dropped += o.Dropped
}

// DefaultMaxClockSkew is how far ahead of this node's clock a stamp may be
// before its change is held (docs/MERGE.md, "Clocks").
const DefaultMaxClockSkew = 10 * time.Minute

// clockFloor: a wall clock before it is unset (a device without a
// real-time clock booting in 1970), and no reference for skew.
var clockFloor = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Options tune Apply.
type Options struct {
	MaxClockSkew time.Duration    // 0: DefaultMaxClockSkew
	Now          func() time.Time // nil: time.Now
	// Logger is told, at WARN, what an exchange found and mended beside
	// applying: a node restored from an older copy of itself (package
	// restore). nil: nothing is logged.
	Logger *slog.Logger
	// ForeignKeys enforces FOREIGN KEY constraints while applying, as an
	// application running with PRAGMA foreign_keys=ON expects. A change
	// refused for one waits until the rest of its batch applied (its parent
	// may come later in the batch) before it is set aside.
	ForeignKeys bool
	// Schema, when not nil, keeps the schema read between applies (a
	// server applying many small pushes).
	Schema *schema.Cache
}

// Apply merges a batch from a peer in one transaction: readers see all of
// it or none of it. It records the peer's progress (Cursor) with it, and
// first retries the changes it held before.
func Apply(ctx context.Context, db *sqlx.DB, b Batch, opts Options) (Result, error) {
	s, err := Begin(ctx, db, opts)
	if err != nil {
		return Result{}, err
	}
	defer s.Rollback()
	if err := s.Apply(ctx, b.Changes); err != nil {
		return s.res, err
	}
	return s.Commit(ctx, b.Peer, b.Through, b.ThroughHLC)
}

// Session is one apply transaction that batches can be streamed into, so
// that a source transaction of any size applies atomically in bounded
// memory. Begin it, Apply chunks, Commit.
type Session struct {
	conn *sqlx.Conn
	tx   *sqlx.Tx
	a    *applier
	res  Result
}

// Begin starts an apply transaction: it integrates the node's own changes,
// suppresses the triggers' echo, and retries held changes.
func Begin(ctx context.Context, db *sqlx.DB, opts Options) (*Session, error) {
	// The pragma is per connection and ignored inside a transaction: set it
	// on the connection the transaction then runs on, and only when it
	// differs (setting it expires the connection's prepared statements).
	conn, err := db.Connx(ctx)
	if err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	var fk bool
	err = conn.GetContext(ctx, &fk, `PRAGMA foreign_keys`)
	if err == nil && fk != opts.ForeignKeys {
		_, err = conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA foreign_keys = %t`, opts.ForeignKeys))
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("apply: %w", err)
	}
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("apply: begin: %w", err)
	}
	s := &Session{tx: tx, conn: conn}
	if err := s.begin(ctx, opts); err != nil {
		s.Rollback()
		return nil, err
	}
	return s, nil
}

func (s *Session) begin(ctx context.Context, opts Options) error {
	if err := Integrate(ctx, s.tx, opts.Schema); err != nil {
		return err
	}
	// Echo suppression: the triggers log nothing this transaction writes.
	if _, err := s.tx.ExecContext(ctx, `UPDATE `+changelog.ClockTable+` SET applying = 1`); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	var err error
	if s.a, err = newApplier(ctx, s.tx, opts); err != nil {
		return err
	}
	if !s.a.open {
		return nil // nothing held to retry
	}
	return s.a.retry(ctx, []string{"held"}, nil, false, &s.res)
}

// Apply merges changes, in order, into the session's transaction.
func (s *Session) Apply(ctx context.Context, changes []changelog.Change) error {
	if err := s.a.prefetch(ctx, changes); err != nil {
		return err
	}
	for _, c := range changes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.a.apply(ctx, c, &s.res); err != nil {
			return fmt.Errorf("apply change %d of %s: %w", c.OriginSeq, c.Origin, err)
		}
	}
	return nil
}

// Commit ends the session: it records that peer's log was read through
// seq `through`, whose row has stamp throughHLC (none when peer is ""),
// applies the HLC receive rule and commits.
func (s *Session) Commit(ctx context.Context, peer string, through int64, throughHLC hlc.Timestamp) (Result, error) {
	if err := s.a.applyPostponed(ctx, &s.res); err != nil {
		return s.res, err
	}
	if err := s.a.quiet.Restore(ctx, s.tx); err != nil {
		return s.res, err
	}
	if err := s.a.finish(ctx, Batch{Peer: peer, Through: through, ThroughHLC: throughHLC}); err != nil {
		return s.res, err
	}
	err := s.tx.Commit()
	s.conn.Close()
	if err != nil {
		return s.res, fmt.Errorf("apply: commit: %w", err)
	}
	return s.res, nil
}

// Also runs f in the session's transaction, so that what the caller
// records beside the changes (a peer's acknowledgement) commits with them.
func (s *Session) Also(f func(*sqlx.Tx) error) error { return f(s.tx) }

// Rollback abandons the session; after Commit it does nothing.
func (s *Session) Rollback() {
	s.tx.Rollback()
	s.conn.Close()
}

type applier struct {
	tx       *sqlx.Tx
	st       *state
	local    string
	descs    map[string]changelog.Description // active, by lower-case table name
	tables   map[string]schema.Table          // by lower-case name
	schema   *schema.Cache                    // Options.Schema
	hwm      map[int64]int64                  // origin reference → greatest origin seq applied (read by seen)
	hwmHLC   map[int64]hlc.Timestamp          // origin reference → the stamp of that change
	moved    map[int64]bool                   // the entries of hwm finish writes
	inserts  map[string]insertText            // by table: the SQL of the last insert's columns
	heldFrom map[string]bool                  // origins with a change held here
	maxHLC   hlc.Timestamp
	log      *changelog.Appender
	horizon  hlc.Timestamp // stamps above it are held; 0: no limit
	open     bool          // a conflict may be open: look for one before applying a row's change
	// The schema versions applied here (docs/MIGRATIONS.md): the greatest,
	// each by number, and the statements of those a translation parsed.
	version    int64
	migrations map[int64]changelog.AppliedMigration
	steps      map[int64][]ddl.Statement
	migrated   bool // a schema version was applied since retry last looked at the held changes
	// postponed holds the changes a FOREIGN KEY refused, in batch order,
	// with the later changes of their rows; postponedRows names those rows.
	postponed     []postponed
	postponedRows map[string]bool
	// quiet keeps the application's triggers whose effects replicate from
	// running on the writes of this transaction.
	quiet *apptriggers.Silencer
	// forks are the restored nodes known here, by old node id (package
	// restore): the changes their restored copies made are void.
	forks map[string]changelog.Fork
}

type postponed struct {
	c      changelog.Change
	d      changelog.Description
	t      schema.Table
	origin int64
}

func newApplier(ctx context.Context, tx *sqlx.Tx, opts Options) (*applier, error) {
	st, err := newState(ctx, tx)
	if err != nil {
		return nil, err
	}
	a := &applier{tx: tx, st: st, log: changelog.NewAppender(st.q), hwm: map[int64]int64{}, hwmHLC: map[int64]hlc.Timestamp{}, moved: map[int64]bool{},
		inserts: map[string]insertText{}, heldFrom: map[string]bool{}, schema: opts.Schema}
	if a.local, err = changelog.NodeID(ctx, tx); err != nil {
		return nil, err
	}
	if err := a.loadSchema(ctx); err != nil {
		return nil, err
	}
	if err := a.loadTriggers(ctx); err != nil {
		return nil, err
	}
	if a.forks, err = changelog.Forks(ctx, tx); err != nil {
		return nil, err
	}
	if err := tx.GetContext(ctx, &a.open, `SELECT EXISTS (SELECT 1 FROM _trigsync_conflicts WHERE resolved IS NULL)`); err != nil {
		return nil, fmt.Errorf("look for open conflicts: %w", err)
	}
	if a.open {
		var held []string
		if err := tx.SelectContext(ctx, &held, `SELECT DISTINCT ifnull(json_extract(change, '$.origin'), '') FROM _trigsync_conflicts
			WHERE resolved IS NULL AND kind = 'held'`); err != nil {
			return nil, fmt.Errorf("look for held changes: %w", err)
		}
		for _, origin := range held {
			a.heldFrom[origin] = true
		}
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	skew := opts.MaxClockSkew
	if skew == 0 {
		skew = DefaultMaxClockSkew
	}
	if wall := now(); !wall.Before(clockFloor) {
		local, err := changelog.Now(ctx, tx)
		if err != nil {
			return nil, err
		}
		a.horizon = max(hlc.FromTime(wall), local) + hlc.New(skew.Milliseconds(), 0)
	}
	return a, nil
}

func (a *applier) apply(ctx context.Context, c changelog.Change, res *Result) error {
	if c.Origin == a.local {
		res.Duplicates++ // our own change, on its way back
		return nil
	}
	if !changelog.ValidNodeID(c.Origin) || (c.IncarnationNode != "" && !changelog.ValidNodeID(c.IncarnationNode)) {
		res.Held++
		return a.setAside(ctx, "held", c, fmt.Sprintf("origin %.40q or incarnation node %.40q is not a node id", c.Origin, c.IncarnationNode))
	}
	c, void := a.unfork(c)
	if void {
		res.Duplicates++ // made by a restored copy of its origin: its successor re-issued it
		return nil
	}
	origin, err := a.st.ref(ctx, c.Origin)
	if err != nil {
		return err
	}
	seen, err := a.seen(ctx, origin)
	if err != nil {
		return err
	}
	if c.OriginSeq <= seen {
		res.Duplicates++
		return nil
	}
	a.hwm[origin], a.hwmHLC[origin], a.moved[origin] = c.OriginSeq, c.HLC, true
	if c.Op == changelog.Schema {
		return a.applyMigration(ctx, c, res)
	}
	if c.Op == changelog.Forked {
		return a.applyFork(ctx, c, origin, res)
	}
	c, lost, gone, problem, err := a.translate(c)
	if err != nil {
		return err
	}
	if lost {
		res.Dropped++
	}
	if gone {
		return nil
	}
	var d changelog.Description
	var t schema.Table
	if problem == "" {
		d, t, problem = a.check(c)
	}
	behind := false // only an earlier conflict holds it: that one may heal now
	if problem == "" {
		if problem, err = a.waiting(ctx, c, 0); err != nil {
			return err
		}
		behind = problem != ""
	}
	if problem != "" {
		return a.hold(ctx, c, t, behind, problem, res)
	}
	if a.postponedRows[postponed{c: c, t: t}.row()] { // behind an earlier change of its row that waits for its parent
		a.postpone(postponed{c, d, t, origin})
		return a.appendLog(ctx, postponed{c, d, t, origin})
	}
	collision, refused, err := a.mergeOne(ctx, d, t, c)
	switch {
	case err != nil:
		return err
	case isForeignKey(refused):
		// Logged now, in its origin's order, like a change set aside.
		a.postpone(postponed{c, d, t, origin})
	case refused != nil:
		res.Conflicts++
		err = a.setAside(ctx, "error", c, refused.Error())
	default:
		res.Applied++
		if collision {
			res.Conflicts++
			err = a.setAside(ctx, "notice", c, "two inserts of one primary key met: the one with the greater stamp holds the row")
		}
	}
	if err != nil {
		return err
	}
	return a.appendLog(ctx, postponed{c, d, t, origin})
}

// unfork reads c by the forks known here (package restore): void when a
// restored copy of its origin made it (its successor re-issued it), and
// an incarnation that began with such a change is the successor's.
func (a *applier) unfork(c changelog.Change) (changelog.Change, bool) {
	if f, ok := a.forks[c.Origin]; ok && f.Void(c.OriginSeq, c.HLC) {
		return c, true
	}
	if f, ok := a.forks[c.IncarnationNode]; ok && c.Incarnation >= f.HLC {
		c.IncarnationNode = f.Successor
	}
	return c, false
}

// applyFork learns that a node was restored from an older copy and healed
// as another (package restore): the changes its copy made are void from
// now on, the stamps they carried are the successor's, and the version
// vector goes back to the node's true history, so that its lost changes
// apply when they arrive. It logs the fork, so that it travels on.
func (a *applier) applyFork(ctx context.Context, c changelog.Change, origin int64, res *Result) error {
	f := c.Fork
	// Only the healed node itself makes its fork: its origin is the successor.
	if f == nil || !changelog.ValidNodeID(f.Node) || f.Successor != c.Origin || f.Node == f.Successor || f.Seq < 1 || f.HLC == 0 {
		res.Held++
		return a.setAside(ctx, "held", c, "a fork without a valid record, or not made by its successor")
	}
	if _, known := a.forks[f.Node]; !known && f.Node != a.local {
		if err := a.st.forget(ctx); err != nil {
			return err
		}
		if err := restore.MoveStamps(ctx, a.tx, *f); err != nil {
			return err
		}
		if err := changelog.RecordFork(ctx, a.tx, *f); err != nil {
			return err
		}
		a.forks[f.Node] = *f
		// The old id answers no more: what it acknowledged holds nothing back.
		if _, err := peers.Forget(ctx, a.tx, f.Node); err != nil {
			return err
		}
		node, err := a.st.ref(ctx, f.Node)
		if err != nil {
			return err
		}
		seen, err := a.seen(ctx, node)
		if err != nil {
			return err
		}
		if seen >= f.Seq {
			if _, err := a.log.Flush(ctx); err != nil { // Known reads the log
				return err
			}
			seq, stamp, err := restore.Known(ctx, a.tx, *f)
			if err != nil {
				return err
			}
			a.hwm[node], a.hwmHLC[node], a.moved[node] = max(seq, f.Seq-1), stamp, true
		}
	}
	res.Applied++
	a.maxHLC = max(a.maxHLC, c.HLC)
	// The fork's record takes four value slots; a log of narrower tables
	// has fewer (the restored node widened its own when it logged it).
	if err := changelog.EnsureSlots(ctx, a.tx, 4); err != nil {
		return err
	}
	return a.log.AppendFork(ctx, c, origin)
}

// check says why a change cannot apply here yet: its names are unknown to
// the local schema, or its stamp is too far ahead of this node's clock.
func (a *applier) check(c changelog.Change) (changelog.Description, schema.Table, string) {
	d, t, problem := a.resolve(c)
	if problem == "" {
		problem = a.ahead(c)
	}
	return d, t, problem
}

// ahead says whether a change's stamp is too far ahead of this node's clock.
func (a *applier) ahead(c changelog.Change) string {
	if a.horizon != 0 && c.HLC > a.horizon {
		return fmt.Sprintf("stamped %s: ahead of this node's clock by more than the allowed skew (up to %s)",
			c.HLC.Time().Format(time.RFC3339), a.horizon.Time().Format(time.RFC3339))
	}
	return ""
}

// applyMigration applies a received schema version, or holds it.
func (a *applier) applyMigration(ctx context.Context, c changelog.Change, res *Result) error {
	problem, err := a.tryMigration(ctx, c, 0, false, res)
	switch {
	case err != nil:
		return err
	case problem != "":
		res.Held++
		return a.setAside(ctx, "held", c, problem)
	case a.migrated: // the changes that waited for this version apply now
		return a.retry(ctx, []string{"held"}, nil, false, res)
	}
	return nil
}

// mergeOne merges a change. A write the database refuses for its data (a
// constraint, a type mismatch) is returned as refused, and leaves nothing
// behind: merge writes the table before the merge state, and SQLite undoes
// a failed statement. Any other error ends the batch.
func (a *applier) mergeOne(ctx context.Context, d changelog.Description, t schema.Table, c changelog.Change) (collision bool, refused, err error) {
	a.maxHLC = max(a.maxHLC, c.HLC)
	collision, err = a.merge(ctx, t, localNames(d, c))
	if err != nil && refusedByData(err) {
		return false, err, nil
	}
	return collision, nil, err
}

// localNames returns c with the local schema's names (on copies of the
// cells): c's names must resolve in d.
func localNames(d changelog.Description, c changelog.Change) changelog.Change {
	c.Table = d.Table
	c.Key, c.Set = append(changelog.Cells(nil), c.Key...), append(changelog.Cells(nil), c.Set...)
	for _, cells := range []changelog.Cells{c.Key, c.Set} {
		for i := range cells {
			cells[i].Column = d.Columns[d.Slot(cells[i].Column)].Name
		}
	}
	return c
}

// applyPostponed retries the changes a FOREIGN KEY refused, each after the
// earlier ones of its row, until a round applies none, then sets the rest
// aside. Every one was appended to the log when it arrived.
func (a *applier) applyPostponed(ctx context.Context, res *Result) error {
	for progress := true; progress && len(a.postponed) > 0; {
		progress = false
		var still []postponed
		stuck := map[string]bool{} // rows with a change in still
		for _, p := range a.postponed {
			if stuck[p.row()] {
				still = append(still, p)
				continue
			}
			_, refused, err := a.mergeOne(ctx, p.d, p.t, p.c)
			if err != nil {
				return err
			}
			if refused != nil {
				still, stuck[p.row()] = append(still, p), true
				continue
			}
			progress = true
			res.Applied++
		}
		a.postponed = still
	}
	still := a.postponed
	a.postponed = nil
	clear(a.postponedRows)
	return a.setAsidePostponed(ctx, still, res)
}

func (a *applier) appendLog(ctx context.Context, p postponed) error {
	inc, err := a.st.ref(ctx, p.c.IncarnationNode)
	if err != nil {
		return err
	}
	return a.log.Append(ctx, p.d, p.c, p.origin, inc)
}

// isForeignKey reports whether SQLite refused a write for a FOREIGN KEY.
func isForeignKey(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// refusedByData reports whether SQLite refused a write for the data it
// carries: SQLITE_CONSTRAINT (UNIQUE, CHECK, NOT NULL, FOREIGN KEY, STRICT
// types) or SQLITE_MISMATCH.
func refusedByData(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	code := e.Code() & 0xff
	return code == sqlite3.SQLITE_CONSTRAINT || code == sqlite3.SQLITE_MISMATCH
}

// resolve checks the change's names against the local schema and the
// replicated tables; problem says why it cannot apply here (yet).
func (a *applier) resolve(c changelog.Change) (changelog.Description, schema.Table, string) {
	if c.Op != changelog.Insert && c.Op != changelog.Update && c.Op != changelog.Delete && c.Op != changelog.Add {
		return changelog.Description{}, schema.Table{}, fmt.Sprintf("unknown operation %.10q", c.Op)
	}
	d, ok := a.descs[strings.ToLower(c.Table)]
	if !ok {
		return d, schema.Table{}, fmt.Sprintf("table %s is not replicated on this node", schema.Quote(c.Table))
	}
	t := a.tables[strings.ToLower(d.Table)]
	keySlots := d.KeySlots()
	if len(c.Key) != len(keySlots) {
		return d, t, fmt.Sprintf("the primary key of %s differs on this node", schema.Quote(d.Table))
	}
	for i, cell := range c.Key {
		if d.Slot(cell.Column) != keySlots[i] {
			return d, t, fmt.Sprintf("the primary key of %s differs on this node", schema.Quote(d.Table))
		}
	}
	for _, cell := range c.Set {
		s := d.Slot(cell.Column)
		if s < 0 || d.Columns[s].PK != 0 {
			return d, t, fmt.Sprintf("%s has no column %s on this node", schema.Quote(d.Table), schema.Quote(cell.Column))
		}
		if problem := counterProblem(d, d.Columns[s], c); problem != "" {
			return d, t, problem
		}
	}
	return d, t, ""
}

// counterProblem says why a change's cell of column col cannot apply: a
// counter's value set outright by a node that does not count it, or
// deltas for a column this node does not count (docs/MERGE.md, "Counter
// columns"). Either way the change is held, whole, and nothing is merged
// by the wrong rule.
func counterProblem(d changelog.Description, col changelog.Column, c changelog.Change) string {
	name := schema.Quote(d.Table) + "." + schema.Quote(col.Name)
	switch {
	case c.Op == changelog.Update && col.Counter:
		return fmt.Sprintf("an absolute update of %s, a counter column here, from node %s, which does not count it "+
			"(a trigsync before counter columns, or `install --counter` missing there): merging it by last write would lose "+
			"other nodes' increments, so nothing of it was applied. Fix: on node %s, upgrade trigsync and run "+
			"`trigsync install --counter %s.%s` (or have every node take the migration `ALTER TABLE %s ALTER COLUMN %s SET COUNTER`); "+
			"then settle this change by hand and close it with `trigsync conflicts --discard --id N`",
			name, c.Origin, c.Origin, d.Table, col.Name, schema.Quote(d.Table), schema.Quote(col.Name))
	case c.Op == changelog.Add && !col.Counter:
		return fmt.Sprintf("counter deltas for %s from node %s, which counts it, but this node does not: "+
			"run `trigsync install --counter %s.%s` here (or take the migration that declares it); the change applies at the next exchange or `trigsync conflicts --retry`",
			name, c.Origin, d.Table, col.Name)
	}
	return ""
}

// lwwChange is row change c as lww decides it; false for an op that
// changes no row.
func lwwChange(c changelog.Change) (lww.Change, bool) {
	lc := lww.Change{Stamp: lww.Stamp{HLC: c.HLC, Node: c.Origin},
		Incarnation: lww.Stamp{HLC: c.Incarnation, Node: c.IncarnationNode}}
	switch c.Op {
	case changelog.Insert:
		lc.Op = lww.Insert
	case changelog.Update:
		lc.Op = lww.Update
	case changelog.Delete:
		lc.Op = lww.Delete
	case changelog.Add:
		lc.Op = lww.Add
	default:
		return lc, false
	}
	return lc, true
}

// merge decides and writes one change.
func (a *applier) merge(ctx context.Context, t schema.Table, c changelog.Change) (collision bool, err error) {
	pk := rowKey(c.Key)
	row, known, err := a.st.row(ctx, t.Name, pk)
	if err != nil {
		return false, err
	}
	if !known {
		// No merge state: a new row, or one from before install (incarnation
		// zero). Assume the first for an insert and the second otherwise; the
		// write's affected rows tell which it was.
		row.Exists = c.Op != changelog.Insert
	}
	lc, ok := lwwChange(c)
	if !ok {
		return false, fmt.Errorf("unknown op %q", c.Op)
	}
	var cellStamps []lww.Stamp
	if c.Op == changelog.Update {
		cols := make([]string, len(c.Set))
		for i, cell := range c.Set {
			cols[i] = cell.Column
		}
		if cellStamps, err = a.st.cells(ctx, t.Name, pk, row.Incarnation, cols); err != nil {
			return false, err
		}
	}
	dec := lww.Decide(row, cellStamps, lc)
	if dec.Write != lww.Nothing {
		if err := a.quiet.Silence(ctx, a.tx); err != nil {
			return false, err
		}
	}
	q := schema.Quote(t.Name)
	var written int64
	switch dec.Write {
	case lww.Replace:
		args := make([]any, 0, len(c.Key)+len(c.Set))
		for _, cs := range []changelog.Cells{c.Key, c.Set} {
			for _, cell := range cs {
				args = append(args, cell.Value.SQL())
			}
		}
		insert, upsert := a.insertSQL(t.Name, c)
		if !known {
			if written, err = a.exec(ctx, insert, args...); err == nil && written == 0 {
				dec.Collision = true // a row from before install holds the key
				_, err = a.exec(ctx, upsert, args...)
			}
			break
		}
		if _, err = a.exec(ctx, upsert, args...); err == nil {
			err = a.st.resetCells(ctx, t.Name, pk)
		}
	case lww.SetCells:
		where, keyArgs := keyWhere(t, c.Key)
		var sets []string
		var args []any
		for i, cell := range c.Set {
			if dec.Cells[i] {
				sets = append(sets, schema.Quote(cell.Column)+" = ?")
				args = append(args, cell.Value.SQL())
			}
		}
		written, err = a.exec(ctx, "UPDATE "+q+" SET "+strings.Join(sets, ", ")+" WHERE "+where, append(args, keyArgs...)...)
		for i, cell := range c.Set {
			if err == nil && written > 0 && dec.Cells[i] {
				err = a.st.saveCell(ctx, t.Name, pk, cell.Column, lc.Stamp)
			}
		}
	case lww.AddCells:
		where, keyArgs := keyWhere(t, c.Key)
		sets := make([]string, len(c.Set))
		args := make([]any, 0, len(c.Set)+len(keyArgs))
		for i, cell := range c.Set {
			q := schema.Quote(cell.Column)
			sets[i] = q + " = ifnull(" + q + ", 0) + ?"
			args = append(args, cell.Value.SQL())
		}
		_, err = a.exec(ctx, "UPDATE "+q+" SET "+strings.Join(sets, ", ")+" WHERE "+where, append(args, keyArgs...)...)
	case lww.Remove:
		where, keyArgs := keyWhere(t, c.Key)
		if _, err = a.exec(ctx, "DELETE FROM "+q+" WHERE "+where, keyArgs...); err == nil && known {
			err = a.st.resetCells(ctx, t.Name, pk)
		}
	}
	if err != nil {
		return false, err
	}
	if dec.Row != row {
		err = a.st.saveRow(ctx, t.Name, pk, dec.Row)
	}
	return dec.Collision, err
}

// insertSQL is what a row from an insert is written with: an INSERT that
// leaves an existing row alone, and an upsert that overwrites it. The text
// is kept per table for the last column list seen: peers send the columns
// of a table's inserts in one order.
func (a *applier) insertSQL(table string, c changelog.Change) (insert, upsert string) {
	cached, ok := a.inserts[table]
	if ok && len(cached.cols) == len(c.Key)+len(c.Set) {
		same := true
		for i, cell := range c.Key {
			same = same && cached.cols[i] == cell.Column
		}
		for i, cell := range c.Set {
			same = same && cached.cols[len(c.Key)+i] == cell.Column
		}
		if same {
			return cached.insert, cached.upsert
		}
	}
	var names, quoted, marks, sets []string
	for _, cs := range []changelog.Cells{c.Key, c.Set} {
		for _, cell := range cs {
			names = append(names, cell.Column)
			quoted = append(quoted, schema.Quote(cell.Column))
			marks = append(marks, "?")
		}
	}
	for _, cell := range c.Set {
		sets = append(sets, schema.Quote(cell.Column)+" = excluded."+schema.Quote(cell.Column))
	}
	// An insert made on an older schema version lacks the columns added
	// since: the row it replaces takes their defaults, as a new row would.
	if t, ok := a.tables[strings.ToLower(table)]; ok {
		for _, col := range t.Columns {
			if col.PK != 0 || col.Generated() || slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, col.Name) }) {
				continue
			}
			def := "NULL"
			if col.Default != nil {
				def = "(" + *col.Default + ")"
			}
			sets = append(sets, schema.Quote(col.Name)+" = "+def)
		}
	}
	head := "INSERT INTO " + schema.Quote(table) + " (" + strings.Join(quoted, ", ") + ") VALUES (" + strings.Join(marks, ", ") +
		") ON CONFLICT (" + strings.Join(quoted[:len(c.Key)], ", ") + ") DO "
	insert, upsert = head+"NOTHING", head+"NOTHING"
	if len(sets) > 0 {
		upsert = head + "UPDATE SET " + strings.Join(sets, ", ")
	}
	a.inserts[table] = insertText{cols: names, insert: insert, upsert: upsert}
	return insert, upsert
}

type insertText struct {
	cols           []string
	insert, upsert string
}

// prefetch reads, for a chunk, the merge state of the rows it changes.
func (a *applier) prefetch(ctx context.Context, changes []changelog.Change) error {
	if err := a.st.forget(ctx); err != nil {
		return err
	}
	byTable := map[string][]string{}
	for _, c := range changes {
		if d, ok := a.descs[strings.ToLower(c.Table)]; ok {
			byTable[d.Table] = append(byTable[d.Table], rowKey(c.Key))
		}
	}
	for table, pks := range byTable {
		if err := a.st.prefetch(ctx, table, pks); err != nil {
			return err
		}
	}
	return nil
}

// exec runs a write and returns how many rows it changed.
func (a *applier) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := a.st.q.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// waiting says why a change must wait: an open conflict (older than
// conflict `before`, when not 0) holds an earlier change of the same row,
// and applying this one first would reorder the row's history.
func (a *applier) waiting(ctx context.Context, c changelog.Change, before int64) (string, error) {
	if !a.open {
		return "", nil
	}
	var id int64
	if c.Op != changelog.Schema { // a schema version has no row
		err := a.st.q.get(ctx, &id, `SELECT ifnull(min(id), 0) FROM _trigsync_conflicts
			WHERE tbl = ? AND pk = ? AND resolved IS NULL AND (? = 0 OR id < ?) AND kind <> 'notice'`,
			c.Table, rowKey(c.Key), before, before)
		if err != nil {
			return "", fmt.Errorf("look up conflicts of the row: %w", err)
		}
		if id != 0 {
			return fmt.Sprintf("waits for conflict %d, an earlier change of the same row", id), nil
		}
	}
	// A held change is not logged here until it applies, so the origin's
	// later changes wait too: a node relays each origin's changes in the
	// order it made them, which its peers' version vectors rely on.
	if !a.heldFrom[c.Origin] {
		return "", nil
	}
	err := a.st.q.get(ctx, &id, `SELECT ifnull(min(id), 0) FROM _trigsync_conflicts
		WHERE resolved IS NULL AND kind = 'held' AND (? = 0 OR id < ?) AND json_extract(change, '$.origin') = ?`,
		before, before, c.Origin)
	if err != nil {
		return "", fmt.Errorf("look up held changes of the origin: %w", err)
	}
	if id == 0 {
		return "", nil
	}
	return fmt.Sprintf("waits for conflict %d, an earlier change of the same origin held here", id), nil
}

// setAside records a change in the conflicts table with its full data.
func (a *applier) setAside(ctx context.Context, kind string, c changelog.Change, why string) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	a.open = true
	if kind == "held" {
		a.heldFrom[c.Origin] = true
	}
	table := c.Table
	if c.Op == changelog.Schema && c.Migration != nil { // no table: say what it is
		table = fmt.Sprintf("(schema version %d)", c.Migration.Version)
	}
	_, err = a.tx.ExecContext(ctx, `INSERT INTO _trigsync_conflicts(kind, at, tbl, pk, change, error) VALUES (?, ?, ?, ?, ?, ?)`,
		kind, time.Now().UTC().Format(time.RFC3339Nano), table, rowKey(c.Key), string(data), why)
	if err != nil {
		return fmt.Errorf("record conflict: %w", err)
	}
	return nil
}

// progress records in tx that the peer's log is applied through
// b.Through, and that an exchange with the peer succeeded.
func progress(ctx context.Context, tx *sqlx.Tx, refs *changelog.NodeRefs, b Batch) error {
	peer, err := refs.Ref(ctx, tx, b.Peer)
	if err != nil {
		return err
	}
	// The stamp at the cursor lets the next exchange check that the
	// peer's log still holds what was read (package restore).
	if _, err := tx.ExecContext(ctx, `INSERT INTO _trigsync_peers(node, pulled_seq, pulled_hlc) VALUES (?, ?, nullif(?, 0))
		ON CONFLICT (node) DO UPDATE SET pulled_hlc = CASE WHEN excluded.pulled_seq > pulled_seq OR pulled_hlc IS NULL
			THEN ifnull(excluded.pulled_hlc, pulled_hlc) ELSE pulled_hlc END,
		pulled_seq = max(pulled_seq, excluded.pulled_seq)`, peer, b.Through, int64(b.ThroughHLC)); err != nil {
		return fmt.Errorf("store peer progress: %w", err)
	}
	// An exchange with the peer succeeded, in this commit: no other.
	return peers.Succeeded(ctx, tx, b.Peer, "", time.Now())
}

// Advance moves the cursor of peer's log to through (the row there
// stamped throughHLC) in the caller's write transaction, applying nothing:
// for a run of the peer's log that holds nothing for this node (what the
// sender left out, as this node has it), an apply session, with all it
// reads to begin, is not needed.
func Advance(ctx context.Context, tx *sqlx.Tx, peer string, through int64, throughHLC hlc.Timestamp) error {
	return progress(ctx, tx, changelog.NewNodeRefs(), Batch{Peer: peer, Through: through, ThroughHLC: throughHLC})
}

// seen returns the greatest origin seq of origin's changes this node
// holds (its version vector's entry), read as needed: a hub that knows
// thousands of devices does not read them all for each push.
func (a *applier) seen(ctx context.Context, origin int64) (int64, error) {
	if seq, ok := a.hwm[origin]; ok {
		return seq, nil
	}
	var o struct {
		Seq int64         `db:"seq"`
		HLC hlc.Timestamp `db:"hlc"`
	}
	err := a.tx.GetContext(ctx, &o, `SELECT seq, ifnull(hlc, 0) AS hlc FROM _trigsync_origins WHERE node = ?`, origin)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("read version vector: %w", err)
	}
	a.hwm[origin], a.hwmHLC[origin] = o.Seq, o.HLC
	return o.Seq, nil
}

// finish stores the version vector's entries that moved and the peer's progress, applies the
// HLC receive rule, and ends echo suppression.
func (a *applier) finish(ctx context.Context, b Batch) error {
	for node := range a.moved {
		if _, err := a.tx.ExecContext(ctx, `INSERT OR REPLACE INTO _trigsync_origins(node, seq, hlc) VALUES (?, ?, ?)`,
			node, a.hwm[node], int64(a.hwmHLC[node])); err != nil {
			return fmt.Errorf("store version vector: %w", err)
		}
	}
	if b.Peer != "" {
		if err := progress(ctx, a.tx, a.st.refs, b); err != nil {
			return err
		}
	}
	if err := a.st.flush(ctx); err != nil {
		return err
	}
	lastSeq, err := a.log.Flush(ctx)
	if err != nil {
		return err
	}
	set := `applying = 0, hlc = max(hlc, ?)`
	args := []any{int64(a.maxHLC)}
	if lastSeq > 0 { // the appended rows are stamped and integrated
		set += `, stamped_seq = ?`
		args = append(args, lastSeq)
		if _, err := a.tx.ExecContext(ctx, `UPDATE _trigsync_meta SET value = ? WHERE key = 'integrated_seq'`, lastSeq); err != nil {
			return err
		}
	}
	if _, err := a.tx.ExecContext(ctx, `UPDATE `+changelog.ClockTable+` SET `+set, args...); err != nil {
		return fmt.Errorf("apply the HLC receive rule: %w", err)
	}
	return nil
}

// Cursor returns how far this node has pulled from peer's log.
func Cursor(ctx context.Context, q sqlx.QueryerContext, peer string) (int64, error) {
	var seq int64
	err := sqlx.GetContext(ctx, q, &seq, `SELECT ifnull((SELECT p.pulled_seq FROM _trigsync_peers p
		JOIN _trigsync_nodes n ON n.ref = p.node WHERE n.node_id = ?), 0)`, peer)
	if err != nil {
		return 0, fmt.Errorf("read cursor of peer %s: %w", peer, err)
	}
	return seq, nil
}

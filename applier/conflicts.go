package applier

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/lww"
	"github.com/trigsync/trigsync/schema"
)

// Conflict is a change the applier set aside.
type Conflict struct {
	ID     int64           `json:"id" db:"id"`
	Kind   string          `json:"kind" db:"kind"` // error, held or notice
	At     string          `json:"at" db:"at"`
	Table  string          `json:"table" db:"tbl"`
	Change json.RawMessage `json:"change" db:"change"` // the change in full, as `changes --json` prints it
	Error  string          `json:"error" db:"error"`
}

// Conflicts lists the unresolved conflicts, oldest first.
func Conflicts(ctx context.Context, q sqlx.QueryerContext) ([]Conflict, error) {
	var rows []struct {
		Conflict
		Change string `db:"change"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, `SELECT id, kind, at, tbl, change, error FROM _trigsync_conflicts
		WHERE resolved IS NULL ORDER BY id`); err != nil {
		return nil, fmt.Errorf("list conflicts: %w", err)
	}
	out := make([]Conflict, len(rows))
	for i, r := range rows {
		out[i] = r.Conflict
		out[i].Change = json.RawMessage(r.Change)
	}
	return out, nil
}

// retry applies again, oldest first, the unresolved conflicts of the
// given kinds (all of them, or those in ids). A change applies once no
// older conflict of its row is open, its names resolve and, unless
// released, its stamp is within the allowed skew. A held change is then
// appended to the log like any received change; a failed one (kind
// "error") was logged when it arrived.
func (a *applier) retry(ctx context.Context, kinds []string, ids []int64, release bool, res *Result) error {
	for {
		a.migrated = false
		if err := a.retryOnce(ctx, kinds, ids, release, res); err != nil || !a.migrated {
			return err
		}
		// A schema version applied: the changes it held may apply now.
	}
}

func (a *applier) retryOnce(ctx context.Context, kinds []string, ids []int64, release bool, res *Result) error {
	var rows []struct {
		ID     int64  `db:"id"`
		Kind   string `db:"kind"`
		Change string `db:"change"`
	}
	if err := a.tx.SelectContext(ctx, &rows, `SELECT id, kind, change FROM _trigsync_conflicts
		WHERE kind IN ('error', 'held') AND resolved IS NULL ORDER BY id`); err != nil {
		return fmt.Errorf("read conflicts: %w", err)
	}
	healed := map[int64]bool{}
	for _, r := range rows {
		if !slices.Contains(kinds, r.Kind) || (len(ids) > 0 && !slices.Contains(ids, r.ID)) || healed[r.ID] {
			continue
		}
		var c changelog.Change
		if err := json.Unmarshal([]byte(r.Change), &c); err != nil {
			return fmt.Errorf("conflict %d: %w", r.ID, err)
		}
		if c.Op == changelog.Schema {
			if err := a.retryMigration(ctx, r.ID, c, release, res); err != nil {
				return err
			}
			continue
		}
		c, void := a.unfork(c) // a fork may have come since it was set aside
		if void {
			res.Duplicates++
			if err := a.resolveConflict(ctx, r.ID, "void: made by a restored copy of its origin, whose successor re-issued it"); err != nil {
				return err
			}
			continue
		}
		c, lost, gone, problem, err := a.translate(c)
		if err != nil {
			return err
		}
		if gone {
			res.Dropped++
			if err := a.resolveConflict(ctx, r.ID, "dropped by a migration"); err != nil {
				return err
			}
			continue
		}
		var d changelog.Description
		var t schema.Table
		if problem == "" {
			d, t, problem = a.check(c)
			if release && problem != "" {
				d, t, problem = a.resolve(c)
			}
		}
		if problem == "" {
			if problem, err = a.waiting(ctx, c, r.ID); err != nil {
				return err
			}
		}
		if problem != "" {
			continue
		}
		if r.Kind == "error" { // later changes of the row may wait behind it: fold them in
			folded, err := a.heal(ctx, c, t, release, res)
			if err != nil {
				return err
			}
			if len(folded) > 0 {
				for _, id := range folded {
					healed[id] = true
				}
				continue
			}
		}
		if lost {
			res.Dropped++
		}
		_, refused, err := a.mergeOne(ctx, d, t, c)
		if err != nil {
			return err
		}
		if refused != nil {
			continue // still refused: the conflict stays
		}
		res.Applied++
		if r.Kind == "held" { // not in the log yet: log it as received
			origin, err := a.st.ref(ctx, c.Origin)
			if err != nil {
				return err
			}
			if err := a.appendLog(ctx, postponed{c, d, t, origin}); err != nil {
				return err
			}
		}
		if err := a.resolveConflict(ctx, r.ID, "applied"); err != nil {
			return err
		}
	}
	return nil
}

// retryMigration applies a held schema version once nothing holds it.
func (a *applier) retryMigration(ctx context.Context, id int64, c changelog.Change, release bool, res *Result) error {
	problem, err := a.tryMigration(ctx, c, id, release, res)
	if err != nil || problem != "" {
		return err
	}
	return a.resolveConflict(ctx, id, "applied")
}

func (a *applier) resolveConflict(ctx context.Context, id int64, how string) error {
	_, err := a.tx.ExecContext(ctx, `UPDATE _trigsync_conflicts SET resolved = ? WHERE id = ?`,
		how+" "+time.Now().UTC().Format(time.RFC3339), id)
	if err != nil {
		return fmt.Errorf("resolve conflict %d: %w", id, err)
	}
	return nil
}

// hold sets a change aside as held. When it waits behind (behind) an
// earlier conflict of its row in table t, that conflict may heal now.
func (a *applier) hold(ctx context.Context, c changelog.Change, t schema.Table, behind bool, problem string, res *Result) error {
	if err := a.setAside(ctx, "held", c, problem); err != nil {
		return err
	}
	if behind {
		folded, err := a.heal(ctx, c, t, false, res)
		if err != nil || len(folded) > 0 {
			return err
		}
	}
	res.Held++
	return nil
}

// postpone makes a change wait for the end of its batch, with the row it
// changes.
func (a *applier) postpone(p postponed) {
	if a.postponedRows == nil {
		a.postponedRows = map[string]bool{}
	}
	a.postponed, a.postponedRows[p.row()] = append(a.postponed, p), true
}

// row names the row p changes.
func (p postponed) row() string { return rowID(p.t.Name, rowKey(p.c.Key)) }

// setAsidePostponed sets aside the changes whose parent never came in
// their batch: the first of a row as an `error`, the later ones of the row
// as `error`s waiting for it (they are logged already). Such a row's later
// changes may heal it (a delete, a new parent this node has).
func (a *applier) setAsidePostponed(ctx context.Context, list []postponed, res *Result) error {
	var rows []string
	byRow := map[string][]postponed{}
	for _, p := range list {
		r := p.row()
		if byRow[r] == nil {
			rows = append(rows, r)
		}
		byRow[r] = append(byRow[r], p)
	}
	for _, r := range rows {
		why := "FOREIGN KEY constraint failed: the row it refers to is missing on this node"
		for i, p := range byRow[r] {
			if err := a.setAside(ctx, "error", p.c, why); err != nil {
				return err
			}
			if i == 0 {
				var id int64
				if err := a.tx.GetContext(ctx, &id, `SELECT max(id) FROM _trigsync_conflicts`); err != nil {
					return fmt.Errorf("record conflict: %w", err)
				}
				why = fmt.Sprintf("waits for conflict %d, an earlier change of the same row", id)
			}
		}
		if len(byRow[r]) == 1 {
			res.Conflicts++
			continue
		}
		first := byRow[r][0]
		folded, err := a.heal(ctx, first.c, first.t, false, res)
		if err != nil {
			return err
		}
		if len(folded) == 0 {
			res.Conflicts += len(byRow[r])
		}
	}
	return nil
}

// Action is what an operator does with conflicts.
type Action int

// The operator's actions.
const (
	Retry   Action = iota // merge failed changes again (after fixing the cause)
	Release               // apply held changes even if their stamps are ahead
	Discard               // drop them, keeping the record
)

// Resolve acts on the unresolved conflicts with the given ids (all when
// none are given) in one transaction and returns how many it resolved.
func Resolve(ctx context.Context, db *sqlx.DB, action Action, ids []int64, opts Options) (int, error) {
	var open int
	if err := db.GetContext(ctx, &open, `SELECT count(*) FROM _trigsync_conflicts WHERE resolved IS NULL`); err != nil {
		return 0, fmt.Errorf("resolve conflicts: %w", err)
	}
	s, err := Begin(ctx, db, opts)
	if err != nil {
		return 0, err
	}
	defer s.Rollback()
	a, tx := s.a, s.tx
	res := &s.res
	switch action {
	case Retry:
		err = a.retry(ctx, []string{"error", "held"}, ids, false, res)
	case Release:
		err = a.retry(ctx, []string{"held"}, ids, true, res)
	case Discard:
		var list []int64
		if err = tx.SelectContext(ctx, &list, `SELECT id FROM _trigsync_conflicts WHERE resolved IS NULL`); err == nil {
			for _, id := range list {
				if len(ids) == 0 || slices.Contains(ids, id) {
					if err = a.resolveConflict(ctx, id, "discarded"); err != nil {
						break
					}
				}
			}
		}
	}
	if err != nil {
		return 0, err
	}
	var left int
	if err := tx.GetContext(ctx, &left, `SELECT count(*) FROM _trigsync_conflicts WHERE resolved IS NULL`); err != nil {
		return 0, err
	}
	if _, err := s.Commit(ctx, "", 0, 0); err != nil {
		return 0, err
	}
	return open - left, nil
}

// Conflicts that heal (docs/MERGE.md). A change the database refused (an
// `error` conflict) holds the later changes of its row behind it. Those
// later changes may be what fixes it — the origin renamed the clashing
// email, deleted the row — but applied one by one the first still fails.
// So the row's open conflicts are folded, in order, into the row the merge
// rules make of all of them, and that row is written in one statement.

// link is one open conflict of a row, ready to fold.
type link struct {
	id     int64
	kind   string
	c      changelog.Change // translated to this node's schema version
	d      changelog.Description
	origin int64
	lost   bool // cells of dropped columns were left out
}

// heal folds the open conflicts of c's row (in table t) when the first of
// them is an `error` and later changes of the row wait behind it, and
// writes the folded row. On success every folded conflict is resolved,
// the merge state is what applying them one by one would have made, and
// each held one is logged as received; it returns their ids. When the
// database still refuses the row, or there is nothing to fold, nothing
// changes and it returns none.
func (a *applier) heal(ctx context.Context, c changelog.Change, t schema.Table, release bool, res *Result) ([]int64, error) {
	chain, err := a.chain(ctx, c, release)
	if err != nil || len(chain) < 2 {
		return nil, err
	}
	f, err := a.fold(ctx, t, chain)
	if err != nil {
		return nil, err
	}
	if err := a.writeFold(ctx, t, f); err != nil {
		if refusedByData(err) {
			return nil, nil // still refused: the conflicts stay as they were
		}
		return nil, err
	}
	if err := a.saveFold(ctx, t, f); err != nil {
		return nil, err
	}
	ids := make([]string, len(chain))
	folded := make([]int64, len(chain))
	for i, l := range chain {
		ids[i], folded[i] = fmt.Sprint(l.id), l.id
	}
	how := "applied (healed: conflicts " + strings.Join(ids, ", ") + " written as one row)"
	for _, l := range chain {
		a.maxHLC = max(a.maxHLC, l.c.HLC)
		res.Applied++
		if l.lost {
			res.Dropped++
		}
		if l.kind == "held" { // not in the log yet: log it as received, in order
			if err := a.appendLog(ctx, postponed{l.c, l.d, t, l.origin}); err != nil {
				return nil, err
			}
		}
		if err := a.resolveConflict(ctx, l.id, how); err != nil {
			return nil, err
		}
	}
	for _, c := range f.collisions {
		res.Conflicts++
		if err := a.setAside(ctx, "notice", c, "two inserts of one primary key met: the one with the greater stamp holds the row"); err != nil {
			return nil, err
		}
	}
	return folded, nil
}

// chain reads the open conflicts of c's row, oldest first, when the first
// is an `error`: as many as could apply now, in order. A held one must not
// wait for anything but its row's earlier conflicts (an earlier held
// change of its origin, unknown names, a stamp ahead).
func (a *applier) chain(ctx context.Context, c changelog.Change, release bool) ([]link, error) {
	var rows []struct {
		ID     int64  `db:"id"`
		Kind   string `db:"kind"`
		Change string `db:"change"`
	}
	if err := a.st.q.selectx(ctx, &rows, `SELECT id, kind, change FROM _trigsync_conflicts
		WHERE tbl = ? AND pk = ? AND resolved IS NULL AND kind <> 'notice' ORDER BY id`, c.Table, rowKey(c.Key)); err != nil {
		return nil, fmt.Errorf("read the conflicts of a row: %w", err)
	}
	if len(rows) < 2 || rows[0].Kind != "error" {
		return nil, nil
	}
	var chain []link
	for i, r := range rows {
		var x changelog.Change
		if err := json.Unmarshal([]byte(r.Change), &x); err != nil {
			return nil, fmt.Errorf("conflict %d: %w", r.ID, err)
		}
		// A counter's deltas add to a value the fold cannot know: the
		// chain ends before them, and they wait for the one-by-one path.
		if x.Op == changelog.Schema || x.Op == changelog.Add {
			break
		}
		x, void := a.unfork(x)
		if void {
			break // the one-by-one retry resolves it
		}
		x, lost, gone, problem, err := a.translate(x)
		if err != nil {
			return nil, err
		}
		if gone || problem != "" {
			break
		}
		d, _, problem := a.check(x)
		if release && problem != "" {
			d, _, problem = a.resolve(x)
		}
		if problem == "" && i == 0 {
			problem, err = a.waiting(ctx, x, r.ID)
		} else if problem == "" && r.Kind == "held" {
			problem, err = a.originWaits(ctx, x, r.ID)
		}
		if err != nil {
			return nil, err
		}
		if problem != "" {
			break
		}
		origin, err := a.st.ref(ctx, x.Origin)
		if err != nil {
			return nil, err
		}
		chain = append(chain, link{id: r.ID, kind: r.Kind, c: x, d: d, origin: origin, lost: lost})
	}
	return chain, nil
}

// originWaits says whether a held change of a row must still wait for an
// earlier held change of its origin, of another row (those of its own row
// fold with it): it is logged only after them.
func (a *applier) originWaits(ctx context.Context, c changelog.Change, id int64) (string, error) {
	var other int64
	err := a.st.q.get(ctx, &other, `SELECT ifnull(min(id), 0) FROM _trigsync_conflicts
		WHERE resolved IS NULL AND kind = 'held' AND id < ? AND json_extract(change, '$.origin') = ? AND NOT (tbl = ? AND pk = ?)`,
		id, c.Origin, c.Table, rowKey(c.Key))
	if err != nil {
		return "", fmt.Errorf("look up held changes of the origin: %w", err)
	}
	if other == 0 {
		return "", nil
	}
	return fmt.Sprintf("waits for conflict %d, an earlier change of the same origin held here", other), nil
}

// folded is what a chain of changes makes of a row, as merge would have
// made it applying them one by one: the row's merge state, what to write to
// the table, and the cell-stamp writes in order.
type folded struct {
	key        changelog.Cells
	pk         string
	start, row lww.Row
	startKnown bool
	known      bool
	present0   bool              // the row is in the table now
	present    bool              // the row is in the table after the chain
	whole      *changelog.Change // the insert whose row is written whole, if one won
	cols       []string          // the cells updates won since (or on the row as it is), in order
	values     map[string]changelog.Value
	ops        []cellOp
	collisions []changelog.Change // inserts that met a live row of another incarnation
	stamps     map[string]lww.Stamp
}

// cellOp is a write of the cell stamps: a reset of the row's, or one saved.
type cellOp struct {
	reset bool
	col   string
	stamp lww.Stamp
}

// fold runs the chain through lww.Decide in memory, mirroring merge.
func (a *applier) fold(ctx context.Context, t schema.Table, chain []link) (*folded, error) {
	key := localNames(chain[0].d, chain[0].c).Key
	f := &folded{key: key, pk: rowKey(key), values: map[string]changelog.Value{}, stamps: map[string]lww.Stamp{}}
	var err error
	if f.row, f.known, err = a.st.row(ctx, t.Name, f.pk); err != nil {
		return nil, err
	}
	f.start, f.startKnown = f.row, f.known
	where, keyArgs := keyWhere(t, key)
	if err := a.st.q.get(ctx, &f.present0, "SELECT EXISTS (SELECT 1 FROM "+schema.Quote(t.Name)+" WHERE "+where+")", keyArgs...); err != nil {
		return nil, fmt.Errorf("look up a row of %s: %w", schema.Quote(t.Name), err)
	}
	f.present = f.present0
	var cells []struct {
		Col  string `db:"col"`
		HLC  int64  `db:"hlc"`
		Node int64  `db:"node"`
	}
	if err := a.st.q.selectx(ctx, &cells, `SELECT col, hlc, node FROM _trigsync_cells WHERE tbl = ? AND pk = ?`, t.Name, f.pk); err != nil {
		return nil, fmt.Errorf("read cell stamps of %s: %w", schema.Quote(t.Name), err)
	}
	for _, cell := range cells {
		if err := a.st.resolve(ctx, cell.Node); err != nil {
			return nil, err
		}
		f.stamps[strings.ToLower(cell.Col)] = a.st.stamp(cell.HLC, cell.Node)
	}
	for _, l := range chain {
		f.step(localNames(l.d, l.c), l.c)
	}
	return f, nil
}

// step folds one change (c, in local names; orig as received) in.
func (f *folded) step(c, orig changelog.Change) {
	row := f.row
	if !f.known { // as merge assumes: a new row for an insert, else one from before install
		row.Exists = c.Op != changelog.Insert
	}
	lc, _ := lwwChange(c) // the chain holds row changes only, and no deltas
	var cellStamps []lww.Stamp
	if c.Op == changelog.Update {
		for _, cell := range c.Set {
			s, ok := f.stamps[strings.ToLower(cell.Column)]
			if !ok {
				s = row.Incarnation
			}
			cellStamps = append(cellStamps, s)
		}
	}
	dec := lww.Decide(row, cellStamps, lc)
	reset := func() {
		if f.known { // merge resets the stamps of a row it knows only
			clear(f.stamps)
			f.ops = append(f.ops, cellOp{reset: true})
		}
	}
	switch dec.Write {
	case lww.Replace:
		if !f.known && f.present {
			dec.Collision = true // a row from before install holds the key
		}
		reset()
		f.whole, f.present, f.cols = &c, true, nil
		clear(f.values)
	case lww.SetCells:
		if !f.present {
			break // the UPDATE finds no row: merge saves no stamp
		}
		for i, cell := range c.Set {
			if !dec.Cells[i] {
				continue
			}
			col := strings.ToLower(cell.Column)
			if _, ok := f.values[col]; !ok {
				f.cols = append(f.cols, cell.Column)
			}
			f.values[col], f.stamps[col] = cell.Value, lc.Stamp
			f.ops = append(f.ops, cellOp{col: cell.Column, stamp: lc.Stamp})
		}
	case lww.Remove:
		reset()
		f.whole, f.present, f.cols = nil, false, nil
		clear(f.values)
	}
	if dec.Collision {
		f.collisions = append(f.collisions, orig)
	}
	if dec.Row != row {
		f.row, f.known = dec.Row, true
	}
}

// writeFold writes the folded row to the table in one statement.
func (a *applier) writeFold(ctx context.Context, t schema.Table, f *folded) error {
	q := schema.Quote(t.Name)
	where, keyArgs := keyWhere(t, f.key)
	switch {
	case !f.present && f.present0:
		_, err := a.exec(ctx, "DELETE FROM "+q+" WHERE "+where, keyArgs...)
		return err
	case f.present && f.whole != nil:
		w := *f.whole
		w.Set = append(changelog.Cells(nil), w.Set...)
		for i, cell := range w.Set {
			if v, ok := f.values[strings.ToLower(cell.Column)]; ok {
				w.Set[i].Value = v
			}
		}
		for _, col := range f.cols {
			if !slices.ContainsFunc(w.Set, func(cell changelog.Cell) bool { return strings.EqualFold(cell.Column, col) }) {
				w.Set = append(w.Set, changelog.Cell{Column: col, Value: f.values[strings.ToLower(col)]})
			}
		}
		var args []any
		for _, cs := range []changelog.Cells{w.Key, w.Set} {
			for _, cell := range cs {
				args = append(args, cell.Value.SQL())
			}
		}
		_, upsert := a.insertSQL(t.Name, w)
		_, err := a.exec(ctx, upsert, args...)
		return err
	case f.present && len(f.cols) > 0:
		sets := make([]string, len(f.cols))
		args := make([]any, len(f.cols))
		for i, col := range f.cols {
			sets[i], args[i] = schema.Quote(col)+" = ?", f.values[strings.ToLower(col)].SQL()
		}
		_, err := a.exec(ctx, "UPDATE "+q+" SET "+strings.Join(sets, ", ")+" WHERE "+where, append(args, keyArgs...)...)
		return err
	}
	return nil
}

// saveFold writes the merge state the chain made.
func (a *applier) saveFold(ctx context.Context, t schema.Table, f *folded) error {
	for _, op := range f.ops {
		var err error
		if op.reset {
			err = a.st.resetCells(ctx, t.Name, f.pk)
		} else {
			err = a.st.saveCell(ctx, t.Name, f.pk, op.col, op.stamp)
		}
		if err != nil {
			return err
		}
	}
	if f.row != f.start || f.known != f.startKnown {
		return a.st.saveRow(ctx, t.Name, f.pk, f.row)
	}
	return nil
}

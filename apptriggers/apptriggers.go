// Package apptriggers decides which of the application's own triggers run
// when the applier writes a peer's change (docs/MERGE.md, "The
// application's triggers"). A trigger whose effects are replicated does
// not: its origin ran it and logged what it wrote, and those changes arrive
// too. A trigger that writes only tables that are not replicated (an FTS5
// external-content index, a local cache) does, so every node's derived data
// follows every row. The rule reads what a trigger's body writes; a choice
// stored per trigger overrides it.
package apptriggers

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/ddl"
)

// Action is what a trigger does when a peer's change is applied.
type Action string

// The actions.
const (
	Fire      Action = "fire"      // it runs: it keeps local data in step
	Skip      Action = "skip"      // it does not run: its effects arrive as replicated changes
	Undecided Action = "undecided" // the rule cannot tell: nothing applies until the user chooses
)

// Trigger is one of the application's triggers on a replicated table, as
// classified.
type Trigger struct {
	Name   string   `json:"name"`
	Table  string   `json:"table"`
	SQL    string   `json:"-"`
	Writes []string `json:"writes"` // the tables it writes, also through the triggers of local tables it writes
	Action Action   `json:"on_apply"`
	Chosen bool     `json:"chosen,omitempty"` // Action is the stored choice, not the rule's
	Why    string   `json:"why"`
}

// Plan is the classification of every application trigger on the
// replicated tables, sorted by name.
type Plan []Trigger

// ErrUndecided means an application trigger on a replicated table writes
// both replicated tables and local ones (or cannot be read): either way of
// running it on apply would be wrong for one half, so nothing is applied
// until the user chooses.
var ErrUndecided = errors.New("an application trigger needs a choice")

// Check fails with ErrUndecided, naming the triggers and the way out,
// when any trigger of the plan is undecided.
func (p Plan) Check() error {
	var msgs []string
	for _, t := range p {
		if t.Action == Undecided {
			msgs = append(msgs, fmt.Sprintf("trigger %q on %q: %s", t.Name, t.Table, t.Why))
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s; this node applies no peer change until you choose, with `trigsync install DB --trigger NAME=skip` "+
		"(it does not run on apply: the changes its origin logged arrive instead) or `--trigger NAME=fire` (it runs on apply as on a local write), "+
		"or split it into one trigger per kind of table (docs/MERGE.md, \"The application's triggers\")",
		ErrUndecided, strings.Join(msgs, "; "))
}

// Skipped returns the triggers that must not run on apply.
func (p Plan) Skipped() []Trigger {
	var out []Trigger
	for _, t := range p {
		if t.Action == Skip {
			out = append(out, t)
		}
	}
	return out
}

// Definition is a trigger as sqlite_schema holds it.
type Definition struct {
	Name  string `db:"name"`
	Table string `db:"tbl_name"`
	SQL   string `db:"sql"`
}

// ownPrefix names trigsync's objects, whose triggers are never the
// application's.
const ownPrefix = "_trigsync_"

// Definitions reads every trigger of the main schema but trigsync's own.
func Definitions(ctx context.Context, q sqlx.QueryerContext) ([]Definition, error) {
	var defs []Definition
	if err := sqlx.SelectContext(ctx, q, &defs, `SELECT name, tbl_name, sql FROM sqlite_schema
		WHERE type = 'trigger' AND substr(name, 1, length(?)) <> ? ORDER BY name`, ownPrefix, ownPrefix); err != nil {
		return nil, fmt.Errorf("list the application's triggers: %w", err)
	}
	return defs, nil
}

// Load classifies the application's triggers on the tables replicated
// says are replicated, with the stored choices.
func Load(ctx context.Context, q sqlx.QueryerContext, replicated func(table string) bool) (Plan, error) {
	defs, err := Definitions(ctx, q)
	if err != nil || len(defs) == 0 {
		return nil, err
	}
	choices, err := Choices(ctx, q)
	if err != nil {
		return nil, err
	}
	return Classify(defs, replicated, choices), nil
}

// Classify applies the rule to the triggers of defs on replicated tables:
//
//	body writes                        on apply
//	replicated tables only             skip: its effects arrive as the changes its origin logged
//	no table (a check that raises)     skip: the origin checked
//	only tables not replicated         fire: local derived data follows every row
//	both, or trigsync cannot read it   undecided
//
// A trigger writing a local table also writes what that table's triggers
// write. A choice (by trigger name) overrides the rule.
func Classify(defs []Definition, replicated func(table string) bool, choices map[string]Action) Plan {
	on := map[string][]Definition{} // by lower-case table
	for _, d := range defs {
		key := strings.ToLower(d.Table)
		on[key] = append(on[key], d)
	}
	c := classifier{on: on, replicated: replicated, writes: map[string]closure{}}
	var plan Plan
	for _, d := range defs {
		if !replicated(d.Table) {
			continue
		}
		t := Trigger{Name: d.Name, Table: d.Table, SQL: d.SQL}
		w := c.closure(d, map[string]bool{})
		t.Writes = w.tables
		var repl, local []string
		for _, table := range w.tables {
			if replicated(table) {
				repl = append(repl, table)
			} else {
				local = append(local, table)
			}
		}
		switch {
		case w.err != nil:
			t.Action, t.Why = Undecided, "trigsync cannot read what its body writes: "+w.err.Error()
		case len(repl) > 0 && len(local) > 0:
			t.Action, t.Why = Undecided, fmt.Sprintf("it writes replicated %s and local %s", list(repl), list(local))
		case len(repl) > 0:
			t.Action, t.Why = Skip, fmt.Sprintf("it writes replicated %s: those changes arrive from its origin", list(repl))
		case len(local) > 0:
			t.Action, t.Why = Fire, fmt.Sprintf("it writes only local %s: kept in step on every node", list(local))
		default:
			t.Action, t.Why = Skip, "it writes no table (a check): the origin ran it"
		}
		if a, ok := choices[strings.ToLower(d.Name)]; ok {
			t.Action, t.Chosen, t.Why = a, true, "chosen with install --trigger; the rule says: "+t.Why
		}
		plan = append(plan, t)
	}
	slices.SortFunc(plan, func(a, b Trigger) int { return strings.Compare(a.Name, b.Name) })
	return plan
}

type closure struct {
	tables []string
	err    error
}

type classifier struct {
	on         map[string][]Definition
	replicated func(string) bool
	writes     map[string]closure // by lower-case trigger name
}

// closure returns what trigger d writes, following the triggers of the
// local tables it writes; visiting guards against cycles.
func (c classifier) closure(d Definition, visiting map[string]bool) closure {
	key := strings.ToLower(d.Name)
	if w, ok := c.writes[key]; ok {
		return w
	}
	if visiting[key] {
		return closure{}
	}
	visiting[key] = true
	direct, err := ddl.TriggerWrites(d.SQL)
	w := closure{err: err}
	seen := map[string]bool{}
	add := func(table string) {
		if k := strings.ToLower(table); !seen[k] {
			seen[k] = true
			w.tables = append(w.tables, table)
		}
	}
	for _, table := range direct {
		add(table)
		if c.replicated(table) {
			continue // its own triggers are classified in their own right
		}
		for _, next := range c.on[strings.ToLower(table)] {
			nw := c.closure(next, visiting)
			if nw.err != nil && w.err == nil {
				w.err = fmt.Errorf("trigger %q on %q, which it writes: %w", next.Name, next.Table, nw.err)
			}
			for _, t := range nw.tables {
				add(t)
			}
		}
	}
	c.writes[key] = w
	return w
}

func list(tables []string) string {
	q := make([]string, len(tables))
	for i, t := range tables {
		q[i] = fmt.Sprintf("%q", t)
	}
	return strings.Join(q, ", ")
}

// choicesKey is the _trigsync_meta key of the stored choices.
const choicesKey = "trigger_choices"

// Choices reads the stored choices, by lower-case trigger name.
func Choices(ctx context.Context, q sqlx.QueryerContext) (map[string]Action, error) {
	var raw string
	err := sqlx.GetContext(ctx, q, &raw, `SELECT value FROM _trigsync_meta WHERE key = ?`, choicesKey)
	if errors.Is(err, sql.ErrNoRows) {
		return map[string]Action{}, nil
	}
	var stored map[string]Action
	if err == nil {
		err = json.Unmarshal([]byte(raw), &stored)
	}
	if err != nil {
		return nil, fmt.Errorf("read the trigger choices: %w", err)
	}
	out := make(map[string]Action, len(stored))
	for name, a := range stored {
		out[strings.ToLower(name)] = a
	}
	return out, nil
}

// ParseChoice reads NAME=fire, NAME=skip or NAME=auto (forget the choice:
// the rule decides), as `install --trigger` takes it.
func ParseChoice(s string) (name string, a Action, err error) {
	name, v, ok := strings.Cut(s, "=")
	name = strings.TrimSpace(name)
	switch a = Action(strings.ToLower(strings.TrimSpace(v))); {
	case !ok || name == "":
		return "", "", fmt.Errorf("trigger choice %q: want NAME=fire, NAME=skip or NAME=auto", s)
	case a != Fire && a != Skip && a != "auto":
		return "", "", fmt.Errorf("trigger choice %q: %q is not fire, skip or auto", s, v)
	}
	return name, a, nil
}

// StoreChoices merges choices (by trigger name; "auto" forgets one) into
// the stored ones. A name must be one of defs: a choice for a trigger that
// does not exist is a typo.
func StoreChoices(ctx context.Context, tx *sqlx.Tx, defs []Definition, choices map[string]Action) error {
	if len(choices) == 0 {
		return nil
	}
	stored, err := Choices(ctx, tx)
	if err != nil {
		return err
	}
	for name, a := range choices {
		if !slices.ContainsFunc(defs, func(d Definition) bool { return strings.EqualFold(d.Name, name) }) {
			return fmt.Errorf("--trigger %s=%s: the database has no trigger %q of the application's", name, a, name)
		}
		if a == "auto" {
			delete(stored, strings.ToLower(name))
		} else {
			stored[strings.ToLower(name)] = a
		}
	}
	b, _ := json.Marshal(stored)
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO _trigsync_meta(key, value) VALUES (?, ?)`, choicesKey, string(b)); err != nil {
		return fmt.Errorf("store the trigger choices: %w", err)
	}
	return nil
}

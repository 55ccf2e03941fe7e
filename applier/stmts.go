package applier

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// stmts prepares each distinct statement once per transaction: applying a
// change runs a few statement shapes, and preparing them again for every
// change would cost more than running them.
type stmts struct {
	tx *sqlx.Tx
	m  map[string]*sqlx.Stmt
}

func newStmts(tx *sqlx.Tx) *stmts { return &stmts{tx: tx, m: map[string]*sqlx.Stmt{}} }

func (s *stmts) prep(ctx context.Context, q string) (*sqlx.Stmt, error) {
	if st, ok := s.m[q]; ok {
		return st, nil
	}
	st, err := s.tx.PreparexContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("prepare %.60s: %w", q, err)
	}
	s.m[q] = st
	return st, nil
}

// ExecContext runs a statement (it makes stmts a sqlx.ExecerContext).
func (s *stmts) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := s.prep(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// get and selectx run point lookups without the context's cancellation:
// database/sql watches a cancellable context with a goroutine per query,
// which costs more than these queries. Session.Apply checks for
// cancellation between changes.
func (s *stmts) get(ctx context.Context, dest any, q string, args ...any) error {
	st, err := s.prep(ctx, q)
	if err != nil {
		return err
	}
	return st.GetContext(context.WithoutCancel(ctx), dest, args...)
}

func (s *stmts) selectx(ctx context.Context, dest any, q string, args ...any) error {
	st, err := s.prep(ctx, q)
	if err != nil {
		return err
	}
	return st.SelectContext(context.WithoutCancel(ctx), dest, args...)
}

package sqlitedb

import (
	"container/list"
	"context"
	"database/sql/driver"
	"fmt"

	"modernc.org/sqlite"
)

// cachedStatements is how many prepared statements each connection keeps.
// A hub answers every request with the same few dozen statements; parsing
// them again was a third of its CPU per sync (docs/BENCHMARKS.md, "Fleet").
const cachedStatements = 128

// connector opens driver connections that keep their prepared statements.
type connector struct {
	drv driver.Driver
	dsn string
}

func (c connector) Connect(context.Context) (driver.Conn, error) {
	dc, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	inner, ok := dc.(innerConn)
	if !ok {
		dc.Close()
		return nil, fmt.Errorf("the SQLite driver's connection (%T) lacks what the statement cache needs", dc)
	}
	return &conn{innerConn: inner, byQuery: map[string]*list.Element{}, lru: list.New()}, nil
}

func (c connector) Driver() driver.Driver { return c.drv }

// innerConn is what modernc.org/sqlite's connection offers and conn uses.
type innerConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	NewRestore(src string) (*sqlite.Backup, error)
}

// conn is a connection that keeps up to cachedStatements prepared
// statements, by their SQL text, least recently used first out. A
// statement whose rows are still open when its SQL runs again on the
// connection (a query inside a loop over the same query's rows) is
// prepared afresh for that run. SQLite re-prepares a cached statement by
// itself after a schema change.
type conn struct {
	innerConn
	byQuery map[string]*list.Element // of *cached
	lru     *list.List               // front: most recently used
}

type cached struct {
	query string
	stmt  driver.Stmt
	busy  bool // its rows are open
}

// statement returns the cached statement of query, preparing it when new;
// nil when the cached one is busy.
func (c *conn) statement(ctx context.Context, query string) (*cached, error) {
	if e, ok := c.byQuery[query]; ok {
		st := e.Value.(*cached)
		if st.busy {
			return nil, nil
		}
		c.lru.MoveToFront(e)
		return st, nil
	}
	s, err := c.innerConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st := &cached{query: query, stmt: s}
	c.byQuery[query] = c.lru.PushFront(st)
	for c.lru.Len() > cachedStatements {
		c.evict(c.lru.Back())
	}
	return st, nil
}

// evict drops a statement from the cache, closing it unless its rows are
// open (they close it then).
func (c *conn) evict(e *list.Element) {
	st := c.lru.Remove(e).(*cached)
	delete(c.byQuery, st.query)
	if !st.busy {
		st.stmt.Close()
	}
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	st, err := c.statement(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.innerConn.ExecContext(ctx, query, args)
	}
	return st.stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	st, err := c.statement(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.innerConn.QueryContext(ctx, query, args)
	}
	rows, err := st.stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	st.busy = true
	return &cachedRows{Rows: rows, c: c, st: st}, nil
}

func (c *conn) Close() error {
	for e := c.lru.Front(); e != nil; e = e.Next() {
		if st := e.Value.(*cached); !st.busy {
			st.stmt.Close()
		}
	}
	c.byQuery, c.lru = nil, list.New()
	return c.innerConn.Close()
}

// cachedRows frees its statement for the next run when closed.
type cachedRows struct {
	driver.Rows
	c  *conn
	st *cached
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.st.busy = false
	if _, still := r.c.byQuery[r.st.query]; !still { // evicted while open
		r.st.stmt.Close()
	}
	return err
}

// PrepareContext hands out the cached statement of query (prepared afresh
// when it is busy) until the caller closes it.
func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	st, err := c.statement(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.innerConn.PrepareContext(ctx, query)
	}
	st.busy = true
	return &heldStmt{c: c, st: st}, nil
}

// heldStmt is a cached statement a caller prepared; closing it gives it
// back to the cache.
type heldStmt struct {
	c  *conn
	st *cached
}

func (h *heldStmt) Close() error {
	h.st.busy = false
	if _, still := h.c.byQuery[h.st.query]; !still { // evicted while held
		return h.st.stmt.Close()
	}
	return nil
}

func (h *heldStmt) NumInput() int { return h.st.stmt.NumInput() }

// Exec and Query complete driver.Stmt; database/sql calls the Context forms.
func (h *heldStmt) Exec(args []driver.Value) (driver.Result, error) {
	return h.ExecContext(context.Background(), named(args))
}

func (h *heldStmt) Query(args []driver.Value) (driver.Rows, error) {
	return h.QueryContext(context.Background(), named(args))
}

func named(args []driver.Value) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, v := range args {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return out
}

func (h *heldStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return h.st.stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (h *heldStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return h.st.stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
}

// Package metrics exposes a node's replication figures to Prometheus:
// counters of what was applied, sent, set aside and what failed, and, read
// from the database at each scrape, what every peer still lacks and how
// far behind it is. It holds no global state: each Metrics has its own
// registry.
package metrics

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/peers"
)

// Operations, the values of the op label.
const (
	Pull     = "pull"     // this node pulled from a peer
	Push     = "push"     // this node pushed to a peer
	Serve    = "serve"    // a peer pulled from this node
	Received = "received" // a peer pushed to this node
	GC       = "gc"       // log GC
)

// Metrics counts what a node does and reads the rest from its database.
type Metrics struct {
	reg       *prometheus.Registry
	applied   prometheus.Counter
	sent      prometheus.Counter
	conflicts prometheus.Counter
	held      prometheus.Counter
	dropped   prometheus.Counter
	errors    *prometheus.CounterVec
	overload  prometheus.Counter
}

// New returns the metrics of the node db holds.
func New(db *sqlx.DB, log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		applied: prometheus.NewCounter(prometheus.CounterOpts{Name: "trigsync_changes_applied_total",
			Help: "Changes from peers applied to this node."}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{Name: "trigsync_changes_sent_total",
			Help: "Changes this node pushed that peers applied."}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{Name: "trigsync_conflicts_total",
			Help: "Changes set aside here as conflicts (see trigsync conflicts)."}),
		held: prometheus.NewCounter(prometheus.CounterOpts{Name: "trigsync_held_changes_total",
			Help: "Changes held here: unknown table or column, a wild clock, a malformed change."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "trigsync_dropped_changes_total",
			Help: "Changes made on an older schema version that lost cells of a dropped column, or all of a dropped table's change (docs/MIGRATIONS.md)."}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trigsync_errors_total",
			Help: "Failed exchanges, by operation."}, []string{"op"}),
		overload: prometheus.NewCounter(prometheus.CounterOpts{Name: "trigsync_overloaded_total",
			Help: "Requests refused with 503 because the node had as many in progress as it takes (serve --max-concurrent)."}),
	}
	for _, op := range []string{Pull, Push, Serve, Received} {
		m.errors.WithLabelValues(op)
	}
	m.reg.MustRegister(m.applied, m.sent, m.conflicts, m.held, m.dropped, m.errors, m.overload,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&dbCollector{db: db, log: log})
	return m
}

// Observe counts the outcome of one operation: res is what this node
// applied (Pull, Received) or what the peer applied (Push).
func (m *Metrics) Observe(op string, res applier.Result, err error) {
	if err != nil {
		m.errors.WithLabelValues(op).Inc()
	}
	if op == Push {
		m.sent.Add(float64(res.Applied))
		return
	}
	m.applied.Add(float64(res.Applied))
	m.conflicts.Add(float64(res.Conflicts))
	m.held.Add(float64(res.Held))
	m.dropped.Add(float64(res.Dropped))
}

// Overloaded counts one request refused with 503 (server.Config.Overloaded).
func (m *Metrics) Overloaded() { m.overload.Inc() }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

var (
	pendingDesc = prometheus.NewDesc("trigsync_peer_pending_changes",
		"Changes in this node's log the peer has not acknowledged.", []string{"peer"}, nil)
	lagDesc = prometheus.NewDesc("trigsync_peer_lag_seconds",
		"Age of the oldest change the peer has not acknowledged; 0 when it has everything.", []string{"peer"}, nil)
	successDesc = prometheus.NewDesc("trigsync_peer_last_success_timestamp_seconds",
		"When the last complete exchange with the peer ended.", []string{"peer"}, nil)
	openDesc = prometheus.NewDesc("trigsync_open_conflicts",
		"Conflicts not yet resolved, by kind (error, held, notice).", []string{"kind"}, nil)
	lastSeqDesc = prometheus.NewDesc("trigsync_changelog_last_seq",
		"The greatest seq of this node's log.", nil, nil)
)

// dbCollector reads the figures the database holds at each scrape.
type dbCollector struct {
	db  *sqlx.DB
	log *slog.Logger
}

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{pendingDesc, lagDesc, successDesc, openDesc, lastSeqDesc} {
		ch <- d
	}
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tx, err := c.db.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true}) // one read transaction (deferred: writers go on): one moment
	if err != nil {
		c.log.Warn("metrics", "err", err)
		return
	}
	defer tx.Rollback()
	ps, err := peers.List(ctx, tx, time.Now())
	if err != nil {
		c.log.Warn("metrics", "err", err)
		return
	}
	for _, p := range ps {
		ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(p.Pending), p.NodeID)
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, p.Lag, p.NodeID)
		if p.LastSuccess != nil {
			ch <- prometheus.MustNewConstMetric(successDesc, prometheus.GaugeValue, float64(p.LastSuccess.UnixMilli())/1e3, p.NodeID)
		}
	}
	open := map[string]float64{"error": 0, "held": 0, "notice": 0}
	rows, err := tx.QueryContext(ctx, `SELECT kind, count(*) FROM _trigsync_conflicts WHERE resolved IS NULL GROUP BY kind`)
	if err != nil {
		c.log.Warn("metrics", "err", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var n float64
		if rows.Scan(&kind, &n) == nil {
			open[kind] = n
		}
	}
	for kind, n := range open {
		ch <- prometheus.MustNewConstMetric(openDesc, prometheus.GaugeValue, n, kind)
	}
	var last float64
	if err := tx.GetContext(ctx, &last, `SELECT ifnull(max(seq), 0) FROM _trigsync_changelog`); err == nil {
		ch <- prometheus.MustNewConstMetric(lastSeqDesc, prometheus.GaugeValue, last)
	}
}

// Package metrics exposes a node's replication figures to Prometheus:
// counters of what was applied, sent, set aside and what failed, request
// durations and the lag of what peers receive, and, read from the
// database at each scrape, what each peer this node dials still lacks and
// how many devices dial in. No series has a label per device, so a scrape
// of a hub costs the same at 10 and 10,000 devices. It holds no global
// state: each Metrics has its own registry.
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
	served    *prometheus.HistogramVec
	lag       prometheus.Histogram
	rejected  *prometheus.CounterVec
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
	m.served = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "trigsync_request_duration_seconds",
		Help:    "Requests to the routes that read or write the database, by route: POST /v2/sync is a device's whole sync.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"route"})
	m.lag = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "trigsync_sync_lag_seconds",
		Help:    "For each read of the log that sent a peer changes, the age of the oldest of them.",
		Buckets: []float64{.1, .5, 1, 5, 15, 30, 60, 120, 300, 900, 3600, 4 * 3600, 86400, 7 * 86400}})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trigsync_rejected_total",
		Help: "Requests refused: unauthorized (401: no, a wrong or a revoked token), forbidden (403: a credential bound to another node, another origin's change)."}, []string{"reason"})
	m.rejected.WithLabelValues("unauthorized")
	m.rejected.WithLabelValues("forbidden")
	for _, op := range []string{Pull, Push, Serve, Received} {
		m.errors.WithLabelValues(op)
	}
	m.reg.MustRegister(m.applied, m.sent, m.conflicts, m.held, m.dropped, m.errors, m.served, m.lag, m.rejected, m.overload,
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

// Served records a request to route (server.Config.Served).
func (m *Metrics) Served(route string, _ int, took time.Duration) {
	m.served.WithLabelValues(route).Observe(took.Seconds())
}

// Rejected counts a request refused with 401 or 403 (server.Config.Rejected).
func (m *Metrics) Rejected(status int) {
	reason := "forbidden"
	if status == http.StatusUnauthorized {
		reason = "unauthorized"
	}
	m.rejected.WithLabelValues(reason).Inc()
}

// Lag records the age of the oldest change a read sent (server.Config.Lag).
func (m *Metrics) Lag(d time.Duration) { m.lag.Observe(d.Seconds()) }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

var (
	pendingDesc = prometheus.NewDesc("trigsync_peer_pending_changes",
		"Changes in this node's log the peer (one this node dials) has not acknowledged.", []string{"peer"}, nil)
	peersDesc = prometheus.NewDesc("trigsync_peers",
		"Peers known: dialed (this node dials them: hubs, --peer) or dial-in (devices).", []string{"kind"}, nil)
	seenDesc = prometheus.NewDesc("trigsync_peers_seen",
		"Dial-in peers (devices) seen in the window.", []string{"window"}, nil)
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
	for _, d := range []*prometheus.Desc{pendingDesc, lagDesc, successDesc, openDesc, lastSeqDesc, peersDesc, seenDesc} {
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
	now := time.Now()
	ps, err := peers.Dialed(ctx, tx, now)
	if err != nil {
		c.log.Warn("metrics", "err", err)
		return
	}
	known, seen, err := peers.DialIn(ctx, tx, now.Add(-time.Hour))
	if err != nil {
		c.log.Warn("metrics", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(peersDesc, prometheus.GaugeValue, float64(len(ps)), "dialed")
	ch <- prometheus.MustNewConstMetric(peersDesc, prometheus.GaugeValue, float64(known), "dial-in")
	ch <- prometheus.MustNewConstMetric(seenDesc, prometheus.GaugeValue, float64(seen), "1h")
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

package fleet

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/devices"
	"github.com/trigsync/trigsync/internal/sqlitedb"
	"github.com/trigsync/trigsync/shipper"
	"github.com/trigsync/trigsync/triggers"
)

// Schema is the fleet's database: readings the devices write, settings
// the hub writes.
const Schema = `
CREATE TABLE readings (id TEXT PRIMARY KEY, device TEXT NOT NULL, sensor TEXT NOT NULL, value REAL, at INTEGER NOT NULL);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT, updated INTEGER);`

// template makes a database of Schema with trigsync installed at path.
func template(ctx context.Context, path string) error {
	db, err := sqlitedb.Create(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `PRAGMA journal_mode = WAL`); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, Schema); err != nil {
		return fmt.Errorf("fleet schema: %w", err)
	}
	if _, err := triggers.Install(ctx, db, triggers.Options{}); err != nil {
		return err
	}
	return nil
}

// copyNode copies the database at src to dst and gives the copy a node id
// of its own.
func copyNode(ctx context.Context, src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		return err
	}
	return inTx(ctx, dst, func(tx *sqlx.Tx) error {
		_, _, err := changelog.ResetNodeID(ctx, tx)
		return err
	})
}

// inTx runs f in a write transaction of the database at path.
func inTx(ctx context.Context, path string, f func(*sqlx.Tx) error) error {
	db, err := sqlitedb.Open(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	return sqlitedb.Write(ctx, db, f)
}

// device is one simulated device: a database file, written and synced
// as a cron job would.
type device struct {
	n       int
	path    string
	written int
	token   string                 // its bearer token
	session tls.ClientSessionCache // kept between syncs when TLS sessions resume
}

// sharedToken is the hub's token, which devices without credentials of
// their own use.
const sharedToken = "fleet-shared-token"

// credentials adds a device credential for each device to the hub's
// database.
func credentials(ctx context.Context, hubDB string, ds []*device) error {
	return inTx(ctx, hubDB, func(tx *sqlx.Tx) error {
		for _, d := range ds {
			var err error
			if d.token, err = devices.Add(ctx, tx, d.name(), "", false, time.Now()); err != nil {
				return err
			}
		}
		return nil
	})
}

func (d *device) name() string { return fmt.Sprintf("device-%05d", d.n) }

// write adds rows readings, in one transaction, the way the device's
// application would.
func write(ctx context.Context, db *sqlx.DB, d *device, rows int) error {
	if rows == 0 {
		return nil
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := time.Now().UnixMilli()
	for range rows {
		d.written++
		if _, err := tx.ExecContext(ctx, `INSERT INTO readings(id, device, sensor, value, at) VALUES (?, ?, ?, ?, ?)`,
			fmt.Sprintf("%s-%d", d.name(), d.written), d.name(), "t", float64(d.written)/10, now); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// traffic counts what the devices' connections carried.
type traffic struct {
	requests, bytes, dials atomic.Int64
}

// RoundTrip counts a request; the bytes are counted by the connections.
type countingTransport struct {
	next http.RoundTripper
	t    *traffic
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.t.requests.Add(1)
	return c.next.RoundTrip(r)
}

type countingConn struct {
	net.Conn
	t *traffic
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.t.bytes.Add(int64(n))
	return n, err
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.t.bytes.Add(int64(n))
	return n, err
}

// transport is what one sync of a device dials with: a fresh connection
// pool (a cron job is a new process), with the device's TLS session cache
// when sessions resume.
func transport(t *traffic, tlsConfig *tls.Config, d *device) http.RoundTripper {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			t.dials.Add(1)
			return countingConn{c, t}, nil
		},
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     time.Minute,
	}
	if tlsConfig != nil {
		c := tlsConfig.Clone()
		c.ClientSessionCache = d.session
		tr.TLSClientConfig = c
		tr.ForceAttemptHTTP2 = false
	}
	return countingTransport{tr, t}
}

// syncOnce is one cron run of the device: open its file, write, sync both
// ways with the hub, close.
func syncOnce(ctx context.Context, d *device, url string, rows int, t *traffic, tlsConfig *tls.Config) (shipper.Summary, error) {
	db, err := sqlitedb.Open(ctx, d.path)
	if err != nil {
		return shipper.Summary{}, err
	}
	defer db.Close()
	if err := write(ctx, db, d, rows); err != nil {
		return shipper.Summary{}, fmt.Errorf("%s: write: %w", d.name(), err)
	}
	tr := transport(t, tlsConfig, d)
	defer tr.(countingTransport).next.(*http.Transport).CloseIdleConnections()
	peer, err := shipper.NewRemote(url, shipper.RemoteConfig{Token: d.token, Transport: tr})
	if err != nil {
		return shipper.Summary{}, err
	}
	s, err := shipper.SyncRemote(ctx, db, peer, applier.Options{MaxClockSkew: applier.DefaultMaxClockSkew})
	if err != nil {
		return s, fmt.Errorf("%s: %w", d.name(), err)
	}
	return s, nil
}

// makeDevices makes n device files in dir from the template; resume gives
// each a TLS session cache.
func makeDevices(ctx context.Context, dir, tmpl string, n int, resume bool) ([]*device, error) {
	ds := make([]*device, n)
	for i := range ds {
		d := &device{n: i, path: filepath.Join(dir, fmt.Sprintf("device-%05d.db", i))}
		if resume {
			d.session = tls.NewLRUClientSessionCache(1)
		}
		if err := copyNode(ctx, tmpl, d.path); err != nil {
			return nil, fmt.Errorf("device %d: %w", i, err)
		}
		ds[i] = d
	}
	return ds, nil
}

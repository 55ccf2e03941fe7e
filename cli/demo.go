package cli

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	ucli "github.com/urfave/cli/v2"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/internal/sqlitedb"
	"github.com/trigsync/trigsync/server"
	"github.com/trigsync/trigsync/shipper"
	"github.com/trigsync/trigsync/triggers"
)

//go:embed demo.sql
var demoSchema string

func demoCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "demo",
		Usage:     "run two nodes of a demo shop on loopback, each serving the other: writes on one appear on the other",
		ArgsUsage: "DIR",
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usageError("demo takes one argument, a directory; got %d", c.NArg())
			}
			return runDemo(c, c.Args().First())
		},
	}
}

func runDemo(c *ucli.Context, dir string) error {
	ctx, out := c.Context, c.App.Writer
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	hubPath, devPath := filepath.Join(dir, "hub.db"), filepath.Join(dir, "device.db")
	for _, p := range []string{hubPath, devPath} {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Remove(p + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	hub, err := sqlitedb.Create(ctx, hubPath)
	if err != nil {
		return err
	}
	defer hub.Close()
	if _, err := hub.ExecContext(ctx, "PRAGMA journal_mode=WAL;"+demoSchema); err != nil {
		return fmt.Errorf("create the demo database: %w", err)
	}
	if _, err := triggers.Install(ctx, hub, triggers.Options{}); err != nil {
		return err
	}
	if _, err := hub.ExecContext(ctx, `VACUUM INTO ?`, devPath); err != nil {
		return fmt.Errorf("copy the hub for the device: %w", err)
	}
	dev, err := sqlitedb.Open(ctx, devPath)
	if err != nil {
		return err
	}
	defer dev.Close()
	tx, err := dev.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	if _, _, err := changelog.ResetNodeID(ctx, tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	fmt.Fprintf(out, "hub:    %s  (trigsync installed)\ndevice: %s  (a copy with its own node id)\n", hubPath, devPath)

	// Both serve on loopback, each with the other as its peer, with a fresh token.
	tok := make([]byte, 16)
	rand.Read(tok)
	token := hex.EncodeToString(tok)
	nodes := []*sqlx.DB{hub, dev}
	urls := make([]string, 2)
	lns := make([]net.Listener, 2)
	for i, db := range nodes {
		srv, err := server.New(ctx, server.Config{DB: db, Token: token})
		if err != nil {
			return err
		}
		if lns[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
		hs := &http.Server{Handler: srv.Handler()}
		go hs.Serve(lns[i])
		defer hs.Close()
		urls[i] = "http://" + lns[i].Addr().String()
	}
	loopCtx, stop := context.WithCancel(ctx)
	var loops sync.WaitGroup
	defer func() { stop(); loops.Wait() }()
	for i, db := range nodes {
		peer, err := shipper.NewRemote(urls[1-i], shipper.RemoteConfig{Token: token})
		if err != nil {
			return err
		}
		loop := &shipper.Loop{DB: db, Peers: []*shipper.Remote{peer}, Pull: time.Second, Logger: slog.New(slog.DiscardHandler)}
		loops.Add(1)
		go func() { defer loops.Done(); loop.Run(loopCtx) }()
	}
	fmt.Fprintf(out, "\nboth serve on loopback, each with the other as its peer:\n"+
		"  trigsync serve hub.db    --listen %s --peer %s\n  trigsync serve device.db --listen %s --peer %s\n",
		lns[0].Addr(), urls[1], lns[1].Addr(), urls[0])

	// A write by another client appears on the other node by itself.
	sell := `UPDATE stock SET quantity = quantity - 2 WHERE shop = 'harbour' AND product_id LIKE '%02'`
	start := time.Now()
	if shell, err := exec.LookPath("sqlite3"); err == nil {
		fmt.Fprintf(out, "\n$ sqlite3 device.db \"%s\"\n", sell)
		if b, err := exec.CommandContext(ctx, shell, "-cmd", ".timeout 5000", devPath, sell).CombinedOutput(); err != nil {
			return fmt.Errorf("sqlite3: %v: %s", err, b)
		}
	} else {
		fmt.Fprintf(out, "\n(no sqlite3 shell here: the demo writes as another client would)\n> %s\n", sell)
		if _, err := dev.ExecContext(ctx, sell); err != nil {
			return err
		}
	}
	if err := demoWait(ctx, func() (bool, error) {
		var n int
		err := hub.GetContext(ctx, &n, `SELECT quantity FROM stock WHERE shop = 'harbour' AND product_id LIKE '%02'`)
		return n == 2, err
	}); err != nil {
		return fmt.Errorf("demo: the sale did not reach the hub: %w", err)
	}
	fmt.Fprintf(out, "the hub has it %d ms later\n", time.Since(start).Milliseconds())

	// Concurrent edits of different columns of one row both survive.
	fmt.Fprintf(out, "\nat the same moment, the device renames the beans and the hub raises their price\n")
	if _, err := dev.ExecContext(ctx, `UPDATE product SET name = 'Espresso beans, 1 kg' WHERE id LIKE '%01'`); err != nil {
		return err
	}
	if _, err := hub.ExecContext(ctx, `UPDATE product SET price = 26.5 WHERE id LIKE '%01';
		INSERT INTO stock VALUES ('01936f8e-0a1b-7c3d-8e4f-5a6b7c8d9e02', 'station', 6);`); err != nil {
		return err
	}
	var a, b string
	if err := demoWait(ctx, func() (bool, error) {
		var err error
		if a, err = demoRows(hub); err != nil {
			return false, err
		}
		b, err = demoRows(dev)
		return a == b && strings.Contains(a, "Espresso beans, 1 kg, 26.50"), err
	}); err != nil {
		return fmt.Errorf("demo: the nodes did not converge: %w", err)
	}
	fmt.Fprintf(out, "\nhub:\n%s\ndevice:\n%s", a, b)
	fmt.Fprintf(out, "\nboth nodes agree: the name from the device and the price from the hub both survived.\n")
	return nil
}

// demoWait polls done for up to 30 s.
func demoWait(ctx context.Context, done func() (bool, error)) error {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return errors.New("timed out after 30 s")
}

func demoRows(db *sqlx.DB) (string, error) {
	var rows []string
	err := db.Select(&rows, `SELECT '  ' || name || ', ' || printf('%.2f', price) || ', stock ' ||
		(SELECT group_concat(shop || '=' || quantity, ' ') FROM (SELECT * FROM stock s WHERE s.product_id = p.id ORDER BY shop))
		FROM product p ORDER BY id`)
	return strings.Join(rows, "\n") + "\n", err
}

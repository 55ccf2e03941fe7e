package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"
)

func lockFlag() ucli.Flag {
	return &ucli.DurationFlag{Name: "wait", Value: 10 * time.Second, EnvVars: env("wait"),
		Usage: "wait this long for another sync of DB (an overlapping cron run) to finish"}
}

// errBusy means another sync of the database holds the lock.
var errBusy = errors.New("another trigsync sync is running on this database")

// lockSync makes sync runs of one database take turns: it takes an
// exclusive lock on the file DB-trigsync.lock, waiting up to wait, and
// returns its release. The kernel drops the lock when the process dies,
// so a killed run never blocks the next. (The lock is not on the database
// file itself: closing another descriptor of it would drop SQLite's own
// POSIX locks.)
func lockSync(ctx context.Context, db string, wait time.Duration) (func(), error) {
	if _, err := os.Stat(db); err != nil {
		return func() {}, nil // opening the database will say what is wrong
	}
	path := db + "-trigsync.lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	deadline := time.Now().Add(wait)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || !time.Now().Before(deadline) {
			holder, _ := os.ReadFile(path)
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("%w (%s, process %s); waited %s (--wait)", errBusy, db, strings.TrimSpace(string(holder)), wait)
			}
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	// Who holds it, for the message of the run that waits.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(fmt.Sprintln(os.Getpid())), 0)
	}
	return func() { f.Close() }, nil
}

package shipper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/peers"
	"github.com/trigsync/trigsync/restore"
)

// RestoredError answers an exchange with a node that found, from what the
// caller knows of it, that it was restored from an older copy of itself
// (package restore). It heals once the caller sends its records of the
// node's own changes through Through.
type RestoredError struct {
	Node    string `json:"node"`
	Through int64  `json:"through"`
	Reason  string `json:"-"`
}

func (e *RestoredError) Error() string { return e.Reason }

// Is makes a RestoredError a restore.ErrRestored.
func (e *RestoredError) Is(target error) bool { return target == restore.ErrRestored }

// checkSelf heals local when peer's knowledge k of it shows it restored,
// with peer's records of its own changes (fetched by records), and
// returns local's node id, new when it healed. The check reads two rows;
// only a heal writes.
func checkSelf(ctx context.Context, local *sqlx.DB, peer string, k restore.Knowledge, log *slog.Logger,
	records func(node string, through int64) ([]restore.Record, error)) (string, error) {
	if err := restore.Check(ctx, local, peer, k); !errors.Is(err, restore.ErrRestored) {
		if err != nil {
			return "", err
		}
		return changelog.NodeID(ctx, local)
	}
	tx, err := local.BeginTxx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("check for a restore: %w", err)
	}
	defer tx.Rollback()
	if err := applier.Integrate(ctx, tx, nil); err != nil {
		return "", err
	}
	id, err := changelog.NodeID(ctx, tx)
	if err != nil {
		return "", err
	}
	if err := restore.Check(ctx, tx, peer, k); !errors.Is(err, restore.ErrRestored) {
		return id, err
	}
	through, err := restore.Through(ctx, tx)
	if err != nil {
		return "", err
	}
	recs, err := records(id, max(through, k.OwnSeq))
	if err != nil {
		return "", fmt.Errorf("heal a restore: read peer %s's records of this node: %w", peer, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r, err := restore.Heal(ctx, tx, recs, log)
	if err != nil {
		return "", err
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("heal a restore: %w", err)
	}
	return r.New, nil
}

// HealFile heals db, restored, with the records reader holds of its own
// changes (k: what reader knows of it), in one transaction; it returns the
// new node id.
func HealFile(ctx context.Context, db, reader *sqlx.DB, k restore.Knowledge, log *slog.Logger) (string, error) {
	readerID, err := changelog.NodeID(ctx, reader)
	if err != nil {
		return "", err
	}
	id, err := checkSelf(ctx, db, readerID, k, log, func(node string, through int64) ([]restore.Record, error) {
		return restore.Records(ctx, reader, node, through)
	})
	return id, err
}

// forgetRestored drops a restored peer's old id from local's known peers:
// it has a new one, and its old cursors hold nothing back.
func forgetRestored(ctx context.Context, local *sqlx.DB, old string) error {
	_, err := peers.Forget(ctx, local, old)
	return err
}

// checkRestores checks, before a pull, both ends for a restore: the
// source against what dst read of it (a File at once; a Remote with the
// first read, which answers a *RestoredError), and, between two files,
// dst against what the source read of it. A healed end has a new id,
// which it returns.
func checkRestores(ctx context.Context, dst *sqlx.DB, src Source, srcID, dstID string, log *slog.Logger) (string, string, error) {
	k, err := restore.Of(ctx, dst, srcID)
	if err != nil {
		return srcID, dstID, err
	}
	switch src := src.(type) {
	case *Remote:
		src.knows = &k
	case *File:
		newSrc, err := HealFile(ctx, src.DB, dst, k, log)
		if err != nil {
			return srcID, dstID, err
		}
		if newSrc != srcID {
			if err := forgetRestored(ctx, dst, srcID); err != nil {
				return srcID, dstID, err
			}
			srcID = newSrc
		}
		back, err := restore.Of(ctx, src.DB, dstID)
		if err != nil {
			return srcID, dstID, err
		}
		newDst, err := HealFile(ctx, dst, src.DB, back, log)
		if err != nil {
			return srcID, dstID, err
		}
		if newDst != dstID {
			if err := forgetRestored(ctx, src.DB, dstID); err != nil {
				return srcID, dstID, err
			}
			dstID = newDst
		}
	}
	return srcID, dstID, nil
}

// healRemote answers a peer's *RestoredError: it sends the peer this
// node's records of the peer's own changes, the peer heals, and local
// forgets the peer's old id.
func healRemote(ctx context.Context, local *sqlx.DB, peer *Remote, e *RestoredError) error {
	recs, err := restore.Records(ctx, local, e.Node, e.Through)
	if err != nil {
		return err
	}
	k, err := restore.Of(ctx, local, e.Node)
	if err != nil {
		return err
	}
	localID, err := changelog.NodeID(ctx, local)
	if err != nil {
		return err
	}
	if err := peer.heal(ctx, localID, e.Node, k, recs); err != nil {
		return fmt.Errorf("heal peer %s, restored from an older copy: %w", peer.base, err)
	}
	return forgetRestored(ctx, local, e.Node)
}

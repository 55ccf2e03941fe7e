PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE note(id TEXT PRIMARY KEY, body TEXT, n INTEGER);
INSERT INTO note VALUES('a','b body',13);
INSERT INTO note VALUES('c','a after the restore',4);
INSERT INTO note VALUES('lost','a before the restore',3);
INSERT INTO note VALUES('d','not stamped',5);
CREATE TABLE _trigsync_meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
INSERT INTO _trigsync_meta VALUES('counters','{"note":["n"]}');
INSERT INTO _trigsync_meta VALUES('format',1);
INSERT INTO _trigsync_meta VALUES('integrated_seq',7);
INSERT INTO _trigsync_meta VALUES('metadata_version',5);
INSERT INTO _trigsync_meta VALUES('node_id','8f1cb2cf083d060228607016e184b026');
INSERT INTO _trigsync_meta VALUES('pruned_seq',0);
CREATE TABLE _trigsync_clock(
		id INTEGER PRIMARY KEY CHECK (id = 0),
		hlc INTEGER NOT NULL DEFAULT 0,
		stamped_seq INTEGER NOT NULL DEFAULT 0,
		epoch INTEGER NOT NULL DEFAULT 0,
		applying INTEGER NOT NULL DEFAULT 0);
INSERT INTO _trigsync_clock VALUES(0,117713208915853312,7,2,0);
CREATE TABLE _trigsync_nodes(ref INTEGER PRIMARY KEY, node_id TEXT NOT NULL UNIQUE);
INSERT INTO _trigsync_nodes VALUES(1,'258c7ea661e846e1df7123b11622c0d7');
INSERT INTO _trigsync_nodes VALUES(2,'e2ea4c09a3cbc335d271fd2252c34d24');
INSERT INTO _trigsync_nodes VALUES(3,'8f1cb2cf083d060228607016e184b026');
CREATE TABLE _trigsync_tables(
		id INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		columns TEXT NOT NULL,
		fingerprint TEXT NOT NULL,
		active INTEGER NOT NULL DEFAULT 1, schema_version INTEGER NOT NULL DEFAULT 0);
INSERT INTO _trigsync_tables VALUES(1,'note','[{"name":"id","type":"TEXT","pk":1},{"name":"body","type":"TEXT","pk":0},{"name":"n","type":"INTEGER","pk":0,"counter":true}]','b141d05b3ee16d7c2d65f070c297fe545c587ebbb47063f22df4fd4a4d9fdd41',1,0);
CREATE TABLE _trigsync_changelog(
		seq INTEGER PRIMARY KEY,
		hlc INTEGER,
		epoch INTEGER,
		tbl INTEGER,
		op TEXT,
		origin INTEGER,
		origin_seq INTEGER, inc_hlc INTEGER, inc_node INTEGER, m0 INTEGER, v0, v1, v2, v3);
INSERT INTO _trigsync_changelog VALUES(1,117713208887803904,1,1,'A',2,1,0,0,4,'a',NULL,5,NULL);
INSERT INTO _trigsync_changelog VALUES(2,117713208888131584,1,1,'I',2,2,117713208888131584,2,NULL,'b','from b',1,NULL);
INSERT INTO _trigsync_changelog VALUES(3,117713208888918016,1,1,'A',2,3,0,0,4,'a',NULL,-2,NULL);
INSERT INTO _trigsync_changelog VALUES(4,117713208888918017,1,1,'U',2,4,0,0,2,'a','b body',NULL,NULL);
INSERT INTO _trigsync_changelog VALUES(5,117713208913231872,1,1,'I',NULL,NULL,117713208913231872,3,NULL,'c','a after the restore',4,NULL);
INSERT INTO _trigsync_changelog VALUES(6,117713208915853312,2,0,'F',NULL,NULL,NULL,NULL,NULL,'258c7ea661e846e1df7123b11622c0d7',5,117713208913231872,'8f1cb2cf083d060228607016e184b026');
INSERT INTO _trigsync_changelog VALUES(7,117713208898617344,1,1,'I',1,5,117713208898617344,1,NULL,'lost','a before the restore',3,NULL);
INSERT INTO _trigsync_changelog VALUES(8,2461376.4007525001653,NULL,1,'D',NULL,NULL,NULL,NULL,NULL,'b',NULL,NULL,NULL);
INSERT INTO _trigsync_changelog VALUES(9,2461376.4007525462656,NULL,1,'I',NULL,NULL,NULL,NULL,NULL,'d','not stamped',5,NULL);
CREATE TABLE _trigsync_rows(
		tbl TEXT NOT NULL,
		pk TEXT NOT NULL,
		inc_hlc INTEGER NOT NULL,
		inc_node INTEGER NOT NULL,
		tomb_hlc INTEGER,
		tomb_node INTEGER,
		PRIMARY KEY (tbl, pk)) WITHOUT ROWID;
INSERT INTO _trigsync_rows VALUES('note','["t:b"]',117713208888131584,2,NULL,NULL);
INSERT INTO _trigsync_rows VALUES('note','["t:c"]',117713208913231872,3,NULL,NULL);
INSERT INTO _trigsync_rows VALUES('note','["t:lost"]',117713208898617344,1,NULL,NULL);
CREATE TABLE _trigsync_cells(
		tbl TEXT NOT NULL,
		pk TEXT NOT NULL,
		col TEXT NOT NULL,
		hlc INTEGER NOT NULL,
		node INTEGER NOT NULL,
		PRIMARY KEY (tbl, pk, col)) WITHOUT ROWID;
INSERT INTO _trigsync_cells VALUES('note','["t:a"]','body',117713208888918017,2);
CREATE TABLE _trigsync_origins(
		node INTEGER PRIMARY KEY,
		seq INTEGER NOT NULL, hlc INTEGER);
INSERT INTO _trigsync_origins VALUES(1,5,117713208898617344);
INSERT INTO _trigsync_origins VALUES(2,4,117713208888918017);
CREATE TABLE _trigsync_peers(
		node INTEGER PRIMARY KEY,
		pulled_seq INTEGER NOT NULL DEFAULT 0, acked_seq INTEGER NOT NULL DEFAULT 0, url TEXT, last_success INTEGER, last_error TEXT, last_error_at INTEGER, pulled_hlc INTEGER);
INSERT INTO _trigsync_peers VALUES(2,7,7,NULL,1796161025002,NULL,NULL,117713208915853312);
CREATE TABLE _trigsync_conflicts(
		id INTEGER PRIMARY KEY,
		kind TEXT NOT NULL,
		at TEXT NOT NULL,
		tbl TEXT NOT NULL,
		pk TEXT NOT NULL,
		change TEXT NOT NULL,
		error TEXT NOT NULL,
		resolved TEXT);
CREATE TABLE _trigsync_pruned(
		node INTEGER PRIMARY KEY,
		seq INTEGER NOT NULL);
CREATE TABLE _trigsync_schema(
		version INTEGER PRIMARY KEY,
		hlc INTEGER NOT NULL,
		node TEXT NOT NULL,
		sql TEXT NOT NULL,
		checksum TEXT NOT NULL);
CREATE TABLE _trigsync_forks(
		node TEXT PRIMARY KEY,
		seq INTEGER NOT NULL,
		hlc INTEGER NOT NULL,
		successor TEXT NOT NULL);
INSERT INTO _trigsync_forks VALUES('258c7ea661e846e1df7123b11622c0d7',5,117713208913231872,'8f1cb2cf083d060228607016e184b026');
CREATE INDEX _trigsync_conflicts_open ON _trigsync_conflicts(tbl, pk) WHERE resolved IS NULL;
CREATE TRIGGER "_trigsync_i_note" AFTER INSERT ON "note" FOR EACH ROW WHEN (SELECT applying FROM _trigsync_clock)=0 BEGIN
INSERT INTO _trigsync_changelog(hlc,tbl,op,v0,v1,v2) VALUES(julianday('now'),1,'I',NEW."id",NEW."body",NEW."n");
END;
CREATE TRIGGER "_trigsync_u_note" AFTER UPDATE OF "body" ON "note" FOR EACH ROW WHEN (SELECT applying FROM _trigsync_clock)=0 AND (NOT ((OLD."id" IS NOT NEW."id" COLLATE BINARY)) AND ((OLD."body" IS NOT NEW."body" COLLATE BINARY))) BEGIN
INSERT INTO _trigsync_changelog(hlc,tbl,op,m0,v0,v1) VALUES(julianday('now'),1,'U',((OLD."body" IS NOT NEW."body" COLLATE BINARY)<<1),NEW."id",CASE WHEN OLD."body" IS NOT NEW."body" COLLATE BINARY THEN NEW."body" END);
END;
CREATE TRIGGER "_trigsync_a_note" AFTER UPDATE OF "n" ON "note" FOR EACH ROW WHEN (SELECT applying FROM _trigsync_clock)=0 AND (NOT ((OLD."id" IS NOT NEW."id" COLLATE BINARY)) AND ((OLD."n" IS NOT NEW."n" COLLATE BINARY))) BEGIN
INSERT INTO _trigsync_changelog(hlc,tbl,op,m0,v0,v2) VALUES(julianday('now'),1,'A',((OLD."n" IS NOT NEW."n" COLLATE BINARY)<<2),NEW."id",CASE WHEN OLD."n" IS NOT NEW."n" COLLATE BINARY THEN CASE WHEN typeof(NEW."n") IN ('integer','real') THEN NEW."n"-ifnull(OLD."n",0) ELSE RAISE(ABORT,'trigsync: "note"."n" is a counter column: set it to a number (NULL, text or a blob cannot be replicated as a delta)') END END);
END;
CREATE TRIGGER "_trigsync_k_note" AFTER UPDATE OF "id" ON "note" FOR EACH ROW WHEN (SELECT applying FROM _trigsync_clock)=0 AND ((OLD."id" IS NOT NEW."id" COLLATE BINARY)) BEGIN
INSERT INTO _trigsync_changelog(hlc,tbl,op,v0) VALUES(julianday('now'),1,'D',OLD."id");
INSERT INTO _trigsync_changelog(hlc,tbl,op,v0,v1,v2) VALUES(julianday('now'),1,'I',NEW."id",NEW."body",NEW."n");
END;
CREATE TRIGGER "_trigsync_d_note" AFTER DELETE ON "note" FOR EACH ROW WHEN (SELECT applying FROM _trigsync_clock)=0 BEGIN
INSERT INTO _trigsync_changelog(hlc,tbl,op,v0) VALUES(julianday('now'),1,'D',OLD."id");
END;
COMMIT;

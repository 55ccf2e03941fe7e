PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE note(id TEXT PRIMARY KEY, body TEXT, n INTEGER);
INSERT INTO note VALUES('a','edited',10);
INSERT INTO note VALUES('c',X'00',2.5);
INSERT INTO note VALUES('d','unstamped',4);
CREATE TABLE _trigsync_meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
INSERT INTO _trigsync_meta VALUES('format',1);
INSERT INTO _trigsync_meta VALUES('integrated_seq',4);
INSERT INTO _trigsync_meta VALUES('metadata_version',3);
INSERT INTO _trigsync_meta VALUES('node_id','a39a1b79d1770bd39f7693a054a75a7e');
INSERT INTO _trigsync_meta VALUES('pruned_seq',0);
CREATE TABLE _trigsync_clock(
		id INTEGER PRIMARY KEY CHECK (id = 0),
		hlc INTEGER NOT NULL DEFAULT 0,
		stamped_seq INTEGER NOT NULL DEFAULT 0,
		epoch INTEGER NOT NULL DEFAULT 0,
		applying INTEGER NOT NULL DEFAULT 0);
INSERT INTO _trigsync_clock VALUES(0,117657898994696192,4,1,0);
CREATE TABLE _trigsync_nodes(ref INTEGER PRIMARY KEY, node_id TEXT NOT NULL UNIQUE);
INSERT INTO _trigsync_nodes VALUES(1,'a39a1b79d1770bd39f7693a054a75a7e');
INSERT INTO _trigsync_nodes VALUES(2,'9615ea49b9bc489d91e243609080a354');
CREATE TABLE _trigsync_tables(
		id INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		columns TEXT NOT NULL,
		fingerprint TEXT NOT NULL,
		active INTEGER NOT NULL DEFAULT 1);
INSERT INTO _trigsync_tables VALUES(1,'note','[{"name":"id","type":"TEXT","pk":1},{"name":"body","type":"TEXT","pk":0},{"name":"n","type":"INTEGER","pk":0}]','b141d05b3ee16d7c2d65f070c297fe545c587ebbb47063f22df4fd4a4d9fdd41',1);
CREATE TABLE _trigsync_changelog(
		seq INTEGER PRIMARY KEY,
		hlc INTEGER,
		epoch INTEGER,
		tbl INTEGER,
		op TEXT,
		origin INTEGER,
		origin_seq INTEGER, inc_hlc INTEGER, inc_node INTEGER, m0 INTEGER, v0, v1, v2);
INSERT INTO _trigsync_changelog VALUES(1,117657898993188864,1,1,'I',NULL,NULL,117657898993188864,1,NULL,'b','from a',2);
INSERT INTO _trigsync_changelog VALUES(2,117657898993188865,1,1,'U',NULL,NULL,0,0,2,'a','edited',NULL);
INSERT INTO _trigsync_changelog VALUES(3,117657898994630656,1,1,'I',2,3,117657898994630656,2,NULL,'c',X'00',2.5);
INSERT INTO _trigsync_changelog VALUES(4,117657898994696192,1,1,'U',2,4,0,0,4,'a',NULL,10);
INSERT INTO _trigsync_changelog VALUES(5,2461366.6326659261248,NULL,1,'D',NULL,NULL,NULL,NULL,NULL,'b',NULL,NULL);
INSERT INTO _trigsync_changelog VALUES(6,2461366.6326659373007,NULL,1,'I',NULL,NULL,NULL,NULL,NULL,'d','unstamped',4);
CREATE TABLE _trigsync_rows(
		tbl TEXT NOT NULL,
		pk TEXT NOT NULL,
		inc_hlc INTEGER NOT NULL,
		inc_node INTEGER NOT NULL,
		tomb_hlc INTEGER,
		tomb_node INTEGER,
		PRIMARY KEY (tbl, pk)) WITHOUT ROWID;
INSERT INTO _trigsync_rows VALUES('note','["t:a"]',0,0,NULL,NULL);
INSERT INTO _trigsync_rows VALUES('note','["t:b"]',117657898993188864,1,NULL,NULL);
INSERT INTO _trigsync_rows VALUES('note','["t:c"]',117657898994630656,2,NULL,NULL);
CREATE TABLE _trigsync_cells(
		tbl TEXT NOT NULL,
		pk TEXT NOT NULL,
		col TEXT NOT NULL,
		hlc INTEGER NOT NULL,
		node INTEGER NOT NULL,
		PRIMARY KEY (tbl, pk, col)) WITHOUT ROWID;
INSERT INTO _trigsync_cells VALUES('note','["t:a"]','body',117657898993188865,1);
INSERT INTO _trigsync_cells VALUES('note','["t:a"]','n',117657898994696192,2);
CREATE TABLE _trigsync_origins(
		node INTEGER PRIMARY KEY,
		seq INTEGER NOT NULL);
INSERT INTO _trigsync_origins VALUES(2,4);
CREATE TABLE _trigsync_peers(
		node INTEGER PRIMARY KEY,
		pulled_seq INTEGER NOT NULL DEFAULT 0, acked_seq INTEGER NOT NULL DEFAULT 0, url TEXT, last_success INTEGER, last_error TEXT, last_error_at INTEGER);
INSERT INTO _trigsync_peers VALUES(2,4,2,NULL,1795317062323,NULL,NULL);
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
CREATE INDEX _trigsync_conflicts_open ON _trigsync_conflicts(tbl, pk) WHERE resolved IS NULL;
CREATE TRIGGER "_trigsync_i_note" AFTER INSERT ON "note" FOR EACH ROW WHEN (SELECT applying FROM _trigsync_clock)=0 BEGIN
INSERT INTO _trigsync_changelog(hlc,tbl,op,v0,v1,v2) VALUES(julianday('now'),1,'I',NEW."id",NEW."body",NEW."n");
END;
CREATE TRIGGER "_trigsync_u_note" AFTER UPDATE OF "body","n" ON "note" FOR EACH ROW WHEN (SELECT applying FROM _trigsync_clock)=0 AND (NOT ((OLD."id" IS NOT NEW."id" COLLATE BINARY)) AND ((OLD."body" IS NOT NEW."body" COLLATE BINARY) OR (OLD."n" IS NOT NEW."n" COLLATE BINARY))) BEGIN
INSERT INTO _trigsync_changelog(hlc,tbl,op,m0,v0,v1,v2) VALUES(julianday('now'),1,'U',((OLD."body" IS NOT NEW."body" COLLATE BINARY)<<1)|((OLD."n" IS NOT NEW."n" COLLATE BINARY)<<2),NEW."id",CASE WHEN OLD."body" IS NOT NEW."body" COLLATE BINARY THEN NEW."body" END,CASE WHEN OLD."n" IS NOT NEW."n" COLLATE BINARY THEN NEW."n" END);
END;
CREATE TRIGGER "_trigsync_k_note" AFTER UPDATE OF "id" ON "note" FOR EACH ROW WHEN (SELECT applying FROM _trigsync_clock)=0 AND ((OLD."id" IS NOT NEW."id" COLLATE BINARY)) BEGIN
INSERT INTO _trigsync_changelog(hlc,tbl,op,v0) VALUES(julianday('now'),1,'D',OLD."id");
INSERT INTO _trigsync_changelog(hlc,tbl,op,v0,v1,v2) VALUES(julianday('now'),1,'I',NEW."id",NEW."body",NEW."n");
END;
CREATE TRIGGER "_trigsync_d_note" AFTER DELETE ON "note" FOR EACH ROW WHEN (SELECT applying FROM _trigsync_clock)=0 BEGIN
INSERT INTO _trigsync_changelog(hlc,tbl,op,v0) VALUES(julianday('now'),1,'D',OLD."id");
END;
COMMIT;

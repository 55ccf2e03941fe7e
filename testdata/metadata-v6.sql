PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE note(id TEXT PRIMARY KEY, body TEXT, n INTEGER);
INSERT INTO note VALUES('a','b edited',1);
INSERT INTO note VALUES('d','not stamped',5);
CREATE TABLE _trigsync_meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
INSERT INTO _trigsync_meta VALUES('counters','{}');
INSERT INTO _trigsync_meta VALUES('format',1);
INSERT INTO _trigsync_meta VALUES('integrated_seq',2);
INSERT INTO _trigsync_meta VALUES('metadata_version',6);
INSERT INTO _trigsync_meta VALUES('node_id','1389a5f2ea0913a682938bace327740d');
INSERT INTO _trigsync_meta VALUES('pruned_seq',0);
CREATE TABLE _trigsync_clock(
		id INTEGER PRIMARY KEY CHECK (id = 0),
		hlc INTEGER NOT NULL DEFAULT 0,
		stamped_seq INTEGER NOT NULL DEFAULT 0,
		epoch INTEGER NOT NULL DEFAULT 0,
		applying INTEGER NOT NULL DEFAULT 0);
INSERT INTO _trigsync_clock VALUES(0,117713635152035840,2,0,0);
CREATE TABLE _trigsync_nodes(ref INTEGER PRIMARY KEY, node_id TEXT NOT NULL UNIQUE);
INSERT INTO _trigsync_nodes VALUES(1,'1389a5f2ea0913a682938bace327740d');
INSERT INTO _trigsync_nodes VALUES(2,'766e7c23c28d4cdf0ce2dcf56916b2ce');
CREATE TABLE _trigsync_tables(
		id INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		columns TEXT NOT NULL,
		fingerprint TEXT NOT NULL,
		active INTEGER NOT NULL DEFAULT 1, schema_version INTEGER NOT NULL DEFAULT 0);
INSERT INTO _trigsync_tables VALUES(1,'note','[{"name":"id","type":"TEXT","pk":1},{"name":"body","type":"TEXT","pk":0},{"name":"n","type":"INTEGER","pk":0}]','b141d05b3ee16d7c2d65f070c297fe545c587ebbb47063f22df4fd4a4d9fdd41',1,0);
CREATE TABLE _trigsync_changelog(
		seq INTEGER PRIMARY KEY,
		hlc INTEGER,
		epoch INTEGER,
		tbl INTEGER,
		op TEXT,
		origin INTEGER,
		origin_seq INTEGER, inc_hlc INTEGER, inc_node INTEGER, m0 INTEGER, v0, v1, v2);
INSERT INTO _trigsync_changelog VALUES(1,117713635151773696,1,1,'I',2,1,117713635151773696,2,NULL,'b','from b',2);
INSERT INTO _trigsync_changelog VALUES(2,117713635152035840,1,1,'U',2,2,0,0,2,'a','b edited',NULL);
INSERT INTO _trigsync_changelog VALUES(3,2461376.4760510302147,NULL,1,'D',NULL,NULL,NULL,NULL,NULL,'b',NULL,NULL);
INSERT INTO _trigsync_changelog VALUES(4,2461376.4760510763152,NULL,1,'I',NULL,NULL,NULL,NULL,NULL,'d','not stamped',5);
CREATE TABLE _trigsync_rows(
		tbl TEXT NOT NULL,
		pk TEXT NOT NULL,
		inc_hlc INTEGER NOT NULL,
		inc_node INTEGER NOT NULL,
		tomb_hlc INTEGER,
		tomb_node INTEGER,
		PRIMARY KEY (tbl, pk)) WITHOUT ROWID;
INSERT INTO _trigsync_rows VALUES('note','["t:b"]',117713635151773696,2,NULL,NULL);
CREATE TABLE _trigsync_cells(
		tbl TEXT NOT NULL,
		pk TEXT NOT NULL,
		col TEXT NOT NULL,
		hlc INTEGER NOT NULL,
		node INTEGER NOT NULL,
		PRIMARY KEY (tbl, pk, col)) WITHOUT ROWID;
INSERT INTO _trigsync_cells VALUES('note','["t:a"]','body',117713635152035840,2);
CREATE TABLE _trigsync_origins(
		node INTEGER PRIMARY KEY,
		seq INTEGER NOT NULL, hlc INTEGER);
INSERT INTO _trigsync_origins VALUES(2,2,117713635152035840);
CREATE TABLE _trigsync_peers(
		node INTEGER PRIMARY KEY,
		pulled_seq INTEGER NOT NULL DEFAULT 0, acked_seq INTEGER NOT NULL DEFAULT 0, url TEXT, last_success INTEGER, last_error TEXT, last_error_at INTEGER, pulled_hlc INTEGER);
INSERT INTO _trigsync_peers VALUES(2,2,2,NULL,1796167529741,NULL,NULL,117713635152035840);
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
CREATE TABLE _trigsync_devices(
		name TEXT PRIMARY KEY,
		token_hash BLOB NOT NULL UNIQUE,
		node TEXT,
		hub INTEGER NOT NULL DEFAULT 0,
		created_at INTEGER NOT NULL,
		revoked_at INTEGER,
		last_seen INTEGER,
		version TEXT);
INSERT INTO _trigsync_devices VALUES('phone',X'595b9bed53870348335967c2dc296b9cd7653f660f9446f5893fad4a53419cb1','766e7c23c28d4cdf0ce2dcf56916b2ce',0,1796167528591,NULL,1796167529708,'Go-http-client/1.1');
INSERT INTO _trigsync_devices VALUES('gateway',X'037bc1aa9d5231dcb8a2bd8757e3de81355bb9ca3b2fb286fa780b2f3d5ffc11','766d7b23b28c4bce0bd2cbe56916a2bd',1,1796167528627,NULL,NULL,NULL);
INSERT INTO _trigsync_devices VALUES('old',X'933d7403bf23102f2d0beb0ee41d79fdd5dacda8faf5d3549e45f1631ce042ac',NULL,0,1796167528650,1796167528677,NULL,NULL);
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

PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE note(id TEXT PRIMARY KEY, text TEXT, n INTEGER, tag TEXT DEFAULT 'none');
INSERT INTO note VALUES('a','first',1,'red');
INSERT INTO note VALUES('b','old schema',2,'none');
INSERT INTO note VALUES('d','unstamped',4,'blue');
CREATE TABLE _trigsync_meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
INSERT INTO _trigsync_meta VALUES('format',1);
INSERT INTO _trigsync_meta VALUES('integrated_seq',5);
INSERT INTO _trigsync_meta VALUES('metadata_version',4);
INSERT INTO _trigsync_meta VALUES('node_id','b19d3d93b29d8475d3fca851fe01b2d7');
INSERT INTO _trigsync_meta VALUES('pruned_seq',0);
CREATE TABLE _trigsync_clock(
		id INTEGER PRIMARY KEY CHECK (id = 0),
		hlc INTEGER NOT NULL DEFAULT 0,
		stamped_seq INTEGER NOT NULL DEFAULT 0,
		epoch INTEGER NOT NULL DEFAULT 0,
		applying INTEGER NOT NULL DEFAULT 0);
INSERT INTO _trigsync_clock VALUES(0,117658124054495232,5,3,0);
CREATE TABLE _trigsync_nodes(ref INTEGER PRIMARY KEY, node_id TEXT NOT NULL UNIQUE);
INSERT INTO _trigsync_nodes VALUES(1,'b19d3d93b29d8475d3fca851fe01b2d7');
INSERT INTO _trigsync_nodes VALUES(2,'a6bbb8e68c3ddad3ff3bb7b6986a8cfc');
CREATE TABLE _trigsync_tables(
		id INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		columns TEXT NOT NULL,
		fingerprint TEXT NOT NULL,
		active INTEGER NOT NULL DEFAULT 1, schema_version INTEGER NOT NULL DEFAULT 0);
INSERT INTO _trigsync_tables VALUES(1,'note','[{"name":"id","type":"TEXT","pk":1},{"name":"body","type":"TEXT","pk":0},{"name":"n","type":"INTEGER","pk":0}]','b141d05b3ee16d7c2d65f070c297fe545c587ebbb47063f22df4fd4a4d9fdd41',0,0);
INSERT INTO _trigsync_tables VALUES(2,'note','[{"name":"id","type":"TEXT","pk":1},{"name":"text","type":"TEXT","pk":0},{"name":"n","type":"INTEGER","pk":0},{"name":"tag","type":"TEXT","pk":0}]','edec06c09fb36c4c3dc112dab41fb6d646fcfe542a95468b905a23e4c2b76767',1,1);
CREATE TABLE _trigsync_changelog(
		seq INTEGER PRIMARY KEY,
		hlc INTEGER,
		epoch INTEGER,
		tbl INTEGER,
		op TEXT,
		origin INTEGER,
		origin_seq INTEGER, inc_hlc INTEGER, inc_node INTEGER, m0 INTEGER, v0, v1, v2, v3);
INSERT INTO _trigsync_changelog VALUES(1,117658124051677184,1,1,'I',NULL,NULL,117658124051677184,1,NULL,'b','from a',2,NULL);
INSERT INTO _trigsync_changelog VALUES(2,117658124053250048,2,0,'S',NULL,NULL,NULL,NULL,NULL,replace('ALTER TABLE note ADD COLUMN tag TEXT DEFAULT ''none'';\nALTER TABLE note RENAME COLUMN body TO text;\n','\n',char(10)),1,'5de7aec1110bef3a8dd66792f43233cf3ce49d1664c8a904d5729a1709da6546',NULL);
INSERT INTO _trigsync_changelog VALUES(3,117658124054102016,3,2,'U',NULL,NULL,0,0,8,'a',NULL,NULL,'red');
INSERT INTO _trigsync_changelog VALUES(4,117658124054429696,1,2,'I',2,2,117658124054429696,2,6,'c',X'00',2.5,NULL);
INSERT INTO _trigsync_changelog VALUES(5,117658124054495232,1,2,'U',2,3,117658124051677184,1,2,'b','old schema',NULL,NULL);
INSERT INTO _trigsync_changelog VALUES(6,2461366.6724129859358,NULL,2,'D',NULL,NULL,NULL,NULL,NULL,'c',NULL,NULL,NULL);
INSERT INTO _trigsync_changelog VALUES(7,2461366.6724129859358,NULL,2,'I',NULL,NULL,NULL,NULL,NULL,'d','unstamped',4,'blue');
CREATE TABLE _trigsync_rows(
		tbl TEXT NOT NULL,
		pk TEXT NOT NULL,
		inc_hlc INTEGER NOT NULL,
		inc_node INTEGER NOT NULL,
		tomb_hlc INTEGER,
		tomb_node INTEGER,
		PRIMARY KEY (tbl, pk)) WITHOUT ROWID;
INSERT INTO _trigsync_rows VALUES('note','["t:a"]',0,0,NULL,NULL);
INSERT INTO _trigsync_rows VALUES('note','["t:b"]',117658124051677184,1,NULL,NULL);
INSERT INTO _trigsync_rows VALUES('note','["t:c"]',117658124054429696,2,NULL,NULL);
CREATE TABLE _trigsync_cells(
		tbl TEXT NOT NULL,
		pk TEXT NOT NULL,
		col TEXT NOT NULL,
		hlc INTEGER NOT NULL,
		node INTEGER NOT NULL,
		PRIMARY KEY (tbl, pk, col)) WITHOUT ROWID;
INSERT INTO _trigsync_cells VALUES('note','["t:a"]','tag',117658124054102016,1);
INSERT INTO _trigsync_cells VALUES('note','["t:b"]','text',117658124054495232,2);
CREATE TABLE _trigsync_origins(
		node INTEGER PRIMARY KEY,
		seq INTEGER NOT NULL);
INSERT INTO _trigsync_origins VALUES(2,3);
CREATE TABLE _trigsync_peers(
		node INTEGER PRIMARY KEY,
		pulled_seq INTEGER NOT NULL DEFAULT 0, acked_seq INTEGER NOT NULL DEFAULT 0, url TEXT, last_success INTEGER, last_error TEXT, last_error_at INTEGER);
INSERT INTO _trigsync_peers VALUES(2,5,3,NULL,1795320496463,NULL,NULL);
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
INSERT INTO _trigsync_schema VALUES(1,117658124053250048,'b19d3d93b29d8475d3fca851fe01b2d7',replace('ALTER TABLE note ADD COLUMN tag TEXT DEFAULT ''none'';\nALTER TABLE note RENAME COLUMN body TO text;\n','\n',char(10)),'5de7aec1110bef3a8dd66792f43233cf3ce49d1664c8a904d5729a1709da6546');
CREATE INDEX _trigsync_conflicts_open ON _trigsync_conflicts(tbl, pk) WHERE resolved IS NULL;
CREATE TRIGGER "_trigsync_i_note" AFTER INSERT ON "note" FOR EACH ROW WHEN (SELECT applying FROM _trigsync_clock)=0 BEGIN
INSERT INTO _trigsync_changelog(hlc,tbl,op,v0,v1,v2,v3) VALUES(julianday('now'),2,'I',NEW."id",NEW."text",NEW."n",NEW."tag");
END;
CREATE TRIGGER "_trigsync_u_note" AFTER UPDATE OF "text","n","tag" ON "note" FOR EACH ROW WHEN (SELECT applying FROM _trigsync_clock)=0 AND (NOT ((OLD."id" IS NOT NEW."id" COLLATE BINARY)) AND ((OLD."text" IS NOT NEW."text" COLLATE BINARY) OR (OLD."n" IS NOT NEW."n" COLLATE BINARY) OR (OLD."tag" IS NOT NEW."tag" COLLATE BINARY))) BEGIN
INSERT INTO _trigsync_changelog(hlc,tbl,op,m0,v0,v1,v2,v3) VALUES(julianday('now'),2,'U',((OLD."text" IS NOT NEW."text" COLLATE BINARY)<<1)|((OLD."n" IS NOT NEW."n" COLLATE BINARY)<<2)|((OLD."tag" IS NOT NEW."tag" COLLATE BINARY)<<3),NEW."id",CASE WHEN OLD."text" IS NOT NEW."text" COLLATE BINARY THEN NEW."text" END,CASE WHEN OLD."n" IS NOT NEW."n" COLLATE BINARY THEN NEW."n" END,CASE WHEN OLD."tag" IS NOT NEW."tag" COLLATE BINARY THEN NEW."tag" END);
END;
CREATE TRIGGER "_trigsync_k_note" AFTER UPDATE OF "id" ON "note" FOR EACH ROW WHEN (SELECT applying FROM _trigsync_clock)=0 AND ((OLD."id" IS NOT NEW."id" COLLATE BINARY)) BEGIN
INSERT INTO _trigsync_changelog(hlc,tbl,op,v0) VALUES(julianday('now'),2,'D',OLD."id");
INSERT INTO _trigsync_changelog(hlc,tbl,op,v0,v1,v2,v3) VALUES(julianday('now'),2,'I',NEW."id",NEW."text",NEW."n",NEW."tag");
END;
CREATE TRIGGER "_trigsync_d_note" AFTER DELETE ON "note" FOR EACH ROW WHEN (SELECT applying FROM _trigsync_clock)=0 BEGIN
INSERT INTO _trigsync_changelog(hlc,tbl,op,v0) VALUES(julianday('now'),2,'D',OLD."id");
END;
COMMIT;

PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE note(id TEXT PRIMARY KEY, body TEXT, n INTEGER);
INSERT INTO note VALUES('a','edited',1);
INSERT INTO note VALUES('b',X'00',2.5);
INSERT INTO note VALUES('c','unstamped',3);
CREATE TABLE _trigsync_meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
INSERT INTO _trigsync_meta VALUES('format',1);
INSERT INTO _trigsync_meta VALUES('metadata_version',1);
INSERT INTO _trigsync_meta VALUES('node_id','4c1719ebe5c845dd1920bd6915519279');
CREATE TABLE _trigsync_clock(
		id INTEGER PRIMARY KEY CHECK (id = 0),
		hlc INTEGER NOT NULL DEFAULT 0,
		stamped_seq INTEGER NOT NULL DEFAULT 0,
		epoch INTEGER NOT NULL DEFAULT 0,
		applying INTEGER NOT NULL DEFAULT 0);
INSERT INTO _trigsync_clock VALUES(0,117656915281510400,3,1,0);
CREATE TABLE _trigsync_nodes(ref INTEGER PRIMARY KEY, node_id TEXT NOT NULL UNIQUE);
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
		origin_seq INTEGER, m0 INTEGER, v0, v1, v2);
INSERT INTO _trigsync_changelog VALUES(1,117656915281117184,1,1,'I',NULL,NULL,NULL,'a','first',1);
INSERT INTO _trigsync_changelog VALUES(2,117656915281444864,1,1,'U',NULL,NULL,2,'a','edited',NULL);
INSERT INTO _trigsync_changelog VALUES(3,117656915281510400,1,1,'I',NULL,NULL,NULL,'b',X'00',2.5);
INSERT INTO _trigsync_changelog VALUES(4,2461366.4589356132783,NULL,1,'I',NULL,NULL,NULL,'c','unstamped',3);
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

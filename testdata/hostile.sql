-- A schema of identifiers that break naive SQL generation. Every table has
-- a primary key, so trigsync replicates all of them.
CREATE TABLE "select" ("from" TEXT PRIMARY KEY, "where" INTEGER, "order" REAL);
CREATE TABLE "my table" ("my id" TEXT, "the ""value""" BLOB, [bracket col] TEXT, PRIMARY KEY ("my id"));
CREATE TABLE "we""ird'table" ("k""1" INTEGER, 'k''2' TEXT, "v;--" TEXT, PRIMARY KEY ("k""1", 'k''2')) WITHOUT ROWID;
CREATE TABLE "ünïcødé 表" ("ключ" TEXT PRIMARY KEY, "値" ANY) STRICT;
CREATE TABLE "a,b" ("x,y" TEXT PRIMARY KEY, "c" TEXT COLLATE NOCASE, "n" NUMERIC, "u");
CREATE TABLE "gen" (id TEXT PRIMARY KEY, a INTEGER, b INTEGER GENERATED ALWAYS AS (a * 2) VIRTUAL, c TEXT GENERATED ALWAYS AS (upper(id)) STORED);
CREATE TABLE "_trigsync" ("_trigsync_i_x" TEXT PRIMARY KEY, "END" TEXT, "BEGIN" TEXT);

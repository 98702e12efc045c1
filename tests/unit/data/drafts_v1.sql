-- drafts.sqlite3 as written by Smooch Desktop 40272eb (schema 1).
BEGIN TRANSACTION;
CREATE TABLE drafts ( profile TEXT NOT NULL, user_id TEXT NOT NULL, text TEXT NOT NULL, updated_at REAL NOT NULL, PRIMARY KEY (profile, user_id)) WITHOUT ROWID;
INSERT INTO "drafts" VALUES('Prod','alice','Half-written reply to Alice',1.79603399896251487728e+09);
INSERT INTO "drafts" VALUES('Sandbox','carol','Draft for Carol',1.79603399896254873279e+09);
COMMIT;
PRAGMA user_version=1;

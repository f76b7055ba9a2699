-- Bounded index keys: no btree entry may depend on the size of a value a client
-- controls. Postgres refuses index entries over ~2.7 KB (SQLSTATE 54000), which made
-- one capture with a long cipher list (a long ja4_r) unstorable and, retried, wedged
-- the writer.
--
-- * ja4_r is indexed by its md5 (16 bytes in the key whatever the text's length);
--   lookups compare md5(ja4_r) = md5($1) AND ja4_r = $1.
-- * The profile browser/version/platform indexes go: the profile table is small
--   and those columns are unbounded text.
-- * Visit keys are indexed as before, and bounded here (and by
--   model.Capture.Validate) to the capture ID alphabet's 64 bytes. The check is
--   added NOT VALID so the migration does not scan captures under its lock.
-- * The other indexed capture columns are fingerprints fpserver computes with a
--   fixed length (ja4, md5 and sha256 hex); model.Capture.Validate bounds them too.
DROP INDEX captures_ja4_r_idx;
CREATE INDEX captures_ja4_r_md5_idx ON captures (md5(ja4_r), created_at) WHERE ja4_r <> '';

DROP INDEX profiles_browser_version_idx;
DROP INDEX profiles_platform_idx;

ALTER TABLE captures ADD CONSTRAINT captures_visit_key_len_check
	CHECK (octet_length(visit_key) <= 64) NOT VALID;

-- Bounded index keys (same migration as Postgres's 0003). SQLite stores long index
-- keys on overflow pages, so no entry is unstorable here, but the two dialects keep
-- the same indexes where they can: the profile browser/version/platform indexes go
-- (small table, unbounded text). ja4_r keeps its plain index (SQLite has no md5;
-- the key size is not limited). Visit keys and the fixed-length fingerprint columns
-- are bounded by model.Capture.Validate.
DROP INDEX profiles_browser_version_idx;
DROP INDEX profiles_platform_idx;

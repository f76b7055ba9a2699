-- Sub-resource initiators: the fingerprint page also loads a stylesheet, a
-- script, an image, a font, an iframe, a manifest and a media file from the
-- server, and each request is captured under its destination. The CHECK
-- constraint is replaced on the partitioned table (its partitions follow);
-- every stored row passed the narrower check, so validating the wider one
-- only reads. captures_legacy, when still present, holds only the old
-- initiators and keeps its own constraint.
ALTER TABLE requests DROP CONSTRAINT requests_initiator_check;
ALTER TABLE requests ADD CONSTRAINT requests_initiator_check
	CHECK (initiator IN ('navigate', 'fetch', 'xhr', 'form', 'echo', 'api', 'websocket', 'iframe', 'style', 'script', 'image', 'font', 'media', 'manifest'));

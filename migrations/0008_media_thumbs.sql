-- A small JPEG preview of a stored photo (util/thumb.c), made on the
-- first timeline view and kept, so a timeline loads previews, not every
-- full-size photo. NULL: not made yet, or the item is not a photo libgd
-- can read. Owner: model/media.c.
ALTER TABLE media_files ADD COLUMN thumb bytea;

-- The directory of the repository a revision's bundle was built from ('.' for the repository's
-- root, '' when unknown), so that check run annotations name a hook script by its path in the
-- repository, where GitHub can place them.
ALTER TABLE revisions ADD COLUMN directory TEXT NOT NULL DEFAULT '';

-- The read audit also keeps the changes to an item's content: a replaced
-- file is an entry with action 'replace' (reads are 'read').
ALTER TABLE access_log ADD COLUMN action text NOT NULL DEFAULT 'read' CHECK (action IN ('read', 'replace'));

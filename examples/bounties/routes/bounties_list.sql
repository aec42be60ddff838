-- Open bounties (or another status), newest first, a page at a time.
-- Keyset pagination: pass the last id of a page as ?before= to get the next page
-- (before=0, the default, starts at the newest). Index: bounties_status_id.
-- @route   GET /api/bounties
-- @query   status text default open one-of open|in_progress|completed|cancelled
-- @query   limit int default 20 min 1 max 100
-- @query   before int default 0 min 0
-- @returns many
-- @cache   60s
-- @tags    bounties
SELECT id, user_id, title, amount_cents, location, status, created_at
FROM bounties
WHERE status = :status
  AND id < coalesce(nullif(:before::bigint, 0), 9223372036854775807)
ORDER BY id DESC
LIMIT :limit::int;

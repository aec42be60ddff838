-- One bounty, every column but the search document. Plain columns: keel writes the row as
-- the JSON object row_to_json would, and PostgreSQL skips building it (README, "Routes").
-- @route   GET /api/bounties/{id:int}
-- @returns one
-- @cache   180s
-- @tags    bounty:{id}
SELECT id, user_id, title, description, amount_cents, location, status, views, created_at
FROM bounties
WHERE id = :id::bigint
LIMIT 1;

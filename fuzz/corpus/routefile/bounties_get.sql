-- One bounty, every column but the search document.
-- @route   GET /api/bounties/{id:int}
-- @returns one
-- @cache   180s
-- @tags    bounty:{id}
SELECT row_to_json(b)
FROM (SELECT id, user_id, title, description, amount_cents, location, status, views, created_at
      FROM bounties
      WHERE id = :id::bigint) AS b;

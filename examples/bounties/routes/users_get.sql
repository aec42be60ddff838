-- A user's public profile (the balance is in /stats).
-- @route   GET /api/users/{id:int}
-- @returns one
-- @cache   300s
-- @tags    user:{id}
SELECT id, handle, display_name, bio, created_at
FROM users
WHERE id = :id::bigint
LIMIT 1;

-- A user's public profile (the balance is in /stats).
-- @route   GET /api/users/{id:int}
-- @returns one
-- @cache   300s
-- @tags    user:{id}
SELECT json_build_object(
           'id', u.id,
           'handle', u.handle,
           'display_name', u.display_name,
           'bio', u.bio,
           'created_at', u.created_at)
FROM users AS u
WHERE u.id = :id::bigint;
